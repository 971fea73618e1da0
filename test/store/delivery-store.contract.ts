import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeliveryStore, NewDelivery } from '../../src/dispatcher/ports.ts';
import type { AttemptRecord } from '../../src/dispatcher/types.ts';
import { waitFor } from '../helpers/wait.ts';

export interface DeliveryStoreHarness {
  store: DeliveryStore;
  /** A second handle on the same data, as another worker or node would have. */
  another(): Promise<DeliveryStore>;
  close(): Promise<void>;
}

/** Opens a fresh, empty delivery store. */
export type DeliveryStoreFactory = () => Promise<DeliveryStoreHarness>;

function delivery(extra: Partial<NewDelivery> = {}): NewDelivery {
  return {
    kind: 'dispatch',
    url: 'http://127.0.0.1:9/hook',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: Buffer.from('{"n":1}'),
    maxAttempts: 3,
    timeoutMs: 1000,
    sign: true,
    nextAttemptAt: Date.now(),
    ...extra,
  };
}

const attempt = (n: number, extra: Partial<AttemptRecord> = {}): AttemptRecord => ({ n, startedAt: Date.now(), durationMs: 5, ...extra });

/**
 * The behaviour every DeliveryStore adapter must have. Registered once per
 * adapter (test/store/sqlite.test.ts, test/store/redis.test.ts).
 */
export function deliveryStoreContract(factory: DeliveryStoreFactory): void {
  const withStore = async (fn: (store: DeliveryStore, h: DeliveryStoreHarness) => Promise<void>) => {
    const h = await factory();
    try {
      await fn(h.store, h);
    } finally {
      await h.close();
    }
  };

  describe('DeliveryStore contract', () => {
    it('inserts a pending delivery and returns every field from get', () =>
      withStore(async (store) => {
        const body = Buffer.from([0, 0xff, 10, 0x80]);
        const before = Date.now();
        const r = await store.insert(
          delivery({ body, kind: 'websub', errback: 'http://e/', callback: 'http://c/', ref: 'sub_1', topic: 't', eventId: '7', sign: false, nextAttemptAt: before + 60_000 }),
        );
        assert.equal(r.duplicate, false);
        assert.match(r.id, /^msg_/);
        assert.ok(r.createdAt >= before);
        const rec = await store.get(r.id);
        assert.ok(rec);
        assert.equal(rec.status, 'pending');
        assert.equal(rec.kind, 'websub');
        assert.equal(rec.url, 'http://127.0.0.1:9/hook');
        assert.equal(rec.method, 'POST');
        assert.equal(rec.attemptCount, 0);
        assert.equal(rec.maxAttempts, 3);
        assert.equal(rec.timeoutMs, 1000);
        assert.equal(rec.nextAttemptAt, before + 60_000);
        assert.equal(rec.createdAt, r.createdAt);
        assert.equal(rec.errback, 'http://e/');
        assert.equal(rec.callback, 'http://c/');
        assert.equal(rec.ref, 'sub_1');
        assert.equal(rec.topic, 't');
        assert.equal(rec.eventId, '7');
        assert.equal(rec.deliveredAt, undefined);
        assert.equal(rec.lastError, undefined);
        assert.deepEqual(rec.attempts, []);
        assert.equal(await store.get('msg_unknown'), undefined);
      }));

    it('claims only due work, oldest due first, as a lease with the payload', () =>
      withStore(async (store) => {
        const now = Date.now();
        const later = await store.insert(delivery({ nextAttemptAt: now + 60_000 }));
        const second = await store.insert(delivery({ nextAttemptAt: now - 1000, body: Buffer.from('second') }));
        const first = await store.insert(delivery({ nextAttemptAt: now - 2000, body: Buffer.from('first'), headers: { a: 'b' }, sign: false }));
        const claimed = await store.claimDue(now, 10, now + 30_000);
        assert.deepEqual(claimed.map((d) => d.id), [first.id, second.id]);
        const d = claimed[0]!;
        assert.deepEqual(d.body, Buffer.from('first'));
        assert.deepEqual(d.headers, { a: 'b' });
        assert.equal(d.sign, false);
        assert.equal(d.attemptCount, 0);
        assert.equal(d.createdAt, first.createdAt);
        assert.equal((await store.get(first.id))?.status, 'in_flight');
        assert.deepEqual(await store.claimDue(now, 10, now + 30_000), [], 'a lease is exclusive');
        assert.equal((await store.get(later.id))?.status, 'pending');
      }));

    it('keeps insertion order among deliveries due at the same time, and respects the limit', () =>
      withStore(async (store) => {
        const at = Date.now() - 10;
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await store.insert(delivery({ nextAttemptAt: at }))).id);
        const a = await store.claimDue(Date.now(), 2, Date.now() + 30_000);
        const b = await store.claimDue(Date.now(), 10, Date.now() + 30_000);
        assert.deepEqual([...a, ...b].map((d) => d.id), ids);
        assert.equal(a.length, 2);
      }));

    it('an expired lease can be claimed again (a crashed worker), a live one cannot', () =>
      withStore(async (store) => {
        const now = Date.now();
        const r = await store.insert(delivery({ nextAttemptAt: now - 1 }));
        await store.claimDue(now, 10, now + 1000);
        assert.deepEqual(await store.claimDue(now + 999, 10, now + 5000), []);
        const again = await store.claimDue(now + 1000, 10, now + 5000);
        assert.deepEqual(again.map((d) => d.id), [r.id]);
        assert.deepEqual(await store.claimDue(now + 4000, 10, now + 9000), [], 'the new lease holds');
      }));

    it('renewLeases keeps a held delivery from being claimed again, and leaves finished ones alone', () =>
      withStore(async (store) => {
        const now = Date.now();
        const held = await store.insert(delivery({ nextAttemptAt: now - 1 }));
        const done = await store.insert(delivery({ nextAttemptAt: now - 1 }));
        await store.claimDue(now, 10, now + 1000);
        await store.finishAttempt(done.id, attempt(1, { status: 200 }), { status: 'delivered', at: now });
        await store.renewLeases([held.id, done.id, 'msg_unknown'], now + 10_000);
        assert.deepEqual(await store.claimDue(now + 5000, 10, now + 20_000), [], 'the renewed lease holds past the old one');
        assert.equal((await store.get(done.id))!.status, 'delivered');
        assert.deepEqual((await store.claimDue(now + 10_000, 10, now + 20_000)).map((d) => d.id), [held.id]);
      }));

    it('claimDue caps each host at its room and finds other hosts behind a capped backlog', () =>
      withStore(async (store) => {
        const now = Date.now();
        const slow = 'http://127.0.0.1:1';
        const a: string[] = [];
        for (let i = 0; i < 8; i++) a.push((await store.insert(delivery({ url: `${slow}/${i}`, nextAttemptAt: now - 100 + i }))).id);
        const b = (await store.insert(delivery({ url: 'http://127.0.0.1:2/b', nextAttemptAt: now - 10 }))).id;
        const c = (await store.insert(delivery({ url: 'http://127.0.0.2/c', nextAttemptAt: now - 5 }))).id;
        const later = (await store.insert(delivery({ url: 'http://127.0.0.1:2/later', nextAttemptAt: now + 60_000 }))).id;
        // The first four due are all the slow host's; it may take one more (cap 2, one held).
        const first = await store.claimDue(now, 4, now + 60_000, { cap: 2, held: new Map([['127.0.0.1:1', 1]]) });
        assert.deepEqual(first.map((d) => d.id).sort(), [a[0], b, c].sort());
        assert.ok(!first.some((d) => d.id === later), 'work not yet due is never claimed');
        const capped = await store.claimDue(now, 4, now + 60_000, { cap: 2, held: new Map([['127.0.0.1:1', 2]]) });
        assert.deepEqual(capped, [], 'a host at its cap gets nothing, and nothing else is due');
        const freed = await store.claimDue(now, 4, now + 60_000, { cap: 3, held: new Map([['127.0.0.1:1', 1]]) });
        assert.deepEqual(freed.map((d) => d.id), [a[1], a[2]], 'oldest due first within a host');
        const unlimited = await store.claimDue(now, 10, now + 60_000);
        assert.deepEqual(unlimited.map((d) => d.id), a.slice(3), 'without a cap, everything due');
      }));

    it('claimDue goes round the hosts in turn when a capped host fills the due-order window', () =>
      withStore(async (store) => {
        const now = Date.now();
        for (let i = 0; i < 4; i++) await store.insert(delivery({ url: `http://127.0.0.1:1/${i}`, nextAttemptAt: now - 100 }));
        for (const port of [2, 3]) for (let i = 0; i < 4; i++) await store.insert(delivery({ url: `http://127.0.0.1:${port}/${i}`, nextAttemptAt: now - 50 }));
        const order: string[] = [];
        for (let round = 0; round < 4; round++) {
          const got = await store.claimDue(now, 1, now + 60_000, { cap: 1, held: new Map([['127.0.0.1:1', 1]]) });
          order.push(...got.map((d) => new URL(d.url).port));
        }
        assert.deepEqual(order, ['2', '3', '2', '3'], 'each claim goes on from the host the last one stopped at');
      }));

    it("claimDue puts a capped host's expired leases back among the waiting, so other hosts' expired leases are reached", () =>
      withStore(async (store) => {
        const now = Date.now();
        const slow: string[] = [];
        for (let i = 0; i < 4; i++) slow.push((await store.insert(delivery({ url: `http://127.0.0.1:1/${i}`, nextAttemptAt: now - 10 }))).id);
        assert.equal((await store.claimDue(now, 10, now + 100)).length, 4, 'a worker takes everything, then dies');
        // Its lease runs out last, behind all of the capped host's.
        const other = (await store.insert(delivery({ url: 'http://127.0.0.1:2/x', nextAttemptAt: now - 10 }))).id;
        assert.equal((await store.claimDue(now, 10, now + 200)).length, 1);
        const later = now + 1000;
        const got: string[] = [];
        for (let round = 0; round < 4 && !got.includes(other); round++) {
          got.push(...(await store.claimDue(later, 2, later + 60_000, { cap: 1, held: new Map([['127.0.0.1:1', 1]]) })).map((d) => d.id));
        }
        assert.deepEqual(got, [other], 'the other host is reached; the capped one gets nothing');
        for (const id of slow) assert.equal((await store.get(id))?.status, 'pending', 'what the claims passed over waits as pending');
        const freed = await store.claimDue(later, 10, later + 60_000, { cap: 2, held: new Map() });
        assert.equal(freed.length, 2, 'once it has room, the capped host is served again');
        assert.ok(freed.every((d) => slow.includes(d.id)));
      }));

    it('never gives the same delivery to two concurrent claimers', () =>
      withStore(async (store, h) => {
        const other = await h.another();
        const now = Date.now();
        for (let i = 0; i < 40; i++) await store.insert(delivery({ nextAttemptAt: now - 1 }));
        const claims = await Promise.all([
          store.claimDue(now, 15, now + 60_000),
          other.claimDue(now, 15, now + 60_000),
          store.claimDue(now, 15, now + 60_000),
          other.claimDue(now, 15, now + 60_000),
        ]);
        const ids = claims.flat().map((d) => d.id);
        assert.equal(ids.length, 40);
        assert.equal(new Set(ids).size, 40);
      }));

    it('an insert with leaseUntil is already claimed by its inserter', () =>
      withStore(async (store) => {
        const now = Date.now();
        const r = await store.insert(delivery({ nextAttemptAt: now, leaseUntil: now + 1000 }));
        assert.equal((await store.get(r.id))?.status, 'in_flight');
        assert.deepEqual(await store.claimDue(now + 10, 10, now + 5000), []);
        assert.deepEqual((await store.claimDue(now + 1000, 10, now + 5000)).map((d) => d.id), [r.id], 'claimable once the lease expires');
      }));

    it('finishAttempt records delivered, retry-later and failed outcomes with their attempts', () =>
      withStore(async (store) => {
        const now = Date.now();
        const ok = await store.insert(delivery({ nextAttemptAt: now - 1 }));
        const retry = await store.insert(delivery({ nextAttemptAt: now - 1 }));
        const bad = await store.insert(delivery({ nextAttemptAt: now - 1 }));
        await store.claimDue(now, 10, now + 60_000);

        await store.finishAttempt(ok.id, attempt(1, { status: 200, responseExcerpt: 'fine' }), { status: 'delivered', at: now + 5 });
        const okRec = (await store.get(ok.id))!;
        assert.equal(okRec.status, 'delivered');
        assert.equal(okRec.deliveredAt, now + 5);
        assert.equal(okRec.attemptCount, 1);
        assert.equal(okRec.nextAttemptAt, undefined);
        assert.deepEqual(
          okRec.attempts.map((a) => [a.n, a.status, a.responseExcerpt, a.error]),
          [[1, 200, 'fine', undefined]],
        );

        await store.finishAttempt(retry.id, attempt(1, { status: 503 }), { status: 'pending', nextAttemptAt: now + 500, error: 'destination answered 503' });
        const retryRec = (await store.get(retry.id))!;
        assert.equal(retryRec.status, 'pending');
        assert.equal(retryRec.nextAttemptAt, now + 500);
        assert.equal(retryRec.lastError, 'destination answered 503');
        assert.deepEqual(await store.claimDue(now + 499, 10, now + 60_000), []);
        const again = await store.claimDue(now + 500, 10, now + 60_000);
        assert.deepEqual(again.map((d) => [d.id, d.attemptCount]), [[retry.id, 1]]);
        await store.finishAttempt(retry.id, attempt(2, { error: 'connection refused' }), { status: 'failed', error: 'gave up' });
        const failedRec = (await store.get(retry.id))!;
        assert.equal(failedRec.status, 'failed');
        assert.equal(failedRec.lastError, 'gave up');
        assert.equal(failedRec.nextAttemptAt, undefined);
        assert.deepEqual(failedRec.attempts.map((a) => [a.n, a.status, a.error]), [[1, 503, undefined], [2, undefined, 'connection refused']]);

        await store.finishAttempt(bad.id, attempt(1, { status: 410 }), { status: 'failed', error: 'gone' });
        assert.equal((await store.get(bad.id))?.status, 'failed');
        assert.deepEqual(await store.claimDue(now + 100_000, 10, now + 200_000), [], 'finished work is never claimed');
        assert.equal(await store.nextDueAt(), undefined);
      }));

    it('finishAttempt stores a follow-up (errback or callback) in the same write as the outcome', () =>
      withStore(async (store) => {
        const now = Date.now();
        const failed = await store.insert(delivery({ nextAttemptAt: now - 1, errback: 'http://127.0.0.1:9/errback' }));
        const plain = await store.insert(delivery({ nextAttemptAt: now - 1 }));
        await store.claimDue(now, 10, now + 60_000);
        const report = Buffer.from([0x7b, 0x7d, 0xff]);
        const followed = await store.finishAttempt(failed.id, attempt(1, { status: 500 }), { status: 'failed', error: 'gave up' }, delivery({
          kind: 'errback',
          url: 'http://127.0.0.1:9/errback',
          body: report,
          ref: failed.id,
          nextAttemptAt: now + 1000,
        }));
        assert.ok(followed);
        assert.notEqual(followed.id, failed.id);
        assert.ok(followed.createdAt >= now);
        const f = (await store.get(followed.id))!;
        assert.deepEqual([f.kind, f.status, f.ref, f.nextAttemptAt], ['errback', 'pending', failed.id, now + 1000]);
        assert.deepEqual((await store.claimDue(now + 1000, 10, now + 60_000)).map((d) => [d.id, d.body]), [[followed.id, report]]);
        assert.equal((await store.get(failed.id))?.status, 'failed');

        assert.equal(await store.finishAttempt(plain.id, attempt(1, { status: 200 }), { status: 'delivered', at: now }), undefined);
        const held = await store.finishAttempt('msg_unknown', attempt(1), { status: 'delivered', at: now }, delivery({ kind: 'callback', leaseUntil: now + 60_000 }));
        assert.equal((await store.get(held!.id))?.status, 'in_flight', 'a follow-up may be inserted already claimed, even when its parent is gone');
        assert.equal(await store.countUnfinished(), 2, 'the claimed errback and the held callback');
      }));

    it('release gives unstarted claims back at once', () =>
      withStore(async (store) => {
        const now = Date.now();
        const a = await store.insert(delivery({ nextAttemptAt: now - 1 }));
        await store.claimDue(now, 10, now + 60_000);
        await store.release([a.id, 'msg_unknown']);
        assert.equal((await store.get(a.id))?.status, 'pending');
        assert.deepEqual((await store.claimDue(Date.now(), 10, now + 60_000)).map((d) => d.id), [a.id]);
      }));

    it('recoverInFlight makes expired leases claimable', () =>
      withStore(async (store) => {
        const now = Date.now();
        const a = await store.insert(delivery({ nextAttemptAt: now - 1 }));
        await store.claimDue(now, 10, now + 1000);
        const n = await store.recoverInFlight(now + 2000);
        assert.equal(n, 1);
        const rec = (await store.get(a.id))!;
        assert.equal(rec.status, 'pending');
        assert.ok(rec.nextAttemptAt! <= now + 2000);
        assert.deepEqual((await store.claimDue(now + 2000, 10, now + 60_000)).map((d) => d.id), [a.id]);
      }));

    it('retryNow: unknown, delivered, and a failed message gets one more attempt now', () =>
      withStore(async (store) => {
        const now = Date.now();
        assert.equal(await store.retryNow('msg_unknown', now), 'not_found');
        const done = await store.insert(delivery({ nextAttemptAt: now - 1, maxAttempts: 1 }));
        const failed = await store.insert(delivery({ nextAttemptAt: now - 1, maxAttempts: 1 }));
        const waiting = await store.insert(delivery({ nextAttemptAt: now + 3_600_000 }));
        await store.claimDue(now, 10, now + 60_000);
        await store.finishAttempt(done.id, attempt(1, { status: 200 }), { status: 'delivered', at: now });
        await store.finishAttempt(failed.id, attempt(1, { status: 500 }), { status: 'failed', error: 'gave up' });
        assert.equal(await store.retryNow(done.id, now), 'delivered');
        assert.equal(await store.retryNow(failed.id, now + 10), 'ok');
        assert.equal(await store.retryNow(waiting.id, now + 10), 'ok');
        const f = (await store.get(failed.id))!;
        assert.equal(f.status, 'pending');
        assert.equal(f.maxAttempts, 2);
        assert.equal(f.nextAttemptAt, now + 10);
        const claimed = await store.claimDue(now + 10, 10, now + 60_000);
        assert.deepEqual(new Set(claimed.map((d) => d.id)), new Set([failed.id, waiting.id]));
      }));

    it('nextDueAt is the earliest pending due time', () =>
      withStore(async (store) => {
        assert.equal(await store.nextDueAt(), undefined);
        const now = Date.now();
        await store.insert(delivery({ nextAttemptAt: now + 5000 }));
        await store.insert(delivery({ nextAttemptAt: now + 3000 }));
        assert.equal(await store.nextDueAt(), now + 3000);
      }));

    it('stats counts deliveries by state', () =>
      withStore(async (store) => {
        const now = Date.now();
        const a = await store.insert(delivery({ nextAttemptAt: now - 1 }));
        const b = await store.insert(delivery({ nextAttemptAt: now - 1 }));
        await store.insert(delivery({ nextAttemptAt: now + 60_000 }));
        await store.claimDue(now, 2, now + 60_000);
        await store.finishAttempt(a.id, attempt(1), { status: 'delivered', at: now });
        assert.deepEqual(await store.stats(), { pending: 1, inFlight: 1, delivered: 1, failed: 0 });
        await store.finishAttempt(b.id, attempt(1), { status: 'failed', error: 'x' });
        assert.deepEqual(await store.stats(), { pending: 1, inFlight: 0, delivered: 1, failed: 1 });
      }));

    it('lists newest first, filtered by status and kind, paged with beforeId', () =>
      withStore(async (store) => {
        const now = Date.now();
        const ids: string[] = [];
        for (let i = 0; i < 6; i++) ids.push((await store.insert(delivery({ kind: i % 2 ? 'websub' : 'dispatch', nextAttemptAt: now + 60_000 }))).id);
        const all = await store.list({ limit: 100 });
        assert.deepEqual(all.map((r) => r.id), [...ids].reverse());
        const page1 = await store.list({ limit: 2 });
        const page2 = await store.list({ limit: 2, beforeId: page1[1]!.id });
        assert.ok(page1.every((r) => !('attempts' in r) && !('body' in r)), 'listings are summaries');
        assert.equal(page1[0]!.url, 'http://127.0.0.1:9/hook');
        assert.deepEqual([...page1, ...page2].map((r) => r.id), [ids[5], ids[4], ids[3], ids[2]]);
        assert.deepEqual((await store.list({ kind: 'websub', limit: 100 })).map((r) => r.id), [ids[5], ids[3], ids[1]]);
        assert.deepEqual((await store.list({ kind: 'websub', limit: 2, beforeId: ids[5] })).map((r) => r.id), [ids[3], ids[1]]);
        await store.retryNow(ids[0]!, now);
        await store.claimDue(now, 1, now + 60_000);
        assert.deepEqual((await store.list({ status: 'in_flight', limit: 10 })).map((r) => r.id), [ids[0]]);
        assert.deepEqual((await store.list({ status: 'pending', kind: 'dispatch', limit: 10 })).map((r) => r.id), [ids[4], ids[2]]);
        assert.deepEqual(await store.list({ limit: 10, beforeId: 'msg_unknown' }), []);
      }));

    it('an idempotency key returns the first delivery until its TTL ends', () =>
      withStore(async (store) => {
        const first = await store.insert(delivery(), { key: 'k1', ttlMs: 300 });
        const again = await store.insert(delivery(), { key: 'k1', ttlMs: 300 });
        assert.deepEqual([again.id, again.duplicate], [first.id, true]);
        const other = await store.insert(delivery(), { key: 'k2', ttlMs: 300 });
        assert.notEqual(other.id, first.id);
        assert.equal((await store.list({ limit: 10 })).length, 2, 'the duplicate stored nothing');
        const fresh = await waitFor(async () => {
          await store.purgeExpiredKeys(Date.now());
          const r = await store.insert(delivery(), { key: 'k1', ttlMs: 300 });
          return r.duplicate ? undefined : r;
        }, 'the idempotency key to expire');
        assert.notEqual(fresh.id, first.id);
      }));

    it('purgeFinished deletes delivered and failed deliveries accepted before the cutoff, oldest first, and nothing else', () =>
      withStore(async (store) => {
        const now = Date.now();
        const make = async (outcome: 'delivered' | 'failed' | 'pending' | 'in_flight') => {
          // Pending ones wait an hour, so later claims never pick them.
          const { id } = await store.insert(delivery({ nextAttemptAt: outcome === 'pending' ? now + 3_600_000 : now }));
          if (outcome === 'pending') return id;
          const [claimed] = await store.claimDue(now, 1, now + 60_000);
          assert.equal(claimed!.id, id);
          if (outcome === 'delivered') await store.finishAttempt(id, attempt(1, { status: 200 }), { status: 'delivered', at: Date.now() });
          if (outcome === 'failed') await store.finishAttempt(id, attempt(1, { status: 500 }), { status: 'failed', error: 'gave up' });
          return id;
        };
        // Unfinished ones first: more of them than a purge batch must not stall it.
        const waiting = [];
        for (let i = 0; i < 12; i++) waiting.push(await make('pending'));
        const failed = await make('failed');
        const delivered1 = await make('delivered');
        const inFlight = await make('in_flight');
        const delivered2 = await make('delivered');
        // A cutoff strictly after every acceptance so far, and one delivery accepted after it.
        const created = Math.max(...(await Promise.all([...waiting, failed, delivered1, inFlight, delivered2].map(async (id) => (await store.get(id))!.createdAt))));
        await waitFor(() => Date.now() > created, 'the clock to move past the last acceptance');
        const cutoff = Date.now();
        await waitFor(() => Date.now() > cutoff, 'the clock to move past the cutoff');
        const young = await make('delivered');
        assert.equal(await store.countUnfinished(), 13);

        assert.equal(await store.purgeFinished(cutoff, 1), 1, 'the limit holds');
        assert.equal(await store.get(failed), undefined, 'the oldest finished delivery goes first, whatever its status');
        assert.ok(await store.get(delivered1));
        assert.equal(await store.purgeFinished(cutoff, 2), 2);
        for (const id of [delivered1, delivered2]) assert.equal(await store.get(id), undefined, 'gone with its attempts');
        for (const id of [...waiting, inFlight, young]) assert.ok(await store.get(id), 'unfinished and young deliveries stay');
        assert.equal(await store.purgeFinished(cutoff, 100), 0);
        assert.deepEqual((await store.list({ limit: 3 })).map((r) => r.id), [young, inFlight, waiting[11]]);
        assert.deepEqual(await store.stats(), { pending: 12, inFlight: 1, delivered: 1, failed: 0 });
        assert.equal(await store.countUnfinished(), 13);
      }));

    it('countUnfinished and stats follow inserts, final outcomes, retries of failed deliveries and purges', () =>
      withStore(async (store) => {
        const now = Date.now();
        assert.equal(await store.countUnfinished(), 0);
        assert.deepEqual(await store.stats(), { pending: 0, inFlight: 0, delivered: 0, failed: 0 });
        const a = await store.insert(delivery());
        const b = await store.insert(delivery());
        assert.equal(await store.countUnfinished(), 2);
        await store.claimDue(now, 2, now + 60_000);
        await store.finishAttempt(a.id, attempt(1, { status: 200 }), { status: 'delivered', at: now });
        await store.finishAttempt(b.id, attempt(1, { status: 500 }), { status: 'pending', nextAttemptAt: now, error: '500' });
        assert.equal(await store.countUnfinished(), 1);
        await store.claimDue(now, 1, now + 60_000);
        await store.finishAttempt(b.id, attempt(2, { status: 500 }), { status: 'failed', error: 'gave up' });
        assert.equal(await store.countUnfinished(), 0);
        assert.deepEqual(await store.stats(), { pending: 0, inFlight: 0, delivered: 1, failed: 1 });
        assert.equal(await store.retryNow(b.id, now), 'ok');
        assert.equal(await store.countUnfinished(), 1);
        assert.deepEqual(await store.stats(), { pending: 1, inFlight: 0, delivered: 1, failed: 0 });
        await waitFor(() => Date.now() > Math.max(a.createdAt, b.createdAt), 'the clock to pass the acceptances');
        assert.equal(await store.purgeFinished(Date.now(), 10), 1);
        assert.deepEqual(await store.stats(), { pending: 1, inFlight: 0, delivered: 0, failed: 0 });
        const again = await store.insert(delivery(), { key: 'same', ttlMs: 60_000 });
        await store.insert(delivery(), { key: 'same', ttlMs: 60_000 });
        assert.equal(await store.countUnfinished(), 2, 'a duplicate adds nothing');
        assert.ok(again.id);
      }));

    it('a key held for one fingerprint is a conflict for another, a duplicate for the same or none', () =>
      withStore(async (store) => {
        const first = await store.insert(delivery(), { key: 'k', ttlMs: 60_000, fingerprint: 'a' });
        const same = await store.insert(delivery(), { key: 'k', ttlMs: 60_000, fingerprint: 'a' });
        const other = await store.insert(delivery(), { key: 'k', ttlMs: 60_000, fingerprint: 'b' });
        const unprinted = await store.insert(delivery(), { key: 'k', ttlMs: 60_000 });
        assert.deepEqual([same.id, same.duplicate, !!same.conflict], [first.id, true, false]);
        assert.deepEqual([other.id, other.duplicate, other.conflict], [first.id, true, true]);
        assert.deepEqual([unprinted.id, unprinted.duplicate, !!unprinted.conflict], [first.id, true, false]);
        const legacy = await store.insert(delivery(), { key: 'old', ttlMs: 60_000 });
        const later = await store.insert(delivery(), { key: 'old', ttlMs: 60_000, fingerprint: 'c' });
        assert.deepEqual([later.id, !!later.conflict], [legacy.id, false], 'a key stored without a fingerprint never conflicts');
        assert.equal(await store.countUnfinished(), 2);
      }));

    it('findIdempotent answers the delivery an unexpired key stands for', () =>
      withStore(async (store) => {
        const first = await store.insert(delivery(), { key: 'known', ttlMs: 60_000 });
        const printed = await store.insert(delivery(), { key: 'printed', ttlMs: 60_000, fingerprint: 'fp1' });
        assert.deepEqual(await store.findIdempotent('known', Date.now()), { id: first.id });
        assert.deepEqual(await store.findIdempotent('printed', Date.now()), { id: printed.id, fingerprint: 'fp1' });
        assert.equal(await store.findIdempotent('unknown', Date.now()), undefined);
      }));

    it('purgeExpiredKeys answers a count', () =>
      withStore(async (store) => {
        assert.equal(typeof (await store.purgeExpiredKeys(Date.now())), 'number');
      }));
  });
}
