import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisDeliveryStore } from '../../src/store/redis/delivery-store.ts';
import { RedisEventLog } from '../../src/store/redis/event-log.ts';
import { RedisKeys } from '../../src/store/redis/keys.ts';
import { PublishInProgressError, RedisPublishKeys } from '../../src/store/redis/publish-keys.ts';
import { RedisQueueClients } from '../../src/store/redis/queue-clients.ts';
import { RedisSubscriptionStore } from '../../src/store/redis/subscription-store.ts';
import { redisMissing, startRedis, uniquePrefix, type TestRedis } from '../helpers/redis.ts';
import { deliveryStoreContract } from './delivery-store.contract.ts';
import { eventLogContract } from './event-log.contract.ts';
import { queueClientsContract } from './queue-clients.contract.ts';
import { subscriptionStoreContract } from './subscription-store.contract.ts';

/**
 * The storage contracts against the Redis adapters: one private
 * redis-server, a fresh key prefix per test.
 */
describe('redis adapters', { skip: redisMissing }, () => {
  let server: TestRedis;
  const clients: Redis[] = [];
  const client = () => {
    const c = new Redis(server.url, { lazyConnect: false });
    clients.push(c);
    return c;
  };
  const closeAll = async (cs: Redis[]) => {
    for (const c of cs) await c.quit().catch(() => c.disconnect());
  };

  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await closeAll(clients.splice(0));
    await server?.close();
  });

  eventLogContract(async (retention) => {
    const c = client();
    return { log: new RedisEventLog(c, new RedisKeys(uniquePrefix()), retention), close: () => closeAll([c]) };
  });

  deliveryStoreContract(async () => {
    const keys = new RedisKeys(uniquePrefix());
    const c = client();
    const extra: Redis[] = [];
    return {
      store: new RedisDeliveryStore(c, keys),
      another: async () => {
        const c2 = client();
        extra.push(c2);
        return new RedisDeliveryStore(c2, keys);
      },
      close: () => closeAll([c, ...extra]),
    };
  });

  subscriptionStoreContract(async () => {
    const c = client();
    return { store: new RedisSubscriptionStore(c, uniquePrefix()), close: () => closeAll([c]) };
  });

  queueClientsContract(async () => {
    const c = client();
    return { store: new RedisQueueClients(c, uniquePrefix()), close: () => closeAll([c]) };
  });

  describe('redis specifics', () => {
    it('recoverInFlight leaves the live leases of other nodes alone', async () => {
      const keys = new RedisKeys(uniquePrefix());
      const a = new RedisDeliveryStore(client(), keys);
      const b = new RedisDeliveryStore(client(), keys);
      const now = Date.now();
      const base = { kind: 'dispatch' as const, url: 'http://127.0.0.1:9/', method: 'POST', headers: {}, body: Buffer.from('x'), maxAttempts: 3, timeoutMs: 1000, sign: false };
      const live = await a.insert({ ...base, nextAttemptAt: now - 1 });
      await a.claimDue(now, 1, now + 60_000);
      const dead = await a.insert({ ...base, nextAttemptAt: now - 1 });
      await a.claimDue(now, 1, now + 1000);
      assert.equal(await b.recoverInFlight(now + 2000), 1, 'only the expired lease is taken back');
      assert.equal((await b.get(live.id))?.status, 'in_flight');
      assert.equal((await b.get(dead.id))?.status, 'pending');
    });

    it('indexes waiting deliveries from before per-host claims by host, once, at start-up', async () => {
      const prefix = uniquePrefix();
      const keys = new RedisKeys(prefix);
      const c = client();
      const store = new RedisDeliveryStore(c, keys);
      const now = Date.now();
      const base = { kind: 'dispatch' as const, method: 'POST', headers: {}, body: Buffer.from('x'), maxAttempts: 3, timeoutMs: 1000, sign: false, nextAttemptAt: now - 10 };
      for (let i = 0; i < 3; i++) await store.insert({ ...base, url: `http://127.0.0.1:1/${i}` });
      const other = await store.insert({ ...base, url: 'http://127.0.0.1:2/x' });
      // As an earlier version left them: no per-host sets.
      await c.del(`${prefix}dh:127.0.0.1:1`, `${prefix}dh:127.0.0.1:2`, `${prefix}dhosts`, `${prefix}dhindexed`);
      const capped = { cap: 1, held: new Map([['127.0.0.1:1', 1]]) };
      assert.deepEqual(await store.claimDue(now, 2, now + 60_000, capped), [], 'unindexed, the other host hides behind the capped one');
      await store.recoverInFlight(now);
      assert.equal(await c.get(`${prefix}dhindexed`), '1');
      assert.deepEqual((await store.claimDue(now, 2, now + 60_000, capped)).map((d) => d.id), [other.id]);
    });

    it('publish keys: a duplicate gets the first event id, a released key can publish again, a stuck one answers 503', async () => {
      const prefix = uniquePrefix();
      const a = new RedisPublishKeys(client(), prefix);
      const b = new RedisPublishKeys(client(), prefix);
      assert.deepEqual(await a.claim('k1', 60_000), { duplicate: false });
      // Another node asks while the first publish runs: it waits for the outcome.
      const waiting = b.claim('k1', 60_000);
      await a.complete('k1', '42');
      assert.deepEqual(await waiting, { duplicate: true, eventId: '42', conflict: false });
      assert.deepEqual(await a.claim('k2', 60_000), { duplicate: false });
      await a.release('k2');
      assert.deepEqual(await b.claim('k2', 60_000), { duplicate: false }, 'released: a retry publishes');
      // Nobody completes k2 now: a third claim gives up with a 503 instead of a 202 without an event.
      await assert.rejects(new RedisPublishKeys(client(), prefix).claim('k2', 60_000), (err: unknown) => err instanceof PublishInProgressError && err.status === 503);

      // With fingerprints: another request's claim is refused at once, even while the first publish runs.
      assert.deepEqual(await a.claim('k3', 60_000, 'fp-a'), { duplicate: false });
      assert.deepEqual(await b.claim('k3', 60_000, 'fp-b'), { duplicate: true, eventId: null, conflict: true });
      await a.complete('k3', '43');
      assert.deepEqual(await b.claim('k3', 60_000, 'fp-a'), { duplicate: true, eventId: '43', conflict: false });
      assert.deepEqual(await b.claim('k3', 60_000, 'fp-b'), { duplicate: true, eventId: '43', conflict: true });
    });

    it('keeps every event id numeric and shared across topics (one global sequence)', async () => {
      const log = new RedisEventLog(client(), new RedisKeys(uniquePrefix()), () => ({ maxCount: 10, maxBytes: 1e6, maxAgeMs: 1e9 }));
      const e1 = await log.append({ topic: 'x', headers: {}, contentType: 'text/plain', body: Buffer.from('1'), source: 't' });
      const e2 = await log.append({ topic: 'y', headers: {}, contentType: 'text/plain', body: Buffer.from('2'), source: 't' });
      assert.match(e1.id, /^\d+$/);
      assert.equal(Number(e2.id), Number(e1.id) + 1);
    });
  });
});
