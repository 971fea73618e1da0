import { randomUUID } from 'node:crypto';
import type { NewEvent, StoredEvent } from '../../core/event.ts';
import type { EventLog, ReadQuery, ReadResult, TopicInfo } from '../../core/ports.ts';
import { isPattern, matchTopic } from '../../core/topic-pattern.ts';
import type { RetentionResolver } from '../sqlite/event-log.ts';
import { guard, LuaScript, type RedisClient } from './connection.ts';
import type { RedisKeys } from './keys.ts';

/**
 * Bodies up to this size travel inside the pub/sub notification; larger ones
 * are fetched from the stream by the receiving node, so one huge message does
 * not fill every subscriber connection's output buffer.
 */
export const INLINE_BODY_LIMIT = 256 * 1024;

/** How long a finished append remembers its token (longer than any reconnect that re-sends it). */
const TOKEN_TTL_MS = 120_000;

/** Most entries one trim call removes, so a lowered retention never blocks Redis for long. */
const TRIM_BATCH = 1000;

const TRIM_FN = `
local function trim(stream, meta, index, maxCount, maxBytes, minAt, maxRemove)
  local len = redis.call('XLEN', stream)
  local bytes = tonumber(redis.call('HGET', meta, 'bytes') or '0')
  local removed = 0
  while len > 0 and removed < maxRemove do
    local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
    if not first then break end
    local f = first[2]
    local at, n = 0, 0
    for i = 1, #f, 2 do
      if f[i] == 'a' then at = tonumber(f[i + 1]) elseif f[i] == 'n' then n = tonumber(f[i + 1]) end
    end
    if not (len > maxCount or (bytes > maxBytes and len > 1) or (minAt >= 0 and at < minAt)) then break end
    redis.call('XDEL', stream, first[1])
    local seq = string.match(first[1], '^(%d+)')
    redis.call('HDEL', index, seq)
    redis.call('HSET', meta, 'trimmed', seq)
    len = len - 1
    bytes = bytes - n
    removed = removed + 1
  end
  if removed > 0 then redis.call('HSET', meta, 'bytes', bytes) end
  return removed
end
`;

/**
 * Appends and notifies in one atomic step. Publishing from inside the script
 * is what makes cross-node delivery ordered: Redis runs scripts one at a
 * time, so notifications leave in exactly the order ids were assigned.
 * KEYS: seq, stream, meta, topics, index, done-token. ARGV: topic, at, meta
 * json, body, maxCount, maxBytes, channel, inline limit. The done-token
 * makes a re-send after a lost reply (the client reconnected) return the
 * first id instead of storing the event twice.
 */
const APPEND = new LuaScript(`${TRIM_FN}
local done = redis.call('GET', KEYS[6])
if done then return done end
local id = string.format('%.0f', redis.call('INCR', KEYS[1]))
local size = string.len(ARGV[4])
redis.call('XADD', KEYS[2], id .. '-0', 'a', ARGV[2], 'n', size, 'm', ARGV[3], 'b', ARGV[4])
redis.call('HINCRBY', KEYS[3], 'bytes', size)
redis.call('HSET', KEYS[3], 'lastId', id, 'lastAt', ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[5], id, ARGV[1])
trim(KEYS[2], KEYS[3], KEYS[5], tonumber(ARGV[5]), tonumber(ARGV[6]), -1, ${TRIM_BATCH})
local inline = size <= tonumber(ARGV[8])
local header = id .. '\\n' .. ARGV[2] .. '\\n' .. (inline and '1' or '0') .. '\\n' .. ARGV[3] .. '\\n'
if inline then redis.call('PUBLISH', ARGV[7], header .. ARGV[4]) else redis.call('PUBLISH', ARGV[7], header) end
redis.call('SET', KEYS[6], id, 'PX', ${TOKEN_TTL_MS})
return id
`);

/** KEYS: stream, meta, index. ARGV: maxCount, maxBytes, minAt. */
const TRIM = new LuaScript(`${TRIM_FN}
return trim(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ${TRIM_BATCH})
`);

interface Meta {
  t: string;
  s: string;
  c: string;
  h: Record<string, string>;
  y?: string;
}

function encodeMeta(event: NewEvent): string {
  const meta: Meta = { t: event.topic, s: event.source, c: event.contentType, h: event.headers };
  if (event.type) meta.y = event.type;
  return JSON.stringify(meta);
}

function toEvent(id: string, receivedAt: number, metaJson: string, body: Buffer): StoredEvent {
  const m = JSON.parse(metaJson) as Meta;
  const event: StoredEvent = { id, topic: m.t, receivedAt, source: m.s, contentType: m.c, headers: m.h, body };
  if (m.y) event.type = m.y;
  return event;
}

type StreamEntry = [id: Buffer, fields: Buffer[]];

function entryToEvent(entry: StreamEntry): StoredEvent {
  const fields = entry[1];
  let at = 0;
  let meta = '{}';
  let body: Buffer = Buffer.alloc(0);
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString();
    const value = fields[i + 1]!;
    if (name === 'a') at = Number(value.toString());
    else if (name === 'm') meta = value.toString('utf8');
    else if (name === 'b') body = value;
  }
  return toEvent(streamIdToSeq(entry[0].toString()), at, meta, body);
}

const streamIdToSeq = (id: string) => id.slice(0, id.indexOf('-'));

/** A live notification as the append script published it. */
export type Notification = { event: StoredEvent } | { ref: { id: string; topic: string } };

/** Decodes `<id>\n<at>\n<inline>\n<meta json>\n<body>` (body absent when not inline). */
export function decodeNotification(message: Buffer): Notification {
  let pos = 0;
  const line = () => {
    const end = message.indexOf(10, pos);
    if (end < 0) throw new Error('malformed event notification');
    const text = message.subarray(pos, end).toString('utf8');
    pos = end + 1;
    return text;
  };
  const id = line();
  const at = Number(line());
  const inline = line() === '1';
  const meta = line();
  if (!inline) return { ref: { id, topic: (JSON.parse(meta) as Meta).t } };
  // Copy: the notification buffer may be a slice of a larger socket read.
  return { event: toEvent(id, at, meta, Buffer.from(message.subarray(pos))) };
}

/** Ids are decimal integers here; anything else is treated as "before everything", as in SQLite. */
function parseId(id: string): number {
  const n = Number(id);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/**
 * The backlog in Redis: one stream per topic, with ids taken from one global
 * counter so that "after id N" means the same thing on every topic and every
 * node. Reads across topics merge the per-topic streams by id.
 */
export class RedisEventLog implements EventLog {
  readonly #redis: RedisClient;
  readonly #keys: RedisKeys;
  readonly #retention: RetentionResolver;

  constructor(redis: RedisClient, keys: RedisKeys, retention: RetentionResolver) {
    this.#redis = redis;
    this.#keys = keys;
    this.#retention = retention;
  }

  async append(event: NewEvent): Promise<StoredEvent> {
    const at = Date.now();
    const k = this.#keys;
    const policy = this.#retention(event.topic);
    const id = (await APPEND.run(
      this.#redis,
      [k.seq, k.stream(event.topic), k.topicMeta(event.topic), k.topics, k.eventIndex, k.token(randomUUID())],
      [event.topic, at, encodeMeta(event), event.body, policy.maxCount, policy.maxBytes, k.channel(event.topic), INLINE_BODY_LIMIT],
    )) as string;
    return { ...event, id: String(id), receivedAt: at };
  }

  async read(query: ReadQuery): Promise<ReadResult> {
    const after = query.afterId === undefined ? 0 : parseId(query.afterId);
    const limit = Math.max(0, Math.floor(query.limit));
    const candidates = await this.#matchingTopics(query.patterns);
    if (candidates.length === 0) return { events: [], gap: false };

    // One round trip tells which topics have anything newer and which lost events to retention.
    const pipe = this.#redis.pipeline();
    for (const topic of candidates) pipe.hmget(this.#keys.topicMeta(topic), 'lastId', 'trimmed');
    const metas = await guard(pipe.exec());
    const topics: string[] = [];
    let gap = false;
    candidates.forEach((topic, i) => {
      const [lastId, trimmed] = (metas?.[i]?.[1] ?? []) as (string | null)[];
      if (query.afterId !== undefined && trimmed && Number(trimmed) > after) gap = true;
      if (lastId && Number(lastId) > after) topics.push(topic);
    });
    if (topics.length === 0 || limit === 0) return { events: [], gap };
    return { events: await this.#merge(topics, after, limit), gap };
  }

  /** K-way merge of per-topic streams, paged so memory stays bounded by (topics × page). */
  async #merge(topics: string[], after: number, limit: number): Promise<StoredEvent[]> {
    const page = topics.length === 1 ? limit : Math.min(limit, 200);
    const cursors = topics.map((topic) => ({ key: this.#keys.stream(topic), after: String(after), buf: [] as StoredEvent[], pos: 0, done: false }));
    const out: StoredEvent[] = [];
    while (out.length < limit) {
      const empty = cursors.filter((c) => !c.done && c.pos >= c.buf.length);
      if (empty.length > 0) {
        const pipe = this.#redis.pipeline();
        for (const c of empty) pipe.xrangeBuffer(c.key, `(${c.after}-0`, '+', 'COUNT', page);
        const replies = await guard(pipe.exec());
        empty.forEach((c, i) => {
          const [err, entries] = replies?.[i] ?? [null, []];
          if (err) throw err;
          c.buf = (entries as StreamEntry[]).map(entryToEvent);
          c.pos = 0;
          if (c.buf.length < page) c.done = true;
          if (c.buf.length > 0) c.after = c.buf[c.buf.length - 1]!.id;
        });
      }
      let best: (typeof cursors)[number] | undefined;
      for (const c of cursors) {
        if (c.pos >= c.buf.length) continue;
        if (!best || Number(c.buf[c.pos]!.id) < Number(best.buf[best.pos]!.id)) best = c;
      }
      if (!best) break;
      out.push(best.buf[best.pos++]!);
    }
    return out;
  }

  async #matchingTopics(patterns: string[]): Promise<string[]> {
    const exact = new Set(patterns.filter((p) => !isPattern(p)));
    const wild = patterns.filter(isPattern);
    if (wild.length > 0) {
      for (const topic of await this.#allTopics()) if (wild.some((p) => matchTopic(p, topic))) exact.add(topic);
    }
    return [...exact];
  }

  async #allTopics(): Promise<string[]> {
    const topics: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await guard(this.#redis.sscan(this.#keys.topics, cursor, 'COUNT', 1000));
      cursor = next;
      topics.push(...batch);
    } while (cursor !== '0');
    return topics;
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    if (!/^\d{1,16}$/.test(id)) return undefined;
    const topic = await guard(this.#redis.hget(this.#keys.eventIndex, id));
    if (topic === null) return undefined;
    return this.getFrom(topic, id);
  }

  /** Reads one event when its topic is known (one round trip instead of two). */
  async getFrom(topic: string, id: string): Promise<StoredEvent | undefined> {
    const entries = await guard(this.#redis.xrangeBuffer(this.#keys.stream(topic), `${id}-0`, `${id}-0`));
    return entries[0] ? entryToEvent(entries[0]) : undefined;
  }

  async lastId(): Promise<string | undefined> {
    const seq = await guard(this.#redis.get(this.#keys.seq));
    return seq === null || seq === '0' ? undefined : seq;
  }

  async topics(): Promise<TopicInfo[]> {
    const names = (await this.#allTopics()).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (names.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const topic of names) {
      pipe.xlen(this.#keys.stream(topic));
      pipe.hmget(this.#keys.topicMeta(topic), 'bytes', 'lastId', 'lastAt');
    }
    const replies = (await guard(pipe.exec())) ?? [];
    return names.map((topic, i) => {
      const count = Number(replies[2 * i]?.[1] ?? 0);
      const [bytes, lastId, lastAt] = (replies[2 * i + 1]?.[1] ?? []) as (string | null)[];
      return {
        topic,
        count,
        bytes: Number(bytes ?? 0),
        lastId: lastId ?? undefined,
        lastAt: lastAt ? Number(lastAt) : undefined,
      };
    });
  }

  compareIds(a: string, b: string): number {
    return parseId(a) - parseId(b);
  }

  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    for (const topic of await this.#allTopics()) {
      const policy = this.#retention(topic);
      const k = this.#keys;
      for (;;) {
        const n = Number(
          await TRIM.run(this.#redis, [k.stream(topic), k.topicMeta(topic), k.eventIndex], [policy.maxCount, policy.maxBytes, now - policy.maxAgeMs]),
        );
        removed += n;
        if (n < TRIM_BATCH) break;
      }
    }
    return removed;
  }
}
