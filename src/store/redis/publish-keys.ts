import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log.ts';
import type { PublishClaim, PublishKeyStore } from '../../core/ports.ts';
import { guard, LuaScript, type RedisClient } from './connection.ts';

/**
 * A reservation (key claimed, publish still running) expires after this even
 * if its node dies mid-publish, so a retry can publish; SQLite gets the same
 * effect by clearing reservations at start-up, which a shared store cannot do.
 */
const RESERVATION_TTL_MS = 30_000;
/** How long a claim waits for another node's publish under the same key to finish. */
const IN_PROGRESS_WAIT_MS = 5000;

/**
 * A publish under this key is still running (or its node failed to release
 * the key while Redis was down). Answered 503 so the sender retries: a 202
 * must never be given for an event that might not be stored.
 */
export class PublishInProgressError extends Error {
  override name = 'PublishInProgressError';
  readonly status = 503;
  readonly expose = true;
  readonly headers = { 'retry-after': '1' };
  constructor() {
    super('a publish with this idempotency key is still in progress; retry shortly');
  }
}

/**
 * A key holds `~<token>` while its publish runs (the token of the claim that
 * reserved it), then the event id. KEYS: key. ARGV: reservation ttl, token.
 * Returns {1, value} for a duplicate, {0} for a new claim; a re-send of the
 * same claim (ioredis after a reconnect) finds its own token and is a new
 * claim again, not a duplicate of itself.
 */
/**
 * A key's value: `~<token>` while its publish runs, then the event id; either
 * followed by a space and the request fingerprint when there is one.
 * KEYS: the key. ARGV: ttl ms, token, fingerprint ('' for none).
 */
const CLAIM = new LuaScript(`
local v = redis.call('GET', KEYS[1])
local mine = '~' .. ARGV[2]
-- Our own reservation: ioredis re-sent the script after a lost reply.
if v and string.match(v, '^%S+') ~= mine then return {1, v} end
local value = mine
if ARGV[3] ~= '' then value = mine .. ' ' .. ARGV[3] end
redis.call('SET', KEYS[1], value, 'PX', ARGV[1])
return {0}
`);

/** KEYS: the key. ARGV: token. Only a reservation still ours is removed. */
const RELEASE = new LuaScript(`
local v = redis.call('GET', KEYS[1])
if v and string.match(v, '^%S+') == '~' .. ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`);

/**
 * The publish keys in Redis, shared by every node, so a retried publish is
 * recognised whichever node it reaches.
 */
export class RedisPublishKeys implements PublishKeyStore {
  readonly #redis: RedisClient;
  readonly #prefix: string;
  /** Claims of this process not yet completed or released: key -> token and TTL. */
  readonly #claims = new Map<string, { token: string; ttlMs: number; fingerprint: string | undefined }>();
  readonly #log: Logger | undefined;

  constructor(redis: RedisClient, prefix: string, log?: Logger) {
    this.#redis = redis;
    this.#prefix = `${prefix}pk:`;
    this.#log = log;
  }

  /**
   * Unlike SQLite, a duplicate whose first publish has not finished is
   * waited for (bounded), so the answer carries its event id; SQLite answers
   * `eventId: null` at once, which is safe there because a failed publish
   * always releases its key, while here the release itself can fail.
   */
  async claim(key: string, ttlMs: number, fingerprint?: string): Promise<PublishClaim> {
    const deadline = Date.now() + IN_PROGRESS_WAIT_MS;
    const token = randomUUID();
    for (;;) {
      let reply: [number, string?];
      try {
        reply = (await CLAIM.run(this.#redis, [this.#prefix + key], [Math.max(1, Math.min(ttlMs, RESERVATION_TTL_MS)), token, fingerprint ?? ''])) as [
          number,
          string?,
        ];
      } catch (err) {
        // The claim may have run with only its reply lost: release it, or retries would wait for it.
        void this.#persist(key, () => RELEASE.run(this.#redis, [this.#prefix + key], [token]));
        throw err;
      }
      const [dup, value = ''] = reply;
      if (dup === 0) {
        this.#claims.set(key, { token, ttlMs, fingerprint });
        return { duplicate: false };
      }
      const [head = '', theirs] = value.split(' ');
      const inProgress = head.startsWith('~');
      // A different request needs no wait: whatever the first one publishes, this one is refused.
      if (fingerprint !== undefined && theirs !== undefined && theirs !== fingerprint) return { duplicate: true, eventId: inProgress ? null : head, conflict: true };
      if (!inProgress) return { duplicate: true, eventId: head, conflict: false };
      if (Date.now() > deadline) throw new PublishInProgressError();
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async fingerprint(key: string): Promise<string | undefined> {
    const value = await guard(this.#redis.get(this.#prefix + key));
    return value?.split(' ')[1];
  }

  /*
   * complete and release never throw and never make the caller wait out an
   * outage: the event is stored (or not) whatever happens to its key, so the
   * answer must not depend on it. A key that cannot be updated now is retried
   * in the background until its reservation would have expired anyway;
   * meanwhile a retry of the same publish waits or gets a 503.
   */

  async complete(key: string, eventId: string): Promise<void> {
    const claim = this.#claims.get(key);
    const ttl = Math.max(1, Math.floor(claim?.ttlMs ?? RESERVATION_TTL_MS));
    const value = claim?.fingerprint !== undefined ? `${eventId} ${claim.fingerprint}` : eventId;
    this.#claims.delete(key);
    await this.#persist(key, () => guard(this.#redis.set(this.#prefix + key, value, 'PX', ttl)));
  }

  async release(key: string): Promise<void> {
    const claim = this.#claims.get(key);
    this.#claims.delete(key);
    if (claim) await this.#persist(key, () => RELEASE.run(this.#redis, [this.#prefix + key], [claim.token]));
  }

  async #persist(key: string, write: () => Promise<unknown>): Promise<void> {
    const attempt = async () => {
      try {
        await write();
        return true;
      } catch (err) {
        this.#log?.debug({ err, key }, 'cannot update a publish key yet; retrying');
        return false;
      }
    };
    if (await attempt()) return;
    const giveUpAt = Date.now() + RESERVATION_TTL_MS;
    const retry = async () => {
      if ((await attempt()) || Date.now() > giveUpAt) return;
      setTimeout(() => void retry(), 500).unref();
    };
    setTimeout(() => void retry(), 500).unref();
  }
}
