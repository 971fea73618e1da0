import Router from '@koa/router';
import { openApiDocument } from '../openapi/document.ts';
import type { Runtime } from '../runtime.ts';
import type { Edge } from './edge.ts';

/**
 * `GET /openapi.json`: the OpenAPI 3.1 description of every endpoint.
 * Public like /healthz: it describes the open-source API, not this
 * server's data, and tools fetch it before they have credentials.
 */
export function createOpenApiEdge(rt: Runtime): Edge {
  const router = new Router();
  router.get('/openapi.json', (ctx) => {
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.body = openApiDocument(rt.publicUrl());
  });
  return { name: 'openapi', router };
}
