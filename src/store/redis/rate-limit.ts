import { createHash } from 'node:crypto';
import type { BucketScope, BucketSettings, BucketStore, Take } from '../../auth/rate-limit.ts';
import { LuaScript, type RedisClient } from './connection.ts';

/**
 * Rate-limit token buckets in Redis, shared by every node.
 *
 * Layout: P rl:<scope>:<rate>/<burst>:<key>  hash {tokens, at (ms)}, with a TTL.
 *
 * The settings are part of the key, so nodes with the same `rateLimit`
 * config share a bucket, and a reload that changes a scope's settings starts
 * that scope afresh (as the in-memory buckets do) once each node has reloaded.
 *
 * Time is Redis' own clock (TIME inside the script), not the node's: every
 * node then refills by the same clock, so skew between nodes can neither add
 * tokens (a node ahead) nor stall a bucket (a node behind), and Retry-After
 * is a duration from that one clock. It costs no extra round trip.
 *
 * A bucket that has refilled completely is the same as no bucket, so its TTL
 * is the time to refill (plus a second), capped at MAX_TTL_MS: idle buckets
 * vanish by themselves and Redis holds only the buckets of recently active
 * clients. Keys longer than MAX_KEY_BYTES are hashed.
 */

const MAX_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_KEY_BYTES = 128;

/** KEYS: bucket. ARGV: rate (tokens/s), burst, cost (0 looks, 1 takes), max TTL ms. Returns {ok, retry after ms}. */
const TAKE = new LuaScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  tokens = burst
elseif now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
else
  -- Redis' clock went back (e.g. a failover): no refill, never more than burst.
  tokens = math.min(burst, tokens)
end
if tokens < 1 then
  return {0, math.ceil((1 - tokens) * 1000 / rate)}
end
if cost > 0 then
  tokens = tokens - cost
  redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
  redis.call('PEXPIRE', KEYS[1], math.min(math.ceil((burst - tokens) * 1000 / rate) + 1000, tonumber(ARGV[4])))
end
return {1, 0}
`);

export class RedisBucketStore implements BucketStore {
  readonly #redis: RedisClient;
  readonly #prefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.#redis = redis;
    this.#prefix = `${prefix}rl:`;
  }

  /** The Redis key of a bucket (exported for tests and operators). */
  key(scope: BucketScope, key: string, settings: BucketSettings): string {
    const k = Buffer.byteLength(key) > MAX_KEY_BYTES ? `sha256:${createHash('sha256').update(key).digest('hex')}` : key;
    return `${this.#prefix}${scope}:${settings.rate}/${settings.burst}:${k}`;
  }

  async take(scope: BucketScope, key: string, settings: BucketSettings, cost: 0 | 1): Promise<Take> {
    const [ok, retryAfterMs] = (await TAKE.run(this.#redis, [this.key(scope, key, settings)], [settings.rate, settings.burst, cost, MAX_TTL_MS])) as [number, number];
    return ok === 1 ? { ok: true } : { ok: false, retryAfterMs };
  }
}
