import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openSqlite, type SqliteDb } from '../../src/store/sqlite/open.ts';
import { SqliteSubscriptionStore } from '../../src/store/sqlite/subscription-store.ts';

describe('SqliteSubscriptionStore', () => {
  let dir: string;
  let db: SqliteDb;
  let store: SqliteSubscriptionStore;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hookah-subs-'));
    db = openSqlite(join(dir, 'subs.db'));
    store = new SqliteSubscriptionStore(db);
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('upsert creates one subscription per (topic, callback) and a re-subscribe keeps its id', async () => {
    const first = await store.upsert({ topic: 'https://t.example/a', callback: 'https://cb.example/1', leaseSeconds: 60, secret: 's1' }, 1000);
    assert.match(first.id, /^sub_[0-9a-f]{24}$/);
    assert.equal(first.expiresAt, 61_000);
    assert.equal(first.secret, 's1');
    const again = await store.upsert({ topic: 'https://t.example/a', callback: 'https://cb.example/1', leaseSeconds: 120 }, 5000);
    assert.equal(again.id, first.id);
    assert.equal(again.createdAt, 1000);
    assert.equal(again.verifiedAt, 5000);
    assert.equal(again.expiresAt, 125_000);
    assert.equal(again.secret, undefined, 'a re-subscribe without a secret drops the old one');
    assert.equal((await store.list({ topic: 'https://t.example/a', limit: 10 })).length, 1);
  });

  test('active() leaves out expired subscriptions and pages in id order', async () => {
    const topic = 'https://t.example/paged';
    for (let i = 0; i < 5; i++) await store.upsert({ topic, callback: `https://cb.example/p${i}`, leaseSeconds: 10 }, 0);
    await store.upsert({ topic, callback: 'https://cb.example/old', leaseSeconds: 1 }, 0);
    const now = 5000;
    assert.equal(await store.hasActive(topic, now), true);
    const page1 = await store.active(topic, now, 3);
    const page2 = await store.active(topic, now, 3, page1[2]!.id);
    assert.equal(page1.length, 3);
    assert.equal(page2.length, 2);
    const all = [...page1, ...page2];
    assert.deepEqual(all.map((s) => s.id), [...all.map((s) => s.id)].sort());
    assert.ok(!all.some((s) => s.callback.endsWith('/old')));
    assert.equal(await store.hasActive(topic, 20_000), false);
  });

  test('topic counts, sweep of expired subscriptions and removal', async () => {
    const topic = 'https://t.example/sweep';
    await store.upsert({ topic, callback: 'https://cb.example/s1', leaseSeconds: 1 }, 0);
    const keep = await store.upsert({ topic, callback: 'https://cb.example/s2', leaseSeconds: 100 }, 0);
    await store.setFetchState(topic, { etag: '"v1"', fetchedAt: 1 });
    const counts = await store.topicCounts(2000, 100);
    assert.deepEqual(counts.find((c) => c.topic === topic), { topic, active: 1, expired: 1 });
    assert.ok((await store.sweepExpired(2000)) >= 1);
    assert.deepEqual((await store.list({ topic, limit: 10 })).map((s) => s.id), [keep.id]);
    assert.deepEqual(await store.getFetchState(topic), { etag: '"v1"', fetchedAt: 1 });
    assert.equal(await store.removeById(keep.id), true);
    assert.equal(await store.removeById(keep.id), false);
    await store.sweepExpired(2000);
    assert.equal(await store.getFetchState(topic), undefined, 'fetch state goes with the last subscription');
  });

  test('fetch state round-trips', async () => {
    const topic = 'https://t.example/fetch';
    await store.upsert({ topic, callback: 'https://cb.example/f', leaseSeconds: 100 });
    await store.setFetchState(topic, { etag: '"a"', lastModified: 'Wed, 21 Oct 2015 07:28:00 GMT', contentHash: 'abc', fetchedAt: 7 });
    assert.deepEqual(await store.getFetchState(topic), { etag: '"a"', lastModified: 'Wed, 21 Oct 2015 07:28:00 GMT', contentHash: 'abc', fetchedAt: 7 });
    await store.setFetchState(topic, { contentHash: 'def', fetchedAt: 8 });
    assert.deepEqual(await store.getFetchState(topic), { contentHash: 'def', fetchedAt: 8 });
    assert.equal(await store.remove(topic, 'https://cb.example/f'), true);
  });
});
