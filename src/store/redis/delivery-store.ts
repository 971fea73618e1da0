import { randomUUID } from 'node:crypto';
import { CLAIM_MAX_HOSTS, type HostLimit } from '../../dispatcher/host-limit.ts';
import { newMessageId } from '../../dispatcher/message-id.ts';
import type { AttemptResult, DeliveryStore, IdempotencyClaim, Inserted, NewDelivery, PendingDelivery } from '../../dispatcher/ports.ts';
import type { AttemptRecord, DeliveryKind, DeliveryRecord, DeliveryStatus, DeliverySummary, DispatcherStats } from '../../dispatcher/types.ts';
import { guard, LuaScript, type RedisClient } from './connection.ts';
import type { RedisKeys } from './keys.ts';

/**
 * The delivery queue in Redis, shared by every node. Each delivery is a hash;
 * `due` orders pending ones by (due time, creation) and `lease` holds claimed
 * ones by lease expiry. Every state change is one Lua script, so two nodes can
 * never claim the same delivery, and an expired lease (its node died) is
 * simply claimable again.
 */

const STATUSES: DeliveryStatus[] = ['pending', 'in_flight', 'delivered', 'failed'];

/**
 * Helpers shared by the scripts. `dk` is a pending delivery's member in the
 * lexicographic `due` zset: zero-padded due time, then creation sequence, so
 * ties keep FIFO order. ARGV[1] is always the key prefix.
 */
const LIB = `
local P = ARGV[1]
local function dueKey(at, seq, id)
  return string.format('%015.0f:%012.0f:', at, seq) .. id
end
local function setStatus(id, h, from, to)
  local seq = redis.call('HGET', h, 'seq')
  if from then redis.call('ZREM', P .. 'ds:' .. from, id) end
  redis.call('ZADD', P .. 'ds:' .. to, seq, id)
  redis.call('HSET', h, 'status', to)
  return tonumber(seq)
end
-- The host key, read from the stored (normalised) URL by the same rule as hostOf() in host-limit.ts.
local function hostOf(h)
  local url = redis.call('HGET', h, 'url')
  local authority = url and string.match(url, '^[^:]+://([^/?#]*)') or ''
  return (string.gsub(authority, '^[^@]*@', ''))
end
local function unschedule(h)
  local dk = redis.call('HGET', h, 'dk')
  if dk then
    redis.call('ZREM', P .. 'due', dk)
    redis.call('HDEL', h, 'dk')
    local host = hostOf(h)
    local hk = P .. 'dh:' .. host
    redis.call('ZREM', hk, dk)
    if redis.call('EXISTS', hk) == 0 then redis.call('ZREM', P .. 'dhosts', host) end
  end
end
local function schedule(id, h, at)
  unschedule(h)
  local seq = tonumber(redis.call('HGET', h, 'seq'))
  local dk = dueKey(at, seq, id)
  redis.call('HSET', h, 'next_attempt_at', string.format('%.0f', at), 'dk', dk)
  redis.call('ZADD', P .. 'due', 0, dk)
  local host = hostOf(h)
  redis.call('ZADD', P .. 'dh:' .. host, 0, dk)
  redis.call('ZADD', P .. 'dhosts', 0, host)
end
-- An in-flight delivery's lease ends: it waits again, due at its next attempt time (now if it has
-- none), and with \`dueNow\` no later than now.
local function backToWaiting(id, h, now, dueNow)
  redis.call('ZREM', P .. 'lease', id)
  redis.call('HDEL', h, 'lease_until')
  local at = tonumber(redis.call('HGET', h, 'next_attempt_at') or now)
  if dueNow and at > now then at = now end
  schedule(id, h, at)
  setStatus(id, h, 'in_flight', 'pending')
end
`;

/**
 * Inserts the delivery whose arguments start at ARGV[b]: id, idempotency key
 * ('' for none), ttl ms, next attempt at, lease until ('' unless inserted
 * already claimed), created at, request fingerprint ('' for none), then
 * field/value pairs to the end of ARGV. A key's value is the delivery id,
 * then a space and the fingerprint when there is one. Returns {id, 0 new |
 * 1 duplicate | 2 duplicate key of another request, created at}.
 */
const INSERT_FN = `
local function insertDelivery(b)
  local id = ARGV[b]
  local ik = ARGV[b + 1]
  local fp = ARGV[b + 6]
  local h = P .. 'd:' .. id
  -- Already inserted: this is ioredis re-sending the command after a lost reply.
  local created = redis.call('HGET', h, 'created_at')
  if created then return {id, 0, created} end
  if ik ~= '' then
    local existing = redis.call('GET', P .. 'ik:' .. ik)
    if existing then
      local first, firstFp = string.match(existing, '^(%S+) ?(%S*)$')
      local dup = 1
      if fp ~= '' and firstFp ~= '' and firstFp ~= fp then dup = 2 end
      return {first, dup, redis.call('HGET', P .. 'd:' .. first, 'created_at') or ARGV[b + 5]}
    end
  end
  local seq = redis.call('INCR', P .. 'dseq')
  local fields = {}
  for i = b + 7, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', h, 'seq', seq, 'created_at', ARGV[b + 5], unpack(fields))
  redis.call('ZADD', P .. 'dall', seq, id)
  if ARGV[b + 4] == '' then
    setStatus(id, h, nil, 'pending')
    schedule(id, h, tonumber(ARGV[b + 3]))
  else
    setStatus(id, h, nil, 'in_flight')
    redis.call('HSET', h, 'next_attempt_at', ARGV[b + 3], 'lease_until', ARGV[b + 4])
    redis.call('ZADD', P .. 'lease', ARGV[b + 4], id)
  end
  if ik ~= '' then
    local value = id
    if fp ~= '' then value = id .. ' ' .. fp end
    redis.call('SET', P .. 'ik:' .. ik, value, 'PX', ARGV[b + 2])
  end
  return {id, 0, ARGV[b + 5]}
end
`;

/** ARGV: prefix, then insertDelivery's arguments. */
const INSERT = new LuaScript(`${LIB}${INSERT_FN}
return insertDelivery(2)
`);

/**
 * ARGV: prefix, now, limit, leaseUntil, token, per-host cap ('' for none),
 * then host/held pairs. Returns HGETALL replies of the claimed deliveries.
 * The token remembers what this call claimed, so a re-send after a lost
 * reply returns the same deliveries instead of leasing a second batch that
 * nobody would work on. With a cap, no host gets more than its room; when
 * capped hosts' entries fill the first `limit` due ones, other hosts' due
 * work is looked up host by host, round robin from where the last such claim
 * stopped.
 */
const CLAIM = new LuaScript(`${LIB}
local now, limit, leaseUntil = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local cap = tonumber(ARGV[6])
local held = {}
for i = 7, #ARGV, 2 do held[ARGV[i]] = tonumber(ARGV[i + 1]) end
local tokenKey = P .. 'tok:' .. ARGV[5]
local out = {}
if redis.call('EXISTS', tokenKey) == 1 then
  for _, id in ipairs(redis.call('LRANGE', tokenKey, 1, -1)) do out[#out + 1] = redis.call('HGETALL', P .. 'd:' .. id) end
  return out
end
local function room(host)
  if not cap then return limit - #out end
  return math.min(cap - (held[host] or 0), limit - #out)
end
local claimed = {}
local function take(id, from)
  local h = P .. 'd:' .. id
  if redis.call('HGET', h, 'status') ~= from then
    -- A stale index entry (finished meanwhile): drop it rather than claim.
    if from == 'in_flight' then redis.call('ZREM', P .. 'lease', id) end
    return
  end
  local host = hostOf(h)
  if room(host) <= 0 then
    -- An expired lease of a capped host goes back among the waiting, where the per-host pass finds
    -- it, rather than stay first in the lease index and hide other hosts' expired leases.
    if from == 'in_flight' then backToWaiting(id, h, now, true) end
    return
  end
  held[host] = (held[host] or 0) + 1
  unschedule(h)
  if from ~= 'in_flight' then setStatus(id, h, from, 'in_flight') end
  redis.call('HSET', h, 'lease_until', leaseUntil)
  redis.call('ZADD', P .. 'lease', leaseUntil, id)
  out[#out + 1] = redis.call('HGETALL', h)
  claimed[#claimed + 1] = id
end
-- Due members of a lex zset, each checked against its hash (a stale member is dropped).
local function takeDue(zkey, n, host)
  local members = redis.call('ZRANGEBYLEX', zkey, '-', '(' .. string.format('%015.0f', now + 1), 'LIMIT', 0, n)
  for _, dk in ipairs(members) do
    if #out >= limit then break end
    local id = string.match(dk, '^[^:]*:[^:]*:(.*)$')
    if redis.call('HGET', P .. 'd:' .. id, 'dk') == dk then
      take(id, 'pending')
    else
      redis.call('ZREM', zkey, dk)
      if host and redis.call('EXISTS', zkey) == 0 then redis.call('ZREM', P .. 'dhosts', host) end
    end
  end
  return #members
end
-- Capped hosts' entries filled the window, and more may wait behind them: go host by host.
if takeDue(P .. 'due', limit) == limit and #out < limit then
  local cursor = redis.call('GET', P .. 'dhcur') or ''
  local visited, n = {}, 0
  while n < ${CLAIM_MAX_HOSTS} and #out < limit do
    local host = redis.call('ZRANGEBYLEX', P .. 'dhosts', cursor == '' and '-' or '(' .. cursor, '+', 'LIMIT', 0, 1)[1]
    if not host then host = redis.call('ZRANGEBYLEX', P .. 'dhosts', '-', '+', 'LIMIT', 0, 1)[1] end -- wrap round
    if not host or visited[host] then break end
    visited[host], n, cursor = true, n + 1, host
    local r = room(host)
    if r > 0 then takeDue(P .. 'dh:' .. host, r, host) end
  end
  redis.call('SET', P .. 'dhcur', cursor)
end
if #out < limit then
  local expired = redis.call('ZRANGEBYSCORE', P .. 'lease', '-inf', now, 'LIMIT', 0, limit - #out)
  for _, id in ipairs(expired) do
    if #out >= limit then break end
    take(id, 'in_flight')
  end
end
redis.call('RPUSH', tokenKey, '', unpack(claimed))
redis.call('PEXPIRE', tokenKey, 120000)
return out
`);

/**
 * Adds pending deliveries written before per-host claims to the per-host due
 * sets, a batch at a time. ARGV: prefix, start after this member ('' for the
 * first), batch size. Returns the last member seen, or '' when done.
 */
const INDEX_HOSTS = new LuaScript(`${LIB}
local from = '-'
if ARGV[2] ~= '' then from = '(' .. ARGV[2] end
local members = redis.call('ZRANGEBYLEX', P .. 'due', from, '+', 'LIMIT', 0, tonumber(ARGV[3]))
for _, dk in ipairs(members) do
  local h = P .. 'd:' .. string.match(dk, '^[^:]*:[^:]*:(.*)$')
  if redis.call('HGET', h, 'dk') == dk then
    local host = hostOf(h)
    redis.call('ZADD', P .. 'dh:' .. host, 0, dk)
    redis.call('ZADD', P .. 'dhosts', 0, host)
  end
end
if #members < tonumber(ARGV[3]) then
  redis.call('SET', P .. 'dhindexed', '1')
  return ''
end
return members[#members]
`);

/**
 * ARGV: prefix, id, n, attempt json, outcome, at/nextAttemptAt, error, then
 * optionally a follow-up (errback or callback) as insertDelivery's arguments,
 * inserted in the same script so the outcome is never stored without it.
 */
const FINISH = new LuaScript(`${LIB}${INSERT_FN}
local id = ARGV[2]
local h = P .. 'd:' .. id
local followUp = false
if #ARGV >= 8 then followUp = insertDelivery(8) end
if redis.call('EXISTS', h) == 0 then return followUp end
redis.call('HSET', P .. 'da:' .. id, ARGV[3], ARGV[4])
local from = redis.call('HGET', h, 'status')
redis.call('ZREM', P .. 'lease', id)
unschedule(h)
redis.call('HSET', h, 'attempt_count', ARGV[3])
redis.call('HDEL', h, 'lease_until')
local outcome = ARGV[5]
if outcome == 'delivered' then
  redis.call('HSET', h, 'delivered_at', ARGV[6])
  redis.call('HDEL', h, 'next_attempt_at', 'last_error')
elseif outcome == 'pending' then
  redis.call('HSET', h, 'last_error', ARGV[7])
  schedule(id, h, tonumber(ARGV[6]))
else
  redis.call('HSET', h, 'last_error', ARGV[7])
  redis.call('HDEL', h, 'next_attempt_at')
end
setStatus(id, h, from, outcome)
return followUp
`);

/**
 * ARGV: prefix, now, mode ('release' | 'recover'), ids…  'release' gives back
 * the listed in-flight deliveries; 'recover' makes every expired lease due
 * now. Live leases of other nodes are left alone.
 */
const RELEASE = new LuaScript(`${LIB}
local now = tonumber(ARGV[2])
local ids = {}
if ARGV[3] == 'recover' then
  ids = redis.call('ZRANGEBYSCORE', P .. 'lease', '-inf', now)
else
  for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local n = 0
for _, id in ipairs(ids) do
  local h = P .. 'd:' .. id
  if redis.call('HGET', h, 'status') == 'in_flight' then
    -- Given back, it keeps its due time; recovered, it is due now at the latest.
    backToWaiting(id, h, now, ARGV[3] == 'recover')
    n = n + 1
  elseif ARGV[3] == 'recover' then
    redis.call('ZREM', P .. 'lease', id)
  end
end
return n
`);

/** ARGV: prefix, lease until, ids… Only deliveries still in flight are touched. */
const RENEW = new LuaScript(`${LIB}
local leaseUntil = ARGV[2]
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local h = P .. 'd:' .. id
  if redis.call('HGET', h, 'status') == 'in_flight' then
    redis.call('HSET', h, 'lease_until', leaseUntil)
    redis.call('ZADD', P .. 'lease', leaseUntil, id)
    n = n + 1
  end
end
return n
`);

/** ARGV: prefix, id, now. */
const RETRY = new LuaScript(`${LIB}
local id = ARGV[2]
local h = P .. 'd:' .. id
local status = redis.call('HGET', h, 'status')
if not status then return 'not_found' end
if status == 'delivered' then return 'delivered' end
local now = tonumber(ARGV[3])
if status == 'failed' then
  local count = tonumber(redis.call('HGET', h, 'attempt_count'))
  local max = tonumber(redis.call('HGET', h, 'max_attempts'))
  if count + 1 > max then redis.call('HSET', h, 'max_attempts', count + 1) end
end
if status == 'in_flight' then
  redis.call('HSET', h, 'next_attempt_at', ARGV[3])
else
  schedule(id, h, now)
  setStatus(id, h, status, 'pending')
end
return 'ok'
`);

/**
 * ARGV: prefix, created before, limit. The two finished status sets are
 * ordered by creation sequence; walking them merged, oldest first, the first
 * delivery young enough to keep ends the walk.
 */
const PURGE = new LuaScript(`${LIB}
local before = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local delivered = redis.call('ZRANGE', P .. 'ds:delivered', 0, limit - 1, 'WITHSCORES')
local failed = redis.call('ZRANGE', P .. 'ds:failed', 0, limit - 1, 'WITHSCORES')
local i, j, removed = 1, 1, 0
while removed < limit do
  local id, status
  if i <= #delivered and (j > #failed or tonumber(delivered[i + 1]) <= tonumber(failed[j + 1])) then
    id, status, i = delivered[i], 'delivered', i + 2
  elseif j <= #failed then
    id, status, j = failed[j], 'failed', j + 2
  else
    break
  end
  local created = tonumber(redis.call('HGET', P .. 'd:' .. id, 'created_at'))
  if created and created >= before then break end
  redis.call('DEL', P .. 'd:' .. id, P .. 'da:' .. id)
  redis.call('ZREM', P .. 'ds:' .. status, id)
  redis.call('ZREM', P .. 'dall', id)
  removed = removed + 1
end
return removed
`);

type Hash = Map<string, Buffer>;

function pairsToHash(reply: Buffer[]): Hash {
  const h: Hash = new Map();
  for (let i = 0; i + 1 < reply.length; i += 2) h.set(reply[i]!.toString(), reply[i + 1]!);
  return h;
}

function objectToHash(reply: Record<string, Buffer>): Hash {
  return new Map(Object.entries(reply));
}

const str = (h: Hash, k: string) => h.get(k)?.toString('utf8');
const num = (h: Hash, k: string) => {
  const v = h.get(k);
  return v === undefined ? undefined : Number(v.toString());
};

function toPending(h: Hash): PendingDelivery {
  return {
    id: str(h, 'id')!,
    kind: str(h, 'kind') as DeliveryKind,
    url: str(h, 'url')!,
    method: str(h, 'method')!,
    headers: JSON.parse(str(h, 'headers') ?? '{}') as Record<string, string>,
    body: h.get('body') ?? Buffer.alloc(0),
    attemptCount: num(h, 'attempt_count') ?? 0,
    maxAttempts: num(h, 'max_attempts')!,
    timeoutMs: num(h, 'timeout_ms')!,
    sign: str(h, 'sign') === '1',
    errback: str(h, 'errback'),
    callback: str(h, 'callback'),
    ref: str(h, 'ref'),
    topic: str(h, 'topic'),
    eventId: str(h, 'event_id'),
    createdAt: num(h, 'created_at')!,
  };
}

/** The hash fields a summary reads: never the body or headers. */
const SUMMARY_FIELDS = [
  'id', 'kind', 'url', 'method', 'status', 'created_at', 'attempt_count', 'max_attempts', 'timeout_ms',
  'next_attempt_at', 'delivered_at', 'last_error', 'errback', 'callback', 'ref', 'topic', 'event_id',
];

function toRecord(h: Hash, attempts: Record<string, string>): DeliveryRecord {
  return {
    ...toSummary(h),
    attempts: Object.values(attempts)
      .map((json) => JSON.parse(json) as AttemptRecord)
      .sort((a, b) => a.n - b.n),
  };
}

function toSummary(h: Hash): DeliverySummary {
  return {
    id: str(h, 'id')!,
    kind: str(h, 'kind') as DeliveryKind,
    url: str(h, 'url')!,
    method: str(h, 'method')!,
    status: str(h, 'status') as DeliveryStatus,
    createdAt: num(h, 'created_at')!,
    attemptCount: num(h, 'attempt_count') ?? 0,
    maxAttempts: num(h, 'max_attempts')!,
    timeoutMs: num(h, 'timeout_ms')!,
    nextAttemptAt: num(h, 'next_attempt_at'),
    deliveredAt: num(h, 'delivered_at'),
    lastError: str(h, 'last_error'),
    errback: str(h, 'errback'),
    callback: str(h, 'callback'),
    ref: str(h, 'ref'),
    topic: str(h, 'topic'),
    eventId: str(h, 'event_id'),
  };
}

type InsertReply = [id: string, duplicate: number, createdAt: string];

const fromInsertReply = ([id, duplicate, createdAt]: InsertReply): Inserted => ({
  id,
  duplicate: duplicate !== 0,
  conflict: duplicate === 2,
  createdAt: Number(createdAt),
});

/** insertDelivery's arguments for a new delivery; the id is made here, so a re-sent script finds its own insert. */
function insertArgs(d: NewDelivery, idempotency?: IdempotencyClaim): (string | number | Buffer)[] {
  const now = Date.now();
  const id = newMessageId(now);
  const fields: (string | number | Buffer)[] = [
    'id', id,
    'kind', d.kind,
    'url', d.url,
    'method', d.method,
    'headers', JSON.stringify(d.headers),
    'body', d.body,
    'attempt_count', 0,
    'max_attempts', d.maxAttempts,
    'timeout_ms', d.timeoutMs,
    'sign', d.sign ? '1' : '0',
  ]; // prettier-ignore
  for (const [name, value] of [
    ['errback', d.errback],
    ['callback', d.callback],
    ['ref', d.ref],
    ['topic', d.topic],
    ['event_id', d.eventId],
  ] as const) {
    if (value !== undefined) fields.push(name, value);
  }
  return [
    id,
    idempotency?.key ?? '',
    Math.max(1, Math.floor(idempotency?.ttlMs ?? 1)),
    Math.floor(d.nextAttemptAt),
    d.leaseUntil === undefined ? '' : Math.floor(d.leaseUntil),
    now,
    idempotency?.fingerprint ?? '',
    ...fields,
  ];
}

export class RedisDeliveryStore implements DeliveryStore {
  readonly #redis: RedisClient;
  readonly #keys: RedisKeys;

  constructor(redis: RedisClient, keys: RedisKeys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  get #p(): string {
    return this.#keys.prefix;
  }

  async insert(d: NewDelivery, idempotency?: IdempotencyClaim): Promise<Inserted> {
    const reply = (await INSERT.run(this.#redis, [], [this.#p, ...insertArgs(d, idempotency)])) as InsertReply;
    return fromInsertReply(reply);
  }

  async claimDue(now: number, limit: number, leaseUntil: number, hosts?: HostLimit): Promise<PendingDelivery[]> {
    if (limit <= 0) return [];
    const caps: (string | number)[] = hosts ? [hosts.cap, ...[...hosts.held].flat()] : [''];
    const rows = (await CLAIM.runBuffer(this.#redis, [], [this.#p, Math.floor(now), Math.floor(limit), Math.floor(leaseUntil), randomUUID(), ...caps])) as Buffer[][];
    return rows.map((r) => toPending(pairsToHash(r)));
  }

  async finishAttempt(id: string, attempt: AttemptRecord, result: AttemptResult, followUp?: NewDelivery) {
    const when = result.status === 'delivered' ? result.at : result.status === 'pending' ? result.nextAttemptAt : 0;
    const error = result.status === 'delivered' ? '' : result.error;
    const args: (string | number | Buffer)[] = [this.#p, id, attempt.n, JSON.stringify(attempt), result.status, Math.floor(when), error];
    if (followUp) args.push(...insertArgs(followUp));
    const reply = (await FINISH.run(this.#redis, [], args)) as InsertReply | null;
    return reply ? fromInsertReply(reply) : undefined;
  }

  async renewLeases(ids: string[], leaseUntil: number): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await RENEW.run(this.#redis, [], [this.#p, Math.floor(leaseUntil), ...ids.slice(i, i + 500)]);
    }
  }

  async release(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await RELEASE.run(this.#redis, [], [this.#p, Date.now(), 'release', ...ids.slice(i, i + 500)]);
    }
  }

  /**
   * Unlike SQLite, many processes share this store: only leases that have
   * expired are taken back, never those of nodes that are still working.
   */
  async recoverInFlight(now: number): Promise<number> {
    await this.#indexHostsOnce();
    return Number(await RELEASE.run(this.#redis, [], [this.#p, Math.floor(now), 'recover']));
  }

  /** Data from before per-host claims: its waiting deliveries join the per-host due sets, once per Redis. */
  async #indexHostsOnce(): Promise<void> {
    if ((await guard(this.#redis.exists(`${this.#p}dhindexed`))) === 1) return;
    // Batches keep Redis answering other clients meanwhile; ZADD makes a repeated or concurrent run harmless.
    let after = '';
    do after = String(await INDEX_HOSTS.run(this.#redis, [], [this.#p, after, 1000]));
    while (after !== '');
  }

  async get(id: string): Promise<DeliveryRecord | undefined> {
    return (await this.#getMany([id]))[0];
  }

  /** Records of `ids` in one round trip, skipping unknown ones. */
  async #getMany(ids: string[]): Promise<DeliveryRecord[]> {
    if (ids.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const id of ids) {
      pipe.hgetallBuffer(this.#keys.delivery(id));
      pipe.hgetall(this.#keys.attempts(id));
    }
    const replies = (await guard(pipe.exec())) ?? [];
    const out: DeliveryRecord[] = [];
    for (let i = 0; i < ids.length; i++) {
      const h = objectToHash((replies[2 * i]?.[1] ?? {}) as Record<string, Buffer>);
      if (h.has('id')) out.push(toRecord(h, (replies[2 * i + 1]?.[1] ?? {}) as Record<string, string>));
    }
    return out;
  }

  /** Summaries of `ids` in one round trip, skipping unknown ones. */
  async #summaries(ids: string[]): Promise<DeliverySummary[]> {
    if (ids.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const id of ids) pipe.hmgetBuffer(this.#keys.delivery(id), ...SUMMARY_FIELDS);
    const replies = (await guard(pipe.exec())) ?? [];
    const out: DeliverySummary[] = [];
    for (let i = 0; i < ids.length; i++) {
      const values = (replies[i]?.[1] ?? []) as (Buffer | null)[];
      const h: Hash = new Map();
      SUMMARY_FIELDS.forEach((f, j) => values[j] && h.set(f, values[j]));
      if (h.has('id')) out.push(toSummary(h));
    }
    return out;
  }

  async list(filter: { status?: DeliveryStatus; kind?: DeliveryKind; limit: number; beforeId?: string }): Promise<DeliverySummary[]> {
    const index = filter.status ? this.#keys.byStatus(filter.status) : this.#keys.deliveriesAll;
    let max = '+inf';
    if (filter.beforeId !== undefined) {
      const seq = await guard(this.#redis.hget(this.#keys.delivery(filter.beforeId), 'seq'));
      if (seq === null) return [];
      max = `(${seq}`;
    }
    const out: DeliverySummary[] = [];
    const page = Math.max(filter.limit, 50);
    while (out.length < filter.limit) {
      const ids = await guard(this.#redis.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', 0, page));
      if (ids.length === 0) break;
      const batch: string[] = [];
      for (let i = 0; i < ids.length; i += 2) batch.push(ids[i]!);
      max = `(${ids[ids.length - 1]}`;
      let wanted = batch;
      if (filter.kind) {
        const pipe = this.#redis.pipeline();
        for (const id of batch) pipe.hget(this.#keys.delivery(id), 'kind');
        const kinds = (await guard(pipe.exec())) ?? [];
        wanted = batch.filter((_, i) => kinds[i]?.[1] === filter.kind);
      }
      for (const summary of await this.#summaries(wanted.slice(0, filter.limit - out.length))) out.push(summary);
      if (batch.length < page) break;
    }
    return out;
  }

  async retryNow(id: string, now: number): Promise<'ok' | 'not_found' | 'delivered'> {
    return (await RETRY.run(this.#redis, [], [this.#p, id, Math.floor(now)])) as 'ok' | 'not_found' | 'delivered';
  }

  async nextDueAt(): Promise<number | undefined> {
    const first = await guard(this.#redis.zrange(this.#keys.due, 0, 0));
    return first[0] ? Number(first[0].slice(0, 15)) : undefined;
  }

  async stats(): Promise<DispatcherStats> {
    const pipe = this.#redis.pipeline();
    for (const s of STATUSES) pipe.zcard(this.#keys.byStatus(s));
    const replies = (await guard(pipe.exec())) ?? [];
    const n = (i: number) => Number(replies[i]?.[1] ?? 0);
    return { pending: n(0), inFlight: n(1), delivered: n(2), failed: n(3) };
  }

  /** The key's TTL is its expiry, so `now` is Redis' own business. */
  async findIdempotent(key: string) {
    const value = await guard(this.#redis.get(this.#keys.idempotency(key)));
    if (value === null) return undefined;
    const [id = '', fingerprint] = value.split(' ');
    return { id, ...(fingerprint !== undefined ? { fingerprint } : {}) };
  }

  /** The status sets' sizes, as stats() reads them: one round trip of ZCARDs. */
  async countUnfinished(): Promise<number> {
    const { pending, inFlight } = await this.stats();
    return pending + inFlight;
  }

  async purgeFinished(createdBefore: number, limit: number): Promise<number> {
    return Number(await PURGE.run(this.#redis, [], [this.#p, Math.floor(createdBefore), Math.max(1, Math.floor(limit))]));
  }

  /** Idempotency keys carry a Redis TTL, so Redis expires them by itself. */
  async purgeExpiredKeys(): Promise<number> {
    return 0;
  }
}
