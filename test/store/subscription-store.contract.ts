import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SubscriptionStore } from '../../src/hub/ports.ts';

export interface SubscriptionStoreHarness {
  store: SubscriptionStore;
  close(): Promise<void>;
}

export type SubscriptionStoreFactory = () => Promise<SubscriptionStoreHarness>;

/** The behaviour every WebSub SubscriptionStore adapter must have. */
export function subscriptionStoreContract(factory: SubscriptionStoreFactory): void {
  const withStore = async (fn: (store: SubscriptionStore) => Promise<void>) => {
    const h = await factory();
    try {
      await fn(h.store);
    } finally {
      await h.close();
    }
  };
  const T = 'https://example.com/feed';
  const now = 1_700_000_000_000;

  describe('SubscriptionStore contract', () => {
    it('upsert creates, then renews keeping id and creation time', () =>
      withStore(async (store) => {
        const a = await store.upsert({ topic: T, callback: 'https://a/cb', secret: 's3cret', leaseSeconds: 60 }, now);
        assert.match(a.id, /^sub_/);
        assert.deepEqual(
          { ...a, id: undefined },
          { id: undefined, topic: T, callback: 'https://a/cb', secret: 's3cret', leaseSeconds: 60, createdAt: now, verifiedAt: now, expiresAt: now + 60_000 },
        );
        const renewed = await store.upsert({ topic: T, callback: 'https://a/cb', leaseSeconds: 120 }, now + 1000);
        assert.equal(renewed.id, a.id);
        assert.equal(renewed.createdAt, now);
        assert.equal(renewed.verifiedAt, now + 1000);
        assert.equal(renewed.expiresAt, now + 1000 + 120_000);
        assert.equal(renewed.secret, undefined, 'a renewal without secret drops the old one');
        assert.deepEqual(await store.get(T, 'https://a/cb'), renewed);
        assert.deepEqual(await store.getById(a.id), renewed);
        assert.equal(await store.get(T, 'https://other/cb'), undefined);
        assert.equal(await store.getById('sub_nope'), undefined);
      }));

    it('active pages unexpired subscriptions of a topic in id order; hasActive and counts agree', () =>
      withStore(async (store) => {
        const subs = [];
        for (let i = 0; i < 5; i++) subs.push(await store.upsert({ topic: T, callback: `https://c${i}/`, leaseSeconds: i === 2 ? 1 : 60 }, now));
        await store.upsert({ topic: 'https://other/', callback: 'https://x/', leaseSeconds: 60 }, now);
        const at = now + 5000; // the 1 s lease has ended
        const live = subs.filter((_, i) => i !== 2).map((s) => s.id).sort();
        const page1 = await store.active(T, at, 2);
        const page2 = await store.active(T, at, 10, page1[1]!.id);
        assert.deepEqual([...page1, ...page2].map((s) => s.id), live);
        assert.equal(await store.hasActive(T, at), true);
        assert.equal(await store.hasActive('https://nobody/', at), false);
        assert.equal(await store.countActive(at), 5);
        assert.deepEqual(await store.topicCounts(at, 10), [
          { topic: T, active: 4, expired: 1 },
          { topic: 'https://other/', active: 1, expired: 0 },
        ]);
        assert.deepEqual((await store.list({ topic: T, limit: 10 })).map((s) => s.id), subs.map((s) => s.id).sort());
        const all = await store.list({ limit: 3 });
        const rest = await store.list({ limit: 10, afterId: all[2]!.id });
        assert.equal(all.length + rest.length, 6);
      }));

    it('removes by key or id, and the sweep deletes expired subscriptions and orphaned fetch state', () =>
      withStore(async (store) => {
        const a = await store.upsert({ topic: T, callback: 'https://a/', leaseSeconds: 60 }, now);
        const b = await store.upsert({ topic: T, callback: 'https://b/', leaseSeconds: 60 }, now);
        const c = await store.upsert({ topic: 'https://short/', callback: 'https://c/', leaseSeconds: 1 }, now);
        assert.equal(await store.remove(T, 'https://a/'), true);
        assert.equal(await store.remove(T, 'https://a/'), false);
        assert.equal(await store.removeById(b.id), true);
        assert.equal(await store.removeById(b.id), false);
        assert.equal(await store.getById(a.id), undefined);
        assert.equal(await store.hasActive(T, now), false);
        await store.setFetchState('https://short/', { etag: '"v1"', lastModified: 'Tue, 01 Jan 2030 00:00:00 GMT', contentHash: 'abc', fetchedAt: now });
        assert.deepEqual(await store.getFetchState('https://short/'), { etag: '"v1"', lastModified: 'Tue, 01 Jan 2030 00:00:00 GMT', contentHash: 'abc', fetchedAt: now });
        await store.setFetchState('https://short/', { fetchedAt: now + 1 });
        assert.deepEqual(await store.getFetchState('https://short/'), { fetchedAt: now + 1 }, 'set replaces the whole state');
        assert.equal(await store.sweepExpired(now + 500), 0);
        assert.equal(await store.sweepExpired(now + 1000), 1);
        assert.equal(await store.getById(c.id), undefined);
        assert.equal(await store.getFetchState('https://short/'), undefined);
        assert.deepEqual(await store.topicCounts(now, 10), []);
      }));
  });
}
