import type Router from '@koa/router';
import type { Context } from 'koa';
import type { HubSubscription, SubscriptionStore } from '../../hub/ports.ts';
import { badRequest, HttpError } from '../../http/errors.ts';
import type { Runtime } from '../../runtime.ts';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** What an administrator sees of a subscription: everything but the secret. */
function view(sub: HubSubscription, now: number) {
  return {
    id: sub.id,
    topic: sub.topic,
    callback: sub.callback,
    has_secret: sub.secret !== undefined,
    lease_seconds: sub.leaseSeconds,
    created_at: new Date(sub.createdAt).toISOString(),
    verified_at: new Date(sub.verifiedAt).toISOString(),
    expires_at: new Date(sub.expiresAt).toISOString(),
    expired: sub.expiresAt <= now,
  };
}

function limitParam(ctx: Context): number {
  const raw = ctx.query.limit;
  if (raw === undefined) return DEFAULT_LIMIT;
  if (typeof raw !== 'string' || !/^\d{1,7}$/.test(raw) || Number(raw) === 0) throw badRequest(`limit must be a whole number from 1 to ${MAX_LIMIT}`);
  return Math.min(Number(raw), MAX_LIMIT);
}

function stringParam(ctx: Context, name: string): string | undefined {
  const raw = ctx.query[name];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string') throw badRequest(`${name} is given more than once`);
  return raw;
}

/** Admin views of the hub's subscriptions: JSON, behind the 'admin' permission. */
export function addHubAdminRoutes(router: Router, rt: Runtime, store: SubscriptionStore): void {
  router.get('/hub/subscriptions', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin');
    const limit = limitParam(ctx);
    const topic = stringParam(ctx, 'topic');
    const after = stringParam(ctx, 'after');
    const subs = await store.list({ limit, ...(topic !== undefined && { topic }), ...(after !== undefined && { afterId: after }) });
    const now = Date.now();
    ctx.body = {
      subscriptions: subs.map((s) => view(s, now)),
      ...(subs.length === limit && { next_after: subs[subs.length - 1]!.id }),
    };
  });

  router.get('/hub/subscriptions/:id', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin');
    const sub = await store.getById(ctx.params.id!);
    if (!sub) throw new HttpError(404, 'no such subscription');
    ctx.body = view(sub, Date.now());
  });

  router.delete('/hub/subscriptions/:id', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin');
    if (!(await store.removeById(ctx.params.id!))) throw new HttpError(404, 'no such subscription');
    ctx.status = 204;
  });

  router.get('/hub/topics', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin');
    const limit = limitParam(ctx);
    const counts = await store.topicCounts(Date.now(), limit);
    ctx.body = { topics: counts.map((c) => ({ topic: c.topic, subscriptions: c.active, expired: c.expired })) };
  });
}
