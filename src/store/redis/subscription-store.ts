import { randomBytes } from 'node:crypto';
import type {
  HubSubscription,
  NewHubSubscription,
  SubscriptionStore,
  TopicFetchState,
  TopicSubscriptionCount,
} from '../../hub/ports.ts';
import { guard, LuaScript, type RedisClient } from './connection.ts';

/**
 * WebSub subscriptions in Redis, shared by every node.
 *
 * Layout (W = `<prefix>ws:`):
 *   W s:<id>        hash: the subscription
 *   W byKey         hash: JSON [topic, callback] -> id ((topic, callback) is unique)
 *   W t:<topic>     zset (lex): ids of the topic, for paging in id order
 *   W te:<topic>    zset (score expires_at): ids of the topic, for the per-publish "anyone live?" check
 *   W exp           zset (score expires_at): every id, for the sweep and countActive
 *   W all           zset (lex): every id, for listing
 *   W topics        zset (lex): topics with at least one subscription
 *   W f:<topic>     hash: fetch state; W ftopics: set of topics that have one
 */

const LIB = `
local W = ARGV[1]
local function drop(id)
  local h = W .. 's:' .. id
  local topic = redis.call('HGET', h, 'topic')
  if not topic then return 0 end
  redis.call('HDEL', W .. 'byKey', redis.call('HGET', h, 'key'))
  redis.call('DEL', h)
  redis.call('ZREM', W .. 't:' .. topic, id)
  redis.call('ZREM', W .. 'te:' .. topic, id)
  redis.call('ZREM', W .. 'exp', id)
  redis.call('ZREM', W .. 'all', id)
  if redis.call('ZCARD', W .. 't:' .. topic) == 0 then redis.call('ZREM', W .. 'topics', topic) end
  return 1
end
`;

/** ARGV: W, new id, topic, callback, has secret ('1'/'0'), secret, lease seconds, now, expires at, key field. */
const UPSERT = new LuaScript(`${LIB}
local field = ARGV[10]
local id = redis.call('HGET', W .. 'byKey', field)
local created = ARGV[8]
if id then
  created = redis.call('HGET', W .. 's:' .. id, 'created_at') or created
else
  id = ARGV[2]
  redis.call('HSET', W .. 'byKey', field, id)
end
local h = W .. 's:' .. id
redis.call('HSET', h, 'id', id, 'topic', ARGV[3], 'callback', ARGV[4], 'lease_seconds', ARGV[7],
  'created_at', created, 'verified_at', ARGV[8], 'expires_at', ARGV[9], 'key', field)
if ARGV[5] == '1' then redis.call('HSET', h, 'secret', ARGV[6]) else redis.call('HDEL', h, 'secret') end
redis.call('ZADD', W .. 't:' .. ARGV[3], 0, id)
redis.call('ZADD', W .. 'te:' .. ARGV[3], ARGV[9], id)
redis.call('ZADD', W .. 'exp', ARGV[9], id)
redis.call('ZADD', W .. 'all', 0, id)
redis.call('ZADD', W .. 'topics', 0, ARGV[3])
return redis.call('HGETALL', h)
`);

/** ARGV: W, ids… */
const REMOVE = new LuaScript(`${LIB}
local n = 0
for i = 2, #ARGV do n = n + drop(ARGV[i]) end
return n
`);

/** ARGV: W, now, max. Removes expired subscriptions, then fetch state nobody can receive any more. */
const SWEEP = new LuaScript(`${LIB}
local ids = redis.call('ZRANGEBYSCORE', W .. 'exp', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, id in ipairs(ids) do n = n + drop(id) end
return n
`);

const FIELDS = ['id', 'topic', 'callback', 'secret', 'lease_seconds', 'created_at', 'verified_at', 'expires_at'] as const;
const SWEEP_BATCH = 1000;

function fromPairs(reply: string[]): HubSubscription {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) h[reply[i]!] = reply[i + 1]!;
  return fromHash(h)!;
}

function fromHash(h: Record<string, string | null>): HubSubscription | undefined {
  if (!h.id) return undefined;
  const sub: HubSubscription = {
    id: h.id,
    topic: h.topic!,
    callback: h.callback!,
    leaseSeconds: Number(h.lease_seconds),
    createdAt: Number(h.created_at),
    verifiedAt: Number(h.verified_at),
    expiresAt: Number(h.expires_at),
  };
  if (h.secret !== null && h.secret !== undefined) sub.secret = h.secret;
  return sub;
}

export class RedisSubscriptionStore implements SubscriptionStore {
  readonly #redis: RedisClient;
  readonly #w: string;

  constructor(redis: RedisClient, prefix: string) {
    this.#redis = redis;
    this.#w = `${prefix}ws:`;
  }

  async upsert(input: NewHubSubscription, now = Date.now()): Promise<HubSubscription> {
    const reply = (await UPSERT.run(this.#redis, [], [
      this.#w,
      `sub_${randomBytes(12).toString('hex')}`,
      input.topic,
      input.callback,
      input.secret === undefined ? '0' : '1',
      input.secret ?? '',
      input.leaseSeconds,
      now,
      now + input.leaseSeconds * 1000,
      JSON.stringify([input.topic, input.callback]),
    ])) as string[];
    return fromPairs(reply);
  }

  async get(topic: string, callback: string): Promise<HubSubscription | undefined> {
    const id = await guard(this.#redis.hget(`${this.#w}byKey`, JSON.stringify([topic, callback])));
    return id === null ? undefined : this.getById(id);
  }

  async getById(id: string): Promise<HubSubscription | undefined> {
    return (await this.#many([id]))[0];
  }

  async remove(topic: string, callback: string): Promise<boolean> {
    const id = await guard(this.#redis.hget(`${this.#w}byKey`, JSON.stringify([topic, callback])));
    return id !== null && this.removeById(id);
  }

  async removeById(id: string): Promise<boolean> {
    return Number(await REMOVE.run(this.#redis, [], [this.#w, id])) > 0;
  }

  async active(topic: string, now: number, limit: number, afterId?: string): Promise<HubSubscription[]> {
    const out: HubSubscription[] = [];
    let from = afterId === undefined ? '-' : `(${afterId}`;
    const page = Math.max(limit, 50);
    while (out.length < limit) {
      const ids = await guard(this.#redis.zrangebylex(`${this.#w}t:${topic}`, from, '+', 'LIMIT', 0, page));
      if (ids.length === 0) break;
      for (const sub of await this.#many(ids)) if (sub.expiresAt > now && out.length < limit) out.push(sub);
      if (ids.length < page) break;
      from = `(${ids[ids.length - 1]}`;
    }
    return out;
  }

  async hasActive(topic: string, now: number): Promise<boolean> {
    return (await guard(this.#redis.zcount(`${this.#w}te:${topic}`, `(${now}`, '+inf'))) > 0;
  }

  async list(filter: { topic?: string; limit: number; afterId?: string }): Promise<HubSubscription[]> {
    const index = filter.topic === undefined ? `${this.#w}all` : `${this.#w}t:${filter.topic}`;
    const from = filter.afterId === undefined ? '-' : `(${filter.afterId}`;
    const ids = await guard(this.#redis.zrangebylex(index, from, '+', 'LIMIT', 0, filter.limit));
    return this.#many(ids);
  }

  async topicCounts(now: number, limit: number): Promise<TopicSubscriptionCount[]> {
    const topics = await guard(this.#redis.zrangebylex(`${this.#w}topics`, '-', '+', 'LIMIT', 0, limit));
    if (topics.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const topic of topics) {
      pipe.zcount(`${this.#w}te:${topic}`, `(${now}`, '+inf');
      pipe.zcount(`${this.#w}te:${topic}`, '-inf', now);
    }
    const replies = (await guard(pipe.exec())) ?? [];
    return topics.map((topic, i) => ({ topic, active: Number(replies[2 * i]?.[1] ?? 0), expired: Number(replies[2 * i + 1]?.[1] ?? 0) }));
  }

  async countActive(now: number): Promise<number> {
    return guard(this.#redis.zcount(`${this.#w}exp`, `(${now}`, '+inf'));
  }

  async sweepExpired(now: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const n = Number(await SWEEP.run(this.#redis, [], [this.#w, now, SWEEP_BATCH]));
      removed += n;
      if (n < SWEEP_BATCH) break;
    }
    // Fetch state is only worth keeping while someone can receive the topic.
    const withState = await guard(this.#redis.smembers(`${this.#w}ftopics`));
    if (withState.length > 0) {
      const pipe = this.#redis.pipeline();
      for (const topic of withState) pipe.exists(`${this.#w}t:${topic}`);
      const exists = (await guard(pipe.exec())) ?? [];
      const orphans = withState.filter((_, i) => Number(exists[i]?.[1] ?? 0) === 0);
      if (orphans.length > 0) {
        const del = this.#redis.multi();
        for (const topic of orphans) del.del(`${this.#w}f:${topic}`).srem(`${this.#w}ftopics`, topic);
        await guard(del.exec());
      }
    }
    return removed;
  }

  async getFetchState(topic: string): Promise<TopicFetchState | undefined> {
    const h = await guard(this.#redis.hgetall(`${this.#w}f:${topic}`));
    if (!h.fetched_at) return undefined;
    const state: TopicFetchState = { fetchedAt: Number(h.fetched_at) };
    if (h.etag !== undefined) state.etag = h.etag;
    if (h.last_modified !== undefined) state.lastModified = h.last_modified;
    if (h.content_hash !== undefined) state.contentHash = h.content_hash;
    return state;
  }

  async setFetchState(topic: string, state: TopicFetchState): Promise<void> {
    const key = `${this.#w}f:${topic}`;
    const fields: string[] = ['fetched_at', String(state.fetchedAt)];
    if (state.etag !== undefined) fields.push('etag', state.etag);
    if (state.lastModified !== undefined) fields.push('last_modified', state.lastModified);
    if (state.contentHash !== undefined) fields.push('content_hash', state.contentHash);
    // Replaces the whole state, as the SQLite upsert does: absent fields must not linger.
    await guard(this.#redis.multi().del(key).hset(key, ...fields).sadd(`${this.#w}ftopics`, topic).exec());
  }

  async #many(ids: string[]): Promise<HubSubscription[]> {
    if (ids.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const id of ids) pipe.hmget(`${this.#w}s:${id}`, ...FIELDS);
    const replies = (await guard(pipe.exec())) ?? [];
    const out: HubSubscription[] = [];
    for (const [, values] of replies) {
      const v = values as (string | null)[];
      const h = Object.fromEntries(FIELDS.map((f, i) => [f, v[i] ?? null]));
      const sub = fromHash(h);
      if (sub) out.push(sub);
    }
    return out;
  }
}
