import type { ClientState, QueueClient, QueueClientStore } from '../../edges/queue/ports.ts';
import { guard, LuaScript, type RedisClient } from './connection.ts';

/**
 * Webhook-queue clients and their read cursors in Redis, shared by every
 * node, so a client may read a queue through any of them.
 *
 * Layout (Q = `<prefix>qc:`; a client's id is JSON [user, client]):
 *   Q c:<id>      hash: user, client, queue, cursor, state, reason (absent = null), created_at
 *   Q all         set: every client id
 *   Q u:<user>    set: ids of a user's clients
 *   Q q:<queue>   set: ids of a queue's clients
 *   Q time        string: the queue API's start time, shared by every node
 */

const LIB = `
local Q = ARGV[1]
local function unlink(id, h)
  redis.call('SREM', Q .. 'all', id)
  redis.call('SREM', Q .. 'u:' .. redis.call('HGET', h, 'user'), id)
  redis.call('SREM', Q .. 'q:' .. redis.call('HGET', h, 'queue'), id)
end
`;

/** ARGV: Q, id, user, client, queue, cursor, state, has reason, reason, created at. */
const PUT = new LuaScript(`${LIB}
local id = ARGV[2]
local h = Q .. 'c:' .. id
if redis.call('EXISTS', h) == 1 then unlink(id, h) end
redis.call('DEL', h)
redis.call('HSET', h, 'user', ARGV[3], 'client', ARGV[4], 'queue', ARGV[5], 'cursor', ARGV[6], 'state', ARGV[7], 'created_at', ARGV[10])
if ARGV[8] == '1' then redis.call('HSET', h, 'reason', ARGV[9]) end
redis.call('SADD', Q .. 'all', id)
redis.call('SADD', Q .. 'u:' .. ARGV[3], id)
redis.call('SADD', Q .. 'q:' .. ARGV[5], id)
return 1
`);

/** ARGV: Q, id. */
const REMOVE = new LuaScript(`${LIB}
local h = Q .. 'c:' .. ARGV[2]
if redis.call('EXISTS', h) == 0 then return 0 end
unlink(ARGV[2], h)
redis.call('DEL', h)
return 1
`);

/** ARGV: Q, id, cursor. */
const ADVANCE = new LuaScript(`${LIB}
local h = Q .. 'c:' .. ARGV[2]
local state = redis.call('HGET', h, 'state')
if not state or state == 'disconnected' then return 0 end
redis.call('HSET', h, 'cursor', ARGV[3], 'state', 'ok')
redis.call('HDEL', h, 'reason')
return 1
`);

/** ARGV: Q, id, expected cursor, new cursor. */
const ADVANCE_FROM = new LuaScript(`${LIB}
local h = Q .. 'c:' .. ARGV[2]
local v = redis.call('HMGET', h, 'state', 'cursor')
if v[1] ~= 'ok' or v[2] ~= ARGV[3] then return 0 end
redis.call('HSET', h, 'cursor', ARGV[4])
return 1
`);

/** ARGV: Q, candidate time. */
const START_TIME = new LuaScript(`${LIB}
local t = redis.call('GET', Q .. 'time')
if t then return t end
redis.call('SET', Q .. 'time', ARGV[2])
return ARGV[2]
`);

/** ARGV: Q, queue, reason. */
const FLAG = new LuaScript(`${LIB}
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', Q .. 'q:' .. ARGV[2])) do
  local h = Q .. 'c:' .. id
  if redis.call('HGET', h, 'state') == 'ok' then
    redis.call('HSET', h, 'state', 'refresh', 'reason', ARGV[3])
    n = n + 1
  end
end
return n
`);

/** ARGV: Q, id, reason. */
const DISCONNECT = new LuaScript(`${LIB}
local h = Q .. 'c:' .. ARGV[2]
if redis.call('EXISTS', h) == 0 then return 0 end
redis.call('HSET', h, 'state', 'disconnected', 'reason', ARGV[3])
return 1
`);

const FIELDS = ['user', 'client', 'queue', 'cursor', 'state', 'reason', 'created_at'] as const;

export class RedisQueueClients implements QueueClientStore {
  readonly #redis: RedisClient;
  readonly #q: string;

  constructor(redis: RedisClient, prefix: string) {
    this.#redis = redis;
    this.#q = `${prefix}qc:`;
  }

  #id(user: string, client: string): string {
    return JSON.stringify([user, client]);
  }

  async get(user: string, client: string): Promise<QueueClient | undefined> {
    const values = await guard(this.#redis.hmget(`${this.#q}c:${this.#id(user, client)}`, ...FIELDS));
    if (values[0] === null) return undefined;
    const [u, c, queue, cursor, state, reason, createdAt] = values as string[];
    return { user: u!, client: c!, queue: queue!, cursor: cursor!, state: state as ClientState, reason: reason ?? null, createdAt: Number(createdAt) };
  }

  async put(c: QueueClient): Promise<void> {
    await PUT.run(this.#redis, [], [this.#q, this.#id(c.user, c.client), c.user, c.client, c.queue, c.cursor, c.state, c.reason === null ? '0' : '1', c.reason ?? '', c.createdAt]);
  }

  async remove(user: string, client: string): Promise<boolean> {
    return Number(await REMOVE.run(this.#redis, [], [this.#q, this.#id(user, client)])) === 1;
  }

  async countForUser(user: string): Promise<number> {
    return guard(this.#redis.scard(`${this.#q}u:${user}`));
  }

  async advance(user: string, client: string, cursor: string): Promise<void> {
    await ADVANCE.run(this.#redis, [], [this.#q, this.#id(user, client), cursor]);
  }

  async advanceFrom(user: string, client: string, from: string, to: string): Promise<boolean> {
    return Number(await ADVANCE_FROM.run(this.#redis, [], [this.#q, this.#id(user, client), from, to])) === 1;
  }

  async startTime(candidate: string): Promise<string> {
    return String(await START_TIME.run(this.#redis, [], [this.#q, candidate]));
  }

  async flagRefresh(queue: string, reason: string): Promise<number> {
    return Number(await FLAG.run(this.#redis, [], [this.#q, queue, reason]));
  }

  async disconnect(user: string, client: string, reason: string): Promise<void> {
    await DISCONNECT.run(this.#redis, [], [this.#q, this.#id(user, client), reason]);
  }

  async connected(): Promise<Pick<QueueClient, 'user' | 'client' | 'queue'>[]> {
    const ids = await guard(this.#redis.smembers(`${this.#q}all`));
    if (ids.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const id of ids) pipe.hmget(`${this.#q}c:${id}`, 'user', 'client', 'queue', 'state');
    const replies = (await guard(pipe.exec())) ?? [];
    const out: Pick<QueueClient, 'user' | 'client' | 'queue'>[] = [];
    for (const [, values] of replies) {
      const [user, client, queue, state] = values as (string | null)[];
      if (user !== null && user !== undefined && state !== 'disconnected') out.push({ user, client: client!, queue: queue! });
    }
    return out;
  }
}
