import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { keptHeaders } from '../../http/body.ts';
import { HttpError } from '../../http/errors.ts';
import type { Logger } from '../../log.ts';
import type { Runtime } from '../../runtime.ts';
import type { TopicFetcher } from './fetcher.ts';
import { parseHubRequest, readHubInput, type FatPing, type HubMode, type PublishRequest, type SubscriptionRequest } from './params.ts';
import type { SubscriptionManager } from './subscriptions.ts';

export interface HubRouteDeps {
  rt: Runtime;
  manager: SubscriptionManager;
  fetcher: TopicFetcher;
  log: Logger;
}

const busy = () => new HttpError(503, 'the hub has too much work waiting; try again later', { 'retry-after': '5' });

/**
 * WebSub (and PuSH 0.3/0.4) clients expect plain-text errors from a hub, not
 * Hookah's JSON ones; server errors still go to the common handler.
 */
async function plainTextErrors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    const e = err as Error & { status?: number; headers?: Record<string, string> };
    const status = e instanceof HttpError ? e.status : e.status;
    if (status === undefined || (status >= 500 && status !== 503)) throw err;
    ctx.status = status;
    for (const [k, v] of Object.entries(e.headers ?? {})) ctx.set(k, v);
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = e.message;
  }
}

/** POST /hub multiplexes on hub.mode; /subscribe and /publish are the same handler with a default mode. */
export function addHubRoutes(router: Router, d: HubRouteDeps): void {
  const handler = (defaultMode: HubMode | undefined) => async (ctx: Context) => {
    const input = await readHubInput(ctx, d.rt.config.server.maxBodyBytes, defaultMode);
    if (input.kind === 'fat') return fatPing(ctx, d, input.ping);
    const req = parseHubRequest(input.params, d.rt.config.dispatcher.allowNetworks);
    if (req.mode === 'publish') return publish(ctx, d, req, input.raw);
    return subscription(ctx, d, req);
  };
  router.post('/hub', plainTextErrors, handler(undefined));
  router.post('/subscribe', plainTextErrors, handler('subscribe'));
  router.post('/publish', plainTextErrors, handler('publish'));
}

async function subscription(ctx: Context, d: HubRouteDeps, req: SubscriptionRequest): Promise<void> {
  await d.rt.auth.authorize(ctx, 'subscribe', req.topic);
  const run = d.manager.submit(req);
  if (!run) throw busy();
  if (req.verify === 'sync') {
    const result = await run;
    if (result.outcome === 'verified') {
      ctx.status = 204;
      return;
    }
    ctx.status = result.outcome === 'denied' ? 403 : 409;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = result.outcome === 'denied' ? `subscription denied: ${result.reason}` : `verification of intent failed: ${result.reason}`;
    return;
  }
  run.catch((err: Error) => d.log.error({ err, topic: req.topic, callback: req.callback }, 'subscription request failed'));
  ctx.status = 202;
  ctx.type = 'text/plain; charset=utf-8';
  ctx.body = `${req.mode} request accepted; verification of intent follows`;
}

async function publish(ctx: Context, d: HubRouteDeps, req: PublishRequest, raw: Buffer): Promise<void> {
  for (const topic of req.topics) {
    await d.rt.auth.authorize(ctx, 'publish', topic);
    // A thin ping makes the hub fetch and redistribute: it must pass the topic's inbound verifier like any other publish.
    await d.rt.auth.verifyInbound?.(ctx, topic, raw);
  }
  for (const topic of req.topics) if (!d.fetcher.request(topic)) throw busy();
  // PuSH 0.3 answers a publish ping with 204; fetching and distribution follow asynchronously.
  ctx.status = 204;
}

async function fatPing(ctx: Context, d: HubRouteDeps, ping: FatPing): Promise<void> {
  await d.rt.auth.authorize(ctx, 'publish', ping.topic);
  await d.rt.auth.verifyInbound?.(ctx, ping.topic, ping.body);
  const event = await d.rt.bus.publish({
    topic: ping.topic,
    headers: keptHeaders(ctx.req.headers),
    contentType: ping.contentType,
    body: ping.body,
    source: 'hub',
  });
  ctx.status = 202;
  ctx.body = { id: event.id, topic: event.topic };
}
