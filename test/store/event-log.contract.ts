import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NewEvent } from '../../src/core/event.ts';
import type { EventLog, RetentionPolicy } from '../../src/core/ports.ts';

export interface EventLogHarness {
  log: EventLog;
  close(): Promise<void>;
}

/** Opens a fresh, empty log whose retention is `retention(topic)`. */
export type EventLogFactory = (retention: (topic: string) => RetentionPolicy) => Promise<EventLogHarness>;

const ROOMY: RetentionPolicy = { maxCount: 1000, maxBytes: 16 * 1024 * 1024, maxAgeMs: 7 * 24 * 3600_000 };

function ev(topic: string, body: string | Buffer = 'x', extra: Partial<NewEvent> = {}): NewEvent {
  return { topic, headers: {}, contentType: 'text/plain', body: Buffer.isBuffer(body) ? body : Buffer.from(body), source: 'test', ...extra };
}

/**
 * The behaviour every EventLog adapter must have. Registered once per
 * adapter (test/store/sqlite.test.ts, test/store/redis.test.ts).
 */
export function eventLogContract(factory: EventLogFactory): void {
  const withLog = async (fn: (log: EventLog) => Promise<void>, retention: (topic: string) => RetentionPolicy = () => ROOMY) => {
    const h = await factory(retention);
    try {
      await fn(h.log);
    } finally {
      await h.close();
    }
  };

  describe('EventLog contract', () => {
    it('stores an event byte-exact with every field and assigns increasing ids', () =>
      withLog(async (log) => {
        const body = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13, 0x80]);
        const before = Date.now();
        const a = await log.append(ev('a/b', body, { headers: { 'x-one': '1', 'content-type': 'application/x-bin' }, contentType: 'application/x-bin', type: 'created', source: 'dispatch' }));
        const b = await log.append(ev('other'));
        assert.ok(log.compareIds(b.id, a.id) > 0, 'ids increase');
        assert.ok(a.receivedAt >= before && a.receivedAt <= Date.now());
        const got = await log.get(a.id);
        assert.ok(got);
        assert.deepEqual(got.body, body);
        assert.equal(got.topic, 'a/b');
        assert.equal(got.type, 'created');
        assert.equal(got.source, 'dispatch');
        assert.equal(got.contentType, 'application/x-bin');
        assert.deepEqual(got.headers, { 'x-one': '1', 'content-type': 'application/x-bin' });
        assert.equal(got.receivedAt, a.receivedAt);
        assert.equal((await log.get(b.id))?.type, undefined);
      }));

    it('get answers undefined for unknown or malformed ids', () =>
      withLog(async (log) => {
        await log.append(ev('t'));
        assert.equal(await log.get('999999'), undefined);
        assert.equal(await log.get('not-an-id'), undefined);
      }));

    it('lastId is undefined on an empty log and the newest id after appends', () =>
      withLog(async (log) => {
        assert.equal(await log.lastId(), undefined);
        await log.append(ev('t'));
        const b = await log.append(ev('u'));
        assert.equal(await log.lastId(), b.id);
      }));

    it('compareIds orders numerically, not as text', () =>
      withLog(async (log) => {
        assert.ok(log.compareIds('9', '10') < 0);
        assert.ok(log.compareIds('10', '9') > 0);
        assert.equal(log.compareIds('42', '42'), 0);
      }));

    it('reads exact topics after an id, in id order across topics, bounded by limit', () =>
      withLog(async (log) => {
        const ids: string[] = [];
        for (let i = 0; i < 6; i++) ids.push((await log.append(ev(i % 2 ? 'odd' : 'even', String(i)))).id);
        await log.append(ev('unrelated'));
        const all = await log.read({ patterns: ['even', 'odd'], limit: 100 });
        assert.deepEqual(all.events.map((e) => e.body.toString()), ['0', '1', '2', '3', '4', '5']);
        assert.equal(all.gap, false);
        const after = await log.read({ patterns: ['odd', 'even'], afterId: ids[1], limit: 3 });
        assert.deepEqual(after.events.map((e) => e.body.toString()), ['2', '3', '4']);
        const one = await log.read({ patterns: ['odd'], afterId: ids[0], limit: 100 });
        assert.deepEqual(one.events.map((e) => e.body.toString()), ['1', '3', '5']);
        assert.deepEqual((await log.read({ patterns: ['even'], afterId: ids[5], limit: 10 })).events, []);
        assert.deepEqual((await log.read({ patterns: ['nothing-here'], limit: 10 })).events, []);
      }));

    it('reads wildcard patterns: + one segment, # the rest (or none), * everything', () =>
      withLog(async (log) => {
        for (const t of ['orders/eu/created', 'orders/us/created', 'orders/eu/paid', 'orders', 'users/1']) await log.append(ev(t, t));
        const read = async (p: string[]) => (await log.read({ patterns: p, limit: 100 })).events.map((e) => e.topic);
        assert.deepEqual(await read(['orders/+/created']), ['orders/eu/created', 'orders/us/created']);
        assert.deepEqual(await read(['orders/#']), ['orders/eu/created', 'orders/us/created', 'orders/eu/paid', 'orders']);
        assert.deepEqual(await read(['*']), ['orders/eu/created', 'orders/us/created', 'orders/eu/paid', 'orders', 'users/1']);
        assert.deepEqual(await read(['users/+', 'orders/eu/paid']), ['orders/eu/paid', 'users/1']);
        const page = await log.read({ patterns: ['#'], limit: 2 });
        assert.deepEqual(page.events.map((e) => e.topic), ['orders/eu/created', 'orders/us/created']);
      }));

    it('keeps at most maxCount events per topic and reports the gap to a reader that fell behind', () =>
      withLog(
        async (log) => {
          const ids: string[] = [];
          for (let i = 0; i < 5; i++) ids.push((await log.append(ev('small', String(i)))).id);
          const other = await log.append(ev('big', 'b'));
          const all = await log.read({ patterns: ['small'], limit: 100 });
          assert.deepEqual(all.events.map((e) => e.body.toString()), ['2', '3', '4']);
          const behind = await log.read({ patterns: ['small'], afterId: ids[0], limit: 100 });
          assert.equal(behind.gap, true);
          assert.deepEqual(behind.events.map((e) => e.body.toString()), ['2', '3', '4']);
          assert.equal((await log.read({ patterns: ['small'], afterId: ids[1], limit: 100 })).gap, false, 'nothing after id 2 was dropped');
          assert.equal((await log.read({ patterns: ['big'], afterId: ids[0], limit: 100 })).gap, false, 'other topics keep their gap apart');
          assert.equal((await log.read({ patterns: ['+'], afterId: ids[0], limit: 100 })).gap, true, 'wildcards see the gap of matching topics');
          assert.equal(await log.get(ids[0]!), undefined, 'trimmed events are gone');
          assert.ok(await log.get(other.id));
        },
        (topic) => (topic === 'small' ? { ...ROOMY, maxCount: 3 } : ROOMY),
      ));

    it('keeps a topic under maxBytes, but always its newest event', () =>
      withLog(
        async (log) => {
          for (let i = 0; i < 4; i++) await log.append(ev('t', 'x'.repeat(40)));
          const kept = (await log.read({ patterns: ['t'], limit: 100 })).events;
          assert.equal(kept.length, 2);
          await log.append(ev('t', 'y'.repeat(500)));
          const last = (await log.read({ patterns: ['t'], limit: 100 })).events;
          assert.equal(last.length, 1);
          assert.equal(last[0]!.body.length, 500);
          const [info] = await log.topics();
          assert.equal(info!.bytes, 500);
          assert.equal(info!.count, 1);
        },
        () => ({ ...ROOMY, maxBytes: 100 }),
      ));

    it('sweep drops events older than maxAge and counts them', () =>
      withLog(
        async (log) => {
          const a = await log.append(ev('aging', '1'));
          await log.append(ev('aging', '2'));
          await log.append(ev('fresh', '3'));
          assert.equal(await log.sweep(Date.now()), 0, 'nothing is old yet');
          const removed = await log.sweep(Date.now() + 120_000);
          assert.equal(removed, 2);
          assert.deepEqual((await log.read({ patterns: ['aging'], limit: 10 })).events, []);
          assert.equal((await log.read({ patterns: ['aging'], afterId: String(Number(a.id) - 1), limit: 10 })).gap, true);
          assert.equal((await log.read({ patterns: ['fresh'], limit: 10 })).events.length, 1);
        },
        (topic) => (topic === 'aging' ? { ...ROOMY, maxAgeMs: 60_000 } : ROOMY),
      ));

    it('topics lists count, bytes and the newest id and time, sorted by name', () =>
      withLog(async (log) => {
        await log.append(ev('b', '12345'));
        const a1 = await log.append(ev('a', '1'));
        const a2 = await log.append(ev('a', '12'));
        const infos = await log.topics();
        assert.deepEqual(
          infos.map((t) => [t.topic, t.count, t.bytes, t.lastId]),
          [
            ['a', 2, 3, a2.id],
            ['b', 1, 5, infos[1]!.lastId],
          ],
        );
        assert.equal(infos[0]!.lastAt, a2.receivedAt);
        assert.ok(log.compareIds(a1.id, infos[1]!.lastId!) > 0);
      }));

    it('gives concurrent appends distinct ids and reads them back in id order', () =>
      withLog(async (log) => {
        const stored = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(ev(i % 3 ? 'p' : 'q', String(i)))));
        assert.equal(new Set(stored.map((e) => e.id)).size, 50);
        const read = await log.read({ patterns: ['p', 'q'], limit: 100 });
        assert.equal(read.events.length, 50);
        for (let i = 1; i < read.events.length; i++) assert.ok(log.compareIds(read.events[i]!.id, read.events[i - 1]!.id) > 0);
      }));

    it('reads a large body back intact', () =>
      withLog(async (log) => {
        const body = Buffer.alloc(600 * 1024, 7);
        body[12345] = 0;
        const e = await log.append(ev('large', body));
        assert.deepEqual((await log.get(e.id))?.body, body);
        assert.deepEqual((await log.read({ patterns: ['large'], limit: 1 })).events[0]?.body, body);
      }));
  });
}
