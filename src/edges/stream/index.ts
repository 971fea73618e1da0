import Router from '@koa/router';
import type { Context } from 'koa';
import { HttpError } from '../../http/errors.ts';
import type { Runtime } from '../../runtime.ts';
import type { Edge } from '../edge.ts';
import { serveStream } from './chunked.ts';
import { ConnectionRegistry } from './connections.ts';
import { CorsPolicy } from './cors.ts';
import type { StreamDeps } from './deps.ts';
import { HOOK_PREFIX, serveHook } from './hook.ts';
import { createStreamMetrics } from './metrics.ts';
import { NewestId } from './newest-id.ts';
import { servePoll } from './poll.ts';
import { serveSse } from './sse.ts';
import { getTopicPath, listTopics, postTopicPath } from './topics.ts';
import { WebSocketSubscribers } from './websocket.ts';

/** Longest Edge.close() waits for streaming clients to go before the server cuts them off anyway. */
const MAX_CLOSE_WAIT_MS = 5000;

/**
 * Topic streams: chunked `/stream`, SSE, long-poll `/poll`, WebSockets
 * (`/socket/<topic>`, `/ws`), the sockethook ingress `/hook/<topic>` and the
 * backlog API under `/topics`. See docs/streams.md.
 */
export function createStreamEdge(rt: Runtime): Edge {
  const log = rt.log.child({ module: 'streams' });
  const registry = new ConnectionRegistry(rt.config.streams.maxConnections);
  const metrics = createStreamMetrics(rt.metrics, () => registry.counts());
  registry.metrics = metrics;
  const cors = new CorsPolicy(rt.config.streams.corsOrigins);
  const deps: StreamDeps = { rt, registry, metrics, cors, log, newest: new NewestId(rt.bus) };
  const sockets = new WebSocketSubscribers(deps);
  const closeWait = Math.min(rt.config.server.shutdownTimeout, MAX_CLOSE_WAIT_MS);

  const router = new Router();
  const readOnly = cors.middleware('GET, OPTIONS');
  const anyMethod = cors.middleware('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
  const handle = (fn: (ctx: Context, deps: StreamDeps) => Promise<void>) => (ctx: Context) => fn(ctx, deps);
  const upgradeOnly = (ctx: Context) => {
    throw new HttpError(426, 'this endpoint is a WebSocket: connect with an Upgrade: websocket request', { upgrade: 'websocket' });
  };

  router.options('/stream', readOnly).get('/stream', readOnly, handle(serveStream));
  router.options('/sse', readOnly).get('/sse', readOnly, handle(serveSse));
  router.options('/poll', readOnly).get('/poll', readOnly, handle(servePoll));
  router.all(`${HOOK_PREFIX}*topic`, anyMethod, handle(serveHook));
  router.options('/topics', readOnly).get('/topics', readOnly, handle(listTopics));
  const topicsCors = cors.middleware('GET, POST, OPTIONS');
  router.options('/topics/*rest', topicsCors).get('/topics/*rest', topicsCors, handle(getTopicPath)).post('/topics/*rest', topicsCors, handle(postTopicPath));
  router.get('/ws', upgradeOnly).get('/socket/*topic', upgradeOnly);

  rt.shutdown.addEventListener('abort', () => void registry.closeAll('server is shutting down', closeWait), { once: true });

  return {
    name: 'streams',
    router,
    upgrade: (req, socket, head) => sockets.upgrade(req, socket, head),
    async close() {
      await registry.closeAll('server is shutting down', closeWait);
      sockets.close();
    },
  };
}
