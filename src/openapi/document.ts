import { z } from 'zod';
import { VERSION } from '../version.ts';
import type { Json, Paths } from './build.ts';
import { dispatchPaths } from './paths-dispatch.ts';
import { hubPaths } from './paths-hub.ts';
import { operationsPaths } from './paths-operations.ts';
import { queuePaths } from './paths-queue.ts';
import { streamsPaths } from './paths-streams.ts';
import { tunnelPaths } from './paths-tunnel.ts';
import { schemaRegistry } from './schemas.ts';

export interface OpenApiDocument {
  openapi: string;
  info: Json;
  servers: { url: string }[];
  paths: Paths;
  jsonSchemaDialect: string;
  tags: Json[];
  security: Json[];
  components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> };
}

const SCHEMA_PREFIX = '#/components/schemas/';

/** components.schemas, generated from the zod schemas (JSON Schema 2020-12, the dialect of OpenAPI 3.1). */
function componentSchemas(): Record<string, Json> {
  const { schemas } = z.toJSONSchema(schemaRegistry, { target: 'draft-2020-12', uri: (id) => `${SCHEMA_PREFIX}${id}`, unrepresentable: 'any' });
  const out: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    // Each is embedded in the document, not a standalone schema resource.
    const { $schema: _dialect, $id: _id, ...rest } = schema as Json;
    out[id] = rest;
  }
  return out;
}

function sortedPaths(...groups: Paths[]): Paths {
  const all: Paths = {};
  for (const group of groups) {
    for (const [path, item] of Object.entries(group)) {
      if (all[path]) throw new Error(`OpenAPI path ${path} is described twice`);
      all[path] = item;
    }
  }
  return Object.fromEntries(Object.entries(all).sort(([a], [b]) => a.localeCompare(b)));
}

let cached: Omit<OpenApiDocument, 'servers'> | undefined;

/** The OpenAPI 3.1 description of every HTTP endpoint; `serverUrl` is where this server is reached. */
export function openApiDocument(serverUrl: string): OpenApiDocument {
  cached ??= {
    openapi: '3.1.0',
    info: {
      title: 'Hookah',
      version: VERSION,
      summary: 'HTTP event engine: durable webhook dispatcher, WebSub hub, topic streams, webhook queues, tunnel and gateway.',
      description:
        'Every endpoint of one Hookah server. With no users configured the server is open; otherwise requests authenticate with Basic (user:password), a Bearer token, or `?access_token=` on GET and WebSocket requests when `auth.queryToken` is on, and each operation needs the permission named in its description (`x-hookah-permission`). JSON errors are `{"error": "<reason>"}`.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    tags: [
      { name: 'dispatch', description: 'Durable webhook delivery and the delivery queue (README.md#dispatcher-post-dispatch).' },
      { name: 'websub', description: 'W3C WebSub hub (README.md#websub-hub-post-hub).' },
      { name: 'streams', description: 'Topic streams, long-poll, WebSockets, /hook ingress and the backlog (docs/streams.md).' },
      { name: 'queues', description: 'Authenticated webhook queues and account endpoints (docs/queue.md).' },
      { name: 'tunnel', description: 'Tunnel to localhost (docs/tunnel.md).' },
      { name: 'gateway', description: 'WebSocket gateway (docs/tunnel.md).' },
      { name: 'operations', description: 'Health, metrics, this document and the dashboard (docs/operations.md).' },
    ],
    security: [{}, { basicAuth: [] }, { bearerAuth: [] }, { accessToken: [] }],
    paths: sortedPaths(operationsPaths, dispatchPaths, hubPaths, streamsPaths, queuePaths, tunnelPaths),
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        basicAuth: { type: 'http', scheme: 'basic', description: 'A user from auth.users (password hashed with `hookah hash-password`).' },
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token of auth.users[].tokens; also the channel/session token where one is needed.' },
        accessToken: { type: 'apiKey', in: 'query', name: 'access_token', description: 'A Bearer token in the query string (GET and WebSocket only; auth.queryToken).' },
        channelTokenHeader: { type: 'apiKey', in: 'header', name: 'X-Hookah-Channel-Token', description: 'A tunnel channel or gateway session token.' },
        channelTokenQuery: { type: 'apiKey', in: 'query', name: 'token', description: 'A tunnel channel or gateway session token.' },
      },
    },
  };
  const { openapi, info, ...rest } = cached;
  return { openapi, info, servers: [{ url: serverUrl }], ...rest };
}
