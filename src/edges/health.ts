import Router from '@koa/router';
import type { Runtime } from '../runtime.ts';
import type { Edge } from './edge.ts';

export function createHealthEdge(rt: Runtime): Edge {
  const router = new Router();
  router.get('/healthz', async (ctx) => {
    // A cheap read proves the store answers, not only that the process is up.
    await rt.stores.events.lastId();
    ctx.body = { status: rt.shutdown.aborted ? 'shutting-down' : 'ok', storage: rt.stores.driver };
    if (rt.shutdown.aborted) ctx.status = 503;
  });
  router.get('/metrics', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin');
    ctx.type = rt.metrics.registry.contentType;
    ctx.body = await rt.metrics.registry.metrics();
  });
  return { name: 'health', router };
}
