import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { FallbackReporter, SharedBuckets } from '../../src/auth/rate-limit-shared.ts';
import { TokenBuckets, type BucketStore, type Take } from '../../src/auth/rate-limit.ts';
import { createLogger } from '../../src/log.ts';
import { closeRedis, connectRedis, type RedisClient } from '../../src/store/redis/connection.ts';
import { RedisBucketStore } from '../../src/store/redis/rate-limit.ts';
import { redisMissing, startRedis, uniquePrefix, type TestRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Rate-limit buckets shared through Redis (one Lua script against a real
 * redis-server), and the fallback to node-local buckets when the store does
 * not answer.
 */

function capturingLogger(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger('info', sink), lines };
}

describe('redis token buckets', { skip: redisMissing, timeout: 60_000 }, () => {
  let redis: TestRedis;
  let client: RedisClient;
  let other: RedisClient;
  const silent = createLogger('silent');

  before(async () => {
    redis = await startRedis({ fsync: 'everysec' });
    client = await connectRedis({ url: redis.url, log: silent, name: 'rl-test-1', role: 'command' }, 10_000);
    other = await connectRedis({ url: redis.url, log: silent, name: 'rl-test-2', role: 'command' }, 10_000);
  });

  after(async () => {
    if (client) await closeRedis(client);
    if (other) await closeRedis(other);
    await redis?.close();
  });

  it('allows a burst, then refuses with the time until the next token; keys are independent', async () => {
    const store = new RedisBucketStore(client, uniquePrefix());
    const settings = { rate: 0.5, burst: 3 };
    for (let i = 0; i < 3; i++) assert.deepEqual(await store.take('ip', '192.0.2.1', settings, 1), { ok: true });
    const refused = await store.take('ip', '192.0.2.1', settings, 1);
    assert.equal(refused.ok, false);
    const wait = (refused as { retryAfterMs: number }).retryAfterMs;
    assert.ok(wait > 1500 && wait <= 2000, `retry after ${wait} ms (rate 0.5/s: at most 2 s)`);
    assert.equal((await store.take('ip', '192.0.2.2', settings, 1)).ok, true, 'another address has its own bucket');
    assert.equal((await store.take('token', '192.0.2.1', settings, 1)).ok, true, 'another scope has its own bucket');
  });

  it('check looks without taking, and creates no key', async () => {
    const prefix = uniquePrefix();
    const store = new RedisBucketStore(client, prefix);
    const settings = { rate: 0.01, burst: 1 };
    assert.deepEqual(await store.take('auth_failure', 'x', settings, 0), { ok: true });
    assert.deepEqual(await client.keys(`${prefix}*`), []);
    assert.deepEqual(await store.take('auth_failure', 'x', settings, 1), { ok: true });
    assert.equal((await store.take('auth_failure', 'x', settings, 0)).ok, false);
    assert.equal((await store.take('auth_failure', 'x', settings, 0)).ok, false, 'a refused check changes nothing');
  });

  it('refills at the rate (by the Redis clock)', async () => {
    const store = new RedisBucketStore(client, uniquePrefix());
    const settings = { rate: 20, burst: 1 };
    assert.equal((await store.take('ip', 'k', settings, 1)).ok, true);
    const refused = await store.take('ip', 'k', settings, 1);
    assert.equal(refused.ok, false);
    assert.ok((refused as { retryAfterMs: number }).retryAfterMs <= 50);
    await waitFor(async () => (await store.take('ip', 'k', settings, 1)).ok, 'a token refilled at 20/s', 5000);
  });

  it('is one budget for every connection: concurrent takes from two nodes never exceed the burst', async () => {
    const prefix = uniquePrefix();
    const a = new RedisBucketStore(client, prefix);
    const b = new RedisBucketStore(other, prefix);
    const settings = { rate: 0.001, burst: 10 };
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).take('ip', 'shared', settings, 1)));
    assert.equal(results.filter((r) => r.ok).length, 10);
  });

  it('gives idle buckets a TTL of their refill time, capped, and bounds key length', async () => {
    const prefix = uniquePrefix();
    const store = new RedisBucketStore(client, prefix);
    const fast = { rate: 10, burst: 5 };
    await store.take('ip', 'a', fast, 1);
    const ttl = await client.pttl(store.key('ip', 'a', fast));
    // One token short of full at 10/s: 100 ms to refill, plus a second.
    assert.ok(ttl > 0 && ttl <= 1100, `pttl ${ttl}`);
    const slow = { rate: 0.000001, burst: 1000 };
    await store.take('ip', 'a', slow, 1);
    const capped = await client.pttl(store.key('ip', 'a', slow));
    assert.ok(capped > 23 * 3600_000 && capped <= 24 * 3600_000, `pttl ${capped} is capped at 24 h`);
    const long = 'u'.repeat(10_000);
    await store.take('token', long, fast, 1);
    const key = store.key('token', long, fast);
    assert.ok(key.length < prefix.length + 100, `key ${key.length} chars`);
    assert.equal(await client.exists(key), 1);
  });

  it('keys a bucket by its settings, so changed settings start afresh', async () => {
    const store = new RedisBucketStore(client, uniquePrefix());
    assert.equal((await store.take('ip', 'k', { rate: 0.01, burst: 1 }, 1)).ok, true);
    assert.equal((await store.take('ip', 'k', { rate: 0.01, burst: 1 }, 1)).ok, false);
    assert.equal((await store.take('ip', 'k', { rate: 0.01, burst: 2 }, 1)).ok, true);
  });

  it('falls back to local buckets while redis is down, and back to shared ones when it returns', async () => {
    const own = await startRedis({ fsync: 'everysec' });
    const conn = await connectRedis({ url: own.url, log: silent, name: 'rl-outage', role: 'command' }, 10_000);
    try {
      const { log, lines } = capturingLogger();
      const store = new RedisBucketStore(conn, uniquePrefix());
      const buckets = new SharedBuckets(store, 'ip', new TokenBuckets({ rate: 0.001, burst: 2 }, 100), new FallbackReporter(log));
      assert.equal((await buckets.take('k')).ok, true);
      await own.stop();
      // The local bucket is full: the outage neither refuses everything nor lifts the limit.
      assert.equal((await buckets.take('k')).ok, true);
      assert.equal((await buckets.take('k')).ok, true);
      assert.equal((await buckets.take('k')).ok, false);
      assert.equal(lines.filter((l) => /unavailable/.test(String(l.msg))).length, 1, 'one warning for the outage, not one per request');
      await own.start();
      // Back on the shared bucket, which still holds 1 of 2 tokens.
      await waitFor(async () => (await buckets.take('k')).ok, 'the shared bucket again', 10_000);
      assert.equal((await buckets.take('k')).ok, false);
      assert.ok(lines.some((l) => /available again/.test(String(l.msg))));
    } finally {
      await closeRedis(conn);
      await own.close();
    }
  });
});

describe('shared buckets without an answer from the store', () => {
  const failing: BucketStore = { take: () => Promise.reject(new Error('ECONNREFUSED')) };
  const hanging: BucketStore = { take: () => new Promise<Take>(() => {}) };

  it('decide with the local bucket of the same settings, warning at most once a minute', async () => {
    const { log, lines } = capturingLogger();
    let now = 0;
    const fallbacks: string[] = [];
    const reporter = new FallbackReporter(log, (scope) => fallbacks.push(scope), () => now);
    const buckets = new SharedBuckets(failing, 'token', new TokenBuckets({ rate: 0.001, burst: 3 }, 100), reporter);
    const results = [];
    for (let i = 0; i < 5; i++) results.push((await buckets.take('k')).ok);
    assert.deepEqual(results, [true, true, true, false, false]);
    assert.equal((await buckets.check('k')).ok, false);
    assert.equal(fallbacks.length, 6);
    assert.deepEqual([...new Set(fallbacks)], ['token']);
    assert.equal(lines.filter((l) => l.level === 40).length, 1);
    now = 61_000;
    await buckets.take('k');
    const warnings = lines.filter((l) => l.level === 40);
    assert.equal(warnings.length, 2);
    assert.equal(warnings[1]!.decisions, 6, 'the next warning says how many decisions fell back since the last one');
  });

  it('do not wait longer than the timeout', async () => {
    const { log } = capturingLogger();
    const buckets = new SharedBuckets(hanging, 'ip', new TokenBuckets({ rate: 1, burst: 1 }, 100), new FallbackReporter(log), 50);
    const started = Date.now();
    assert.equal((await buckets.take('k')).ok, true);
    assert.ok(Date.now() - started < 2000);
  });
});
