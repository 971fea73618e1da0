import Router from '@koa/router';
import type { Context } from 'koa';
import { ConfigAuthorizer } from '../../auth/authorizer.ts';
import { identityOf } from '../../auth/identity.ts';
import type { Config } from '../../config/schema.ts';
import { keptHeaders, readRawBody } from '../../http/body.ts';
import { HttpError } from '../../http/errors.ts';
import type { Runtime } from '../../runtime.ts';
import type { Edge } from '../edge.ts';
import { registerAccountRoutes } from './account.ts';
import { QueueError, queueErrors } from './errors.ts';
import { findQueue, queueLimits, queueTopic } from './limits.ts';
import { KeyedLock, toQueueMessage, wireId, type MessageList } from './read.ts';

/**
 * The authenticated webhook queue, API-compatible with the original
 * "Webhook Queue": webhooks are POSTed to /q/:name, users register named
 * clients on a queue and collect what arrived since their last read. Unlike
 * the original, a queue is the durable topic `q/<name>` (so it survives a
 * restart and can also be streamed), and client cursors are stored too.
 */

const CLIENT_NAME_RE = /^[^\u0000-\u001f\u007f/]{1,128}$/;
/** Messages handed out by one read; the rest come with the next. */
const MAX_READ = 10_000;
/** Times a read starts over because a concurrent read of the same client (on another node) moved its cursor first. */
const MAX_READ_RACES = 10;

const ROLLED_OFF =
  "It's been too long since you've read from the queue. As such, at least one message has been discarded. Please refresh your local state";
const DROPPED =
  'One or more messages have been dropped from the queue due to size constraints. If this continues to happen, consider reconfiguring your max queue sizes. Please refresh your local state';

export function createQueueEdge(rt: Runtime): Edge {
  const log = rt.log.child({ module: 'queue' });
  const startedAt = String(Math.floor(Date.now() / 1000));
  const clients = rt.stores.queueClients;
  // Nodes sharing a store answer with one time; a time that changed from node to node would look like a restart.
  const serverTime = async () => (clients.startTime ? clients.startTime(startedAt) : startedAt);
  const locks = new KeyedLock();
  const router = new Router();
  const errors = queueErrors(log);
  const messages = rt.metrics.counter('hookah_queue_messages_total', 'POST /q/:name by outcome', ['outcome']);
  const refreshes = rt.metrics.counter('hookah_queue_refreshes_total', 'Reads answered with refresh: true, by cause', ['cause']);

  // Newest id per queue topic, for `current_message` without a store query per read.
  const latest = new Map<string, string>();
  let latestLoaded: Promise<void> | undefined;
  const unsubscribe = rt.bus.subscribe(['q/+'], (event) => void latest.set(event.topic, event.id), 'internal');
  const newest = async (topic: string) => {
    latestLoaded ??= rt.stores.events.topics().then((topics) => {
      for (const t of topics) if (t.lastId !== undefined && !latest.has(t.topic)) latest.set(t.topic, t.lastId);
    });
    await latestLoaded;
    return latest.get(topic);
  };

  const queueOf = (name: string) => {
    const queue = findQueue(rt.config, name);
    if (!queue) throw new QueueError(404, 'That queue does not exist');
    return queue;
  };
  const clientName = (raw: string | undefined) => {
    if (!raw || !CLIENT_NAME_RE.test(raw)) throw new QueueError(400, 'client names are 1-128 characters, without "/" or control characters');
    return raw;
  };
  const ok = (ctx: Context) => {
    ctx.status = 200;
    ctx.type = 'text/plain';
    ctx.body = '';
  };

  router.post('/q/:name', errors, async (ctx) => {
    let outcome = 'rejected';
    try {
      const queue = queueOf(ctx.params.name!);
      const topic = queueTopic(queue.name);
      const limits = queueLimits(rt.config, queue);
      // Allow-list, rate limit, and user credentials unless the queue is public.
      await rt.auth.authorize(ctx, 'publish', topic);
      let body: Buffer;
      try {
        body = await readRawBody(ctx, Math.max(rt.config.server.maxBodyBytes, limits.maxMessageSize));
      } catch (err) {
        // Too big to even check a signature: only an unsigned queue counts it as a dropped message.
        if (err instanceof HttpError && err.status === 413 && queue.verifier === undefined) await dropped(queue.name);
        throw err;
      }
      await rt.auth.verifyInbound?.(ctx, topic, body);
      if (body.length > limits.maxMessageSize) {
        await dropped(queue.name);
        outcome = 'too_large';
        throw new QueueError(413, `Message was too large: ${body.length} bytes, the limit for queue ${queue.name} is ${limits.maxMessageSize}`);
      }
      const event = await rt.bus.publish({
        topic,
        headers: keptHeaders(ctx.headers),
        contentType: ctx.get('content-type') || 'application/octet-stream',
        body,
        source: 'queue',
      });
      outcome = 'accepted';
      ctx.set('X-Hookah-Event-Id', event.id);
      ok(ctx);
    } finally {
      messages.inc({ outcome });
    }
  });

  async function dropped(queue: string): Promise<void> {
    const n = await clients.flagRefresh(queue, DROPPED);
    log.info({ queue, clients: n }, 'oversized message dropped; its readers will be told to refresh');
  }

  router.get('/listen/:client/:queue', errors, async (ctx) => {
    const client = clientName(ctx.params.client);
    const queue = queueOf(ctx.params.queue!);
    await rt.auth.authorize(ctx, 'subscribe', queueTopic(queue.name));
    const user = identityOf(ctx).name;
    await locks.run(`${user}\0${client}`, async () => {
      const existing = await clients.get(user, client);
      if (existing && existing.state !== 'disconnected') throw new QueueError(400, 'You are already listening from that client');
      if (!existing && (await clients.countForUser(user)) >= rt.config.queues.maxClientsPerUser) {
        throw new QueueError(400, `You already have ${rt.config.queues.maxClientsPerUser} clients; unlisten one first`);
      }
      // Start at "now": a new client receives what arrives from here on. '0' (before everything) on an empty store.
      const cursor = (await rt.stores.events.lastId()) ?? '0';
      await clients.put({ user, client, queue: queue.name, cursor, state: 'ok', reason: null, createdAt: Date.now() });
    });
    log.debug({ user, client, queue: queue.name }, 'client listening');
    ok(ctx);
  });

  /**
   * The caller's user name for /read and /unlisten. Only authentication here:
   * a client whose permission a reload withdrew must still be told it was
   * disconnected, and may still unlisten.
   */
  async function caller(ctx: Context): Promise<string> {
    const auth = rt.auth;
    if (auth instanceof ConfigAuthorizer) return (await auth.authenticate(ctx, { allowAnonymous: auth.can('', 'subscribe') })).name;
    await auth.authorize(ctx, 'subscribe');
    return identityOf(ctx).name;
  }

  router.get('/read/:client', errors, async (ctx) => {
    const name = clientName(ctx.params.client);
    const user = await caller(ctx);
    ctx.body = await locks.run(`${user}\0${name}`, () => read(ctx, user, name));
  });

  async function read(ctx: Context, user: string, name: string): Promise<MessageList> {
    for (let attempt = 1; ; attempt++) {
      const list = await readOnce(ctx, user, name);
      if (list) return list;
      if (attempt >= MAX_READ_RACES) throw new QueueError(409, 'That client is being read through another server at the same time; retry');
    }
  }

  /** One read, or undefined when a concurrent read of the same client moved its cursor first (start over). */
  async function readOnce(ctx: Context, user: string, name: string): Promise<MessageList | undefined> {
    const client = await clients.get(user, name);
    if (!client) throw new QueueError(404, 'You are not currently listening on that client');
    if (client.state === 'disconnected') throw new QueueError(410, `That client has been disconnected because: ${client.reason ?? 'unknown'}`);
    const queue = findQueue(rt.config, client.queue);
    if (!queue) return disconnect(user, name, 'That queue no longer exists');
    const topic = queueTopic(queue.name);
    try {
      await rt.auth.authorize(ctx, 'subscribe', topic);
    } catch (err) {
      if (err instanceof HttpError && err.status === 403) return disconnect(user, name, 'That queue is no longer available to you');
      throw err;
    }
    // Where a client that must refresh restarts: the newest message at the time of this read.
    const now = (await rt.stores.events.lastId()) ?? client.cursor;
    if (client.state === 'refresh') {
      await clients.advance(user, name, now);
      refreshes.inc({ cause: 'dropped' });
      throw new QueueError(410, client.reason ?? DROPPED, true);
    }
    const limit = Math.min(queueLimits(rt.config, queue).maxMessageCount, MAX_READ);
    const { events, gap } = await rt.stores.events.read({ patterns: [topic], afterId: client.cursor, limit });
    if (gap) {
      await clients.advance(user, name, now);
      refreshes.inc({ cause: 'rolled_off' });
      throw new QueueError(410, ROLLED_OFF, true);
    }
    const last = events.at(-1)?.id;
    if (last !== undefined && !(await clients.advanceFrom(user, name, client.cursor, last))) return undefined;
    const current = (await newest(topic)) ?? last;
    return {
      time: await serverTime(),
      current_message: wireId(current !== undefined && last !== undefined && rt.stores.events.compareIds(last, current) > 0 ? last : current),
      messages: events.map(toQueueMessage),
    };
  }

  async function disconnect(user: string, client: string, reason: string): Promise<never> {
    await clients.disconnect(user, client, reason);
    throw new QueueError(410, `That client has been disconnected because: ${reason}`);
  }

  router.get('/unlisten/:client', errors, async (ctx) => {
    const client = clientName(ctx.params.client);
    const user = await caller(ctx);
    const removed = await locks.run(`${user}\0${client}`, () => clients.remove(user, client));
    if (!removed) throw new QueueError(404, 'That client does not exist');
    ok(ctx);
  });

  router.get('/time', async (ctx) => {
    ctx.type = 'text/plain';
    ctx.body = await serverTime();
  });

  registerAccountRoutes(rt, router, errors, ok);

  // A reload that removes a queue, or a user's right to it, disconnects that user's clients.
  rt.reload?.onReload(async (next: Config) => {
    const auth = rt.auth instanceof ConfigAuthorizer ? rt.auth : undefined;
    let count = 0;
    for (const c of await clients.connected()) {
      let reason: string | undefined;
      if (!findQueue(next, c.queue)) reason = 'A reload has removed that queue';
      else if (auth && !auth.can(c.user, 'subscribe', queueTopic(c.queue))) reason = 'A reload has caused that queue to no longer be available to you';
      if (reason === undefined) continue;
      await clients.disconnect(c.user, c.client, reason);
      count++;
    }
    if (count > 0) log.info({ clients: count }, 'queue clients disconnected by the reload');
  });

  return { name: 'queue', router, close: () => unsubscribe() };
}

