import { randomUUID } from 'node:crypto';
import {
  queueFull,
  type ChannelKind,
  type ChannelPage,
  type ChannelRecord,
  type ChannelStore,
  type ChannelSummary,
  type EnqueueResult,
  type ForwardedRequest,
  type HeaderMap,
  type QueueBounds,
  type QueuedRequest,
  type QueueRefusal,
} from '../../edges/tunnel/ports.ts';
import { guard, LuaScript, type RedisClient } from './connection.ts';

/**
 * Tunnel channels, gateway sessions and the tunnel's offline queue in Redis,
 * shared by every node: a client may connect to any node and replay a queue
 * filled through the others.
 *
 * Layout (C = `<prefix>tc:`):
 *   C c:<id>     hash: kind, th (token hash), ca (created at), lu (last used at), cur (cursor, optional),
 *                qn / qb (queued requests / their body bytes)
 *   C k:<kind>   zset (score last used at): the channels of a kind, for listing, counting and expiry
 *   C q:<id>     stream: the channel's offline queue, entry ids `<seq>-0`; fields a (received at),
 *                n (body bytes), m (method, path, query, headers as JSON), b (body)
 *   C qseq       INCR: queue entry ids, increasing in arrival order over all channels
 *   C qbytes     queued body bytes over all channels (tunnel.queue.maxTotalBytes)
 *   C tok:<uuid> short-lived result of an enqueue, so a re-sent script does not queue twice
 *
 * Every change is one Lua script, so the queue bounds hold however many
 * nodes enqueue at once.
 */

/** How long a finished enqueue remembers its token (longer than any reconnect that re-sends it). */
const TOKEN_TTL_MS = 120_000;
/** Most channels one expiry pass removes (as in SQLite). */
const EXPIRE_BATCH = 1000;

const LIB = `
local C = ARGV[1]
local function drop(id)
  local h = C .. 'c:' .. id
  local kind = redis.call('HGET', h, 'kind')
  if not kind then return 0 end
  local qb = tonumber(redis.call('HGET', h, 'qb') or '0')
  if qb ~= 0 then redis.call('DECRBY', C .. 'qbytes', qb) end
  redis.call('DEL', h, C .. 'q:' .. id)
  redis.call('ZREM', C .. 'k:' .. kind, id)
  return 1
end
`;

/** ARGV: C, id, kind, token hash, now, has cursor ('1'/'0'), cursor. Returns the stored hash. */
const CREATE = new LuaScript(`${LIB}
local h = C .. 'c:' .. ARGV[2]
if redis.call('EXISTS', h) == 1 then
  -- The same create re-sent after a lost reply is answered again; anything else is a conflict.
  if redis.call('HGET', h, 'th') ~= ARGV[4] then return redis.error_reply('channel ' .. ARGV[2] .. ' already exists') end
  return redis.call('HGETALL', h)
end
redis.call('HSET', h, 'kind', ARGV[3], 'th', ARGV[4], 'ca', ARGV[5], 'lu', ARGV[5], 'qn', 0, 'qb', 0)
if ARGV[6] == '1' then redis.call('HSET', h, 'cur', ARGV[7]) end
redis.call('ZADD', C .. 'k:' .. ARGV[3], ARGV[5], ARGV[2])
return redis.call('HGETALL', h)
`);

/** ARGV: C, id, now. Last use only moves forward. */
const TOUCH = new LuaScript(`${LIB}
local h = C .. 'c:' .. ARGV[2]
local lu = redis.call('HGET', h, 'lu')
if not lu or tonumber(lu) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', h, 'lu', ARGV[3])
redis.call('ZADD', C .. 'k:' .. redis.call('HGET', h, 'kind'), ARGV[3], ARGV[2])
return 1
`);

/** ARGV: C, id, cursor. */
const SET_CURSOR = new LuaScript(`${LIB}
local h = C .. 'c:' .. ARGV[2]
if redis.call('EXISTS', h) == 0 then return 0 end
redis.call('HSET', h, 'cur', ARGV[3])
return 1
`);

/** ARGV: C, id. */
const REMOVE = new LuaScript(`${LIB}
return drop(ARGV[2])
`);

/** ARGV: C, before, ids… Removes those still unused since before `before` (a touch may have come in meanwhile). */
const EXPIRE = new LuaScript(`${LIB}
local out = {}
for i = 3, #ARGV do
  local lu = redis.call('HGET', C .. 'c:' .. ARGV[i], 'lu')
  if lu and tonumber(lu) < tonumber(ARGV[2]) and drop(ARGV[i]) == 1 then out[#out + 1] = ARGV[i] end
end
return out
`);

/**
 * ARGV: C, id, token, received at, meta, body, max count, max bytes, max total bytes.
 * Returns {'id', <id>} or {'full', <which bound>}.
 */
const ENQUEUE = new LuaScript(`${LIB}
local tok = C .. 'tok:' .. ARGV[3]
local done = redis.call('GET', tok)
if done then return {'id', done} end
local h = C .. 'c:' .. ARGV[2]
local qn = redis.call('HGET', h, 'qn')
if not qn then return {'full', 'missing'} end
local size = string.len(ARGV[6])
if tonumber(qn) + 1 > tonumber(ARGV[7]) then return {'full', 'count'} end
if tonumber(redis.call('HGET', h, 'qb')) + size > tonumber(ARGV[8]) then return {'full', 'bytes'} end
if tonumber(redis.call('GET', C .. 'qbytes') or '0') + size > tonumber(ARGV[9]) then return {'full', 'total'} end
local id = string.format('%.0f', redis.call('INCR', C .. 'qseq'))
redis.call('XADD', C .. 'q:' .. ARGV[2], id .. '-0', 'a', ARGV[4], 'n', size, 'm', ARGV[5], 'b', ARGV[6])
redis.call('HINCRBY', h, 'qn', 1)
redis.call('HINCRBY', h, 'qb', size)
redis.call('INCRBY', C .. 'qbytes', size)
redis.call('SET', tok, id, 'PX', ${TOKEN_TTL_MS})
return {'id', id}
`);

/** ARGV: C, channel, entry id. */
const ACK = new LuaScript(`${LIB}
local q = C .. 'q:' .. ARGV[2]
local entry = redis.call('XRANGE', q, ARGV[3] .. '-0', ARGV[3] .. '-0')[1]
if not entry then return 0 end
local n = 0
local f = entry[2]
for i = 1, #f, 2 do if f[i] == 'n' then n = tonumber(f[i + 1]) end end
redis.call('XDEL', q, entry[1])
local h = C .. 'c:' .. ARGV[2]
if redis.call('EXISTS', h) == 1 then
  redis.call('HINCRBY', h, 'qn', -1)
  redis.call('HINCRBY', h, 'qb', -n)
  redis.call('DECRBY', C .. 'qbytes', n)
end
return 1
`);

interface QueueMeta {
  method: string;
  path: string;
  query: string;
  headers: HeaderMap;
}

function fieldsOf(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

function toChannel(id: string, h: Record<string, string>): ChannelRecord {
  const record: ChannelRecord = {
    id,
    kind: h.kind as ChannelKind,
    tokenHash: h.th!,
    createdAt: Number(h.ca),
    lastUsedAt: Number(h.lu),
  };
  if (h.cur !== undefined) record.cursor = h.cur;
  return record;
}

type StreamEntry = [id: Buffer, fields: Buffer[]];

function toQueued(channel: string, entry: StreamEntry): QueuedRequest {
  let at = 0;
  let meta: QueueMeta = { method: 'GET', path: '', query: '', headers: {} };
  let body: Buffer = Buffer.alloc(0);
  const f = entry[1];
  for (let i = 0; i + 1 < f.length; i += 2) {
    const name = f[i]!.toString();
    if (name === 'a') at = Number(f[i + 1]!.toString());
    else if (name === 'm') meta = JSON.parse(f[i + 1]!.toString('utf8')) as QueueMeta;
    else if (name === 'b') body = f[i + 1]!;
  }
  const id = entry[0].toString();
  return { id: id.slice(0, id.indexOf('-')), channel, receivedAt: at, request: { ...meta, body } };
}

export class RedisChannelStore implements ChannelStore {
  readonly #redis: RedisClient;
  readonly #c: string;

  constructor(redis: RedisClient, prefix: string) {
    this.#redis = redis;
    this.#c = `${prefix}tc:`;
  }

  async create(record: { id: string; kind: ChannelKind; tokenHash: string; cursor?: string }, now = Date.now()): Promise<ChannelRecord> {
    const flat = (await CREATE.run(this.#redis, [], [
      this.#c,
      record.id,
      record.kind,
      record.tokenHash,
      now,
      record.cursor === undefined ? '0' : '1',
      record.cursor ?? '',
    ])) as string[];
    return toChannel(record.id, fieldsOf(flat));
  }

  async get(id: string): Promise<ChannelRecord | undefined> {
    const h = await guard(this.#redis.hgetall(`${this.#c}c:${id}`));
    return h.kind === undefined ? undefined : toChannel(id, h);
  }

  async touch(id: string, now = Date.now()): Promise<void> {
    await TOUCH.run(this.#redis, [], [this.#c, id, now]);
  }

  async setCursor(id: string, cursor: string): Promise<void> {
    await SET_CURSOR.run(this.#redis, [], [this.#c, id, cursor]);
  }

  async remove(id: string): Promise<boolean> {
    return Number(await REMOVE.run(this.#redis, [], [this.#c, id])) === 1;
  }

  async count(): Promise<number> {
    const pipe = this.#redis.pipeline().zcard(`${this.#c}k:tunnel`).zcard(`${this.#c}k:gateway`);
    const replies = (await guard(pipe.exec())) ?? [];
    return replies.reduce((n, [err, v]) => {
      if (err) throw err;
      return n + Number(v);
    }, 0);
  }

  async list(kind: ChannelKind, limit: number): Promise<ChannelPage> {
    const key = `${this.#c}k:${kind}`;
    const [ids, total] = await guard(Promise.all([this.#redis.zrevrange(key, 0, Math.max(0, limit) - 1), this.#redis.zcard(key)]));
    if (ids.length === 0 || limit <= 0) return { channels: [], total };
    const pipe = this.#redis.pipeline();
    for (const id of ids) pipe.hgetall(`${this.#c}c:${id}`);
    const replies = (await guard(pipe.exec())) ?? [];
    const channels: ChannelSummary[] = [];
    ids.forEach((id, i) => {
      const h = (replies[i]?.[1] ?? {}) as Record<string, string>;
      // Removed between the two reads.
      if (h.kind === undefined) return;
      channels.push({ ...toChannel(id, h), queued: Number(h.qn ?? 0), queuedBytes: Number(h.qb ?? 0) });
    });
    // Same order as SQLite: most recent use first, ties by id.
    channels.sort((a, b) => b.lastUsedAt - a.lastUsedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { channels, total };
  }

  async expire(kind: ChannelKind, before: number, keep: ReadonlySet<string>): Promise<string[]> {
    const stale = await guard(this.#redis.zrangebyscore(`${this.#c}k:${kind}`, '-inf', `(${before}`, 'LIMIT', 0, EXPIRE_BATCH));
    const ids = stale.filter((id) => !keep.has(id));
    if (ids.length === 0) return [];
    return (await EXPIRE.run(this.#redis, [], [this.#c, before, ...ids])) as string[];
  }

  async enqueue(channel: string, request: ForwardedRequest, bounds: QueueBounds, now = Date.now()): Promise<EnqueueResult> {
    const meta: QueueMeta = { method: request.method, path: request.path, query: request.query, headers: request.headers };
    const [kind, value] = (await ENQUEUE.run(this.#redis, [], [
      this.#c,
      channel,
      randomUUID(),
      now,
      JSON.stringify(meta),
      request.body,
      bounds.maxCount,
      bounds.maxBytes,
      bounds.maxTotalBytes,
    ])) as [string, string];
    return kind === 'id' ? { id: value } : queueFull(value as QueueRefusal, bounds);
  }

  async peek(channel: string): Promise<QueuedRequest | undefined> {
    const entries = (await guard(this.#redis.xrangeBuffer(`${this.#c}q:${channel}`, '-', '+', 'COUNT', 1))) as StreamEntry[];
    return entries[0] ? toQueued(channel, entries[0]) : undefined;
  }

  async ack(channel: string, id: string): Promise<boolean> {
    if (!/^\d{1,16}$/.test(id)) return false;
    return Number(await ACK.run(this.#redis, [], [this.#c, channel, id])) === 1;
  }

  async queueStats(channel: string): Promise<{ count: number; bytes: number }> {
    const [qn, qb] = await guard(this.#redis.hmget(`${this.#c}c:${channel}`, 'qn', 'qb'));
    return { count: Number(qn ?? 0), bytes: Number(qb ?? 0) };
  }
}
