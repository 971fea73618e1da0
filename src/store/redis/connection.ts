import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../../log.ts';

export type RedisClient = Redis;

/**
 * Thrown when Redis cannot be reached. Carries an HTTP status so that an
 * ingress answers 503 (and the sender retries) instead of a bare 500: nothing
 * is acknowledged that is not stored.
 */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
  readonly status = 503;
  readonly expose = true;
  readonly headers = { 'retry-after': '1' };
  constructor(cause: unknown) {
    super(`storage (redis) is unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

const CONNECTIVITY = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|Connection is closed|Command timed out|max retries per request|Stream isn't writeable|LOADING|MASTERDOWN|READONLY/i;

/** Maps connectivity failures to StorageUnavailableError; anything else (a bug, a script error) passes through. */
export async function guard<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e instanceof StorageUnavailableError) throw e;
    if (e?.name === 'MaxRetriesPerRequestError' || CONNECTIVITY.test(`${e?.code ?? ''} ${e?.message ?? ''}`)) throw new StorageUnavailableError(e);
    throw err;
  }
}

export interface RedisConnectOptions {
  url: string;
  log: Logger;
  /** Shown in CLIENT LIST, so an operator can tell Hookah's connections apart. */
  name: string;
  /**
   * Subscriber connections wait out any outage (their commands are only
   * (un)subscribes); on command connections a command fails as soon as one
   * reconnect attempt fails, so requests get a 503 within about a second
   * instead of hanging.
   */
  role: 'command' | 'subscriber';
}

/** Reconnect quickly at first, then every second, forever: an outage must never need a manual restart. */
const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000);

export function createRedis(options: RedisConnectOptions): RedisClient {
  const base: RedisOptions = {
    connectionName: options.name,
    retryStrategy,
    connectTimeout: 5000,
    enableOfflineQueue: true,
    lazyConnect: true,
  };
  const role: RedisOptions =
    options.role === 'command'
      ? // maxRetriesPerRequest 0: ioredis fails queued and in-flight commands at every failed
        // (re)connect instead of holding them for several attempts. Should a command still be
        // re-sent after a reconnect, every script is idempotent under it (see the tokens).
        { maxRetriesPerRequest: 0, commandTimeout: 10_000 }
      : // The transport re-subscribes itself so that it can fill the gap of the outage in order.
        { maxRetriesPerRequest: null, autoResubscribe: false };
  const client = new Redis(options.url, { ...base, ...role });
  let down = false;
  client.on('error', (err: Error) => {
    // ioredis retries by itself; log each outage once rather than every attempt.
    if (!down) options.log.warn({ err: err.message, connection: options.name }, 'redis connection error; reconnecting');
    down = true;
  });
  client.on('ready', () => {
    if (down) options.log.info({ connection: options.name }, 'redis connection restored');
    down = false;
  });
  return client;
}

/** Connects, waiting up to `timeoutMs` for Redis to answer (it may still be starting, e.g. in docker-compose). */
export async function connectRedis(options: RedisConnectOptions, timeoutMs = 30_000): Promise<RedisClient> {
  const client = createRedis(options);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (client.status === 'wait' || client.status === 'end') await client.connect();
      await client.ping();
      return client;
    } catch (err) {
      if (Date.now() > deadline) {
        client.disconnect();
        throw new Error(`cannot reach redis at ${redactUrl(options.url)} within ${timeoutMs} ms: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://(unparsable url)';
  }
}

export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  try {
    await Promise.race([client.quit(), new Promise((_, reject) => setTimeout(() => reject(new Error('quit timed out')), 2000).unref())]);
  } catch {
    client.disconnect();
  }
}

/**
 * A Lua script run with EVALSHA, loading it on first use (or after a Redis
 * restart flushed the script cache). Scripts are how the adapters get atomic
 * multi-key updates: Redis runs one script at a time.
 */
export class LuaScript {
  readonly #source: string;
  readonly #sha: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha = createHash('sha1').update(source).digest('hex');
  }

  run(client: RedisClient, keys: string[], args: (string | number | Buffer)[]): Promise<unknown> {
    return this.#exec(client, keys, args, false);
  }

  /** Same, with every bulk string in the reply as a Buffer (binary-safe bodies). */
  runBuffer(client: RedisClient, keys: string[], args: (string | number | Buffer)[]): Promise<unknown> {
    return this.#exec(client, keys, args, true);
  }

  async #exec(client: RedisClient, keys: string[], args: (string | number | Buffer)[], buffers: boolean): Promise<unknown> {
    const call = (cmd: string, head: string) =>
      buffers ? client.callBuffer(cmd, [head, keys.length, ...keys, ...args]) : client.call(cmd, [head, keys.length, ...keys, ...args]);
    try {
      return await guard(call('evalsha', this.#sha));
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error).message)) throw err;
      return guard(call('eval', this.#source));
    }
  }
}
