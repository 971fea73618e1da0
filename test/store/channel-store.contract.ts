import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChannelStore, ForwardedRequest } from '../../src/edges/tunnel/ports.ts';

export interface ChannelStoreHarness {
  store: ChannelStore;
  /** The same storage through a second adapter instance (another connection / node). */
  another(): Promise<ChannelStore>;
  close(): Promise<void>;
}

export type ChannelStoreFactory = () => Promise<ChannelStoreHarness>;

const req = (body: string | Buffer, extra: Partial<ForwardedRequest> = {}): ForwardedRequest => ({
  method: 'POST',
  path: '/x',
  query: 'a=1',
  headers: { 'set-cookie': ['a', 'b'], 'content-type': 'text/plain' },
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  ...extra,
});
const bounds = { maxCount: 10, maxBytes: 10, maxTotalBytes: 15 };
const isFull = (r: unknown): string => {
  assert.ok(r && typeof r === 'object' && 'full' in r, `expected a full answer, got ${JSON.stringify(r)}`);
  return (r as { full: string }).full;
};
const idOf = (r: unknown): string => {
  assert.ok(r && typeof r === 'object' && 'id' in r, `expected an id, got ${JSON.stringify(r)}`);
  return (r as { id: string }).id;
};

/** The behaviour every ChannelStore adapter (tunnel channels, gateway sessions, offline queue) must have. */
export function channelStoreContract(factory: ChannelStoreFactory): void {
  const withStore = async (fn: (store: ChannelStore, h: ChannelStoreHarness) => Promise<void>) => {
    const h = await factory();
    try {
      await fn(h.store, h);
    } finally {
      await h.close();
    }
  };

  describe('ChannelStore contract', () => {
    it('creates, gets, touches (forward only), sets cursors, counts and removes channels', () =>
      withStore(async (store) => {
        assert.equal(await store.get('a'), undefined);
        assert.equal(await store.count(), 0);
        const a = await store.create({ id: 'a', kind: 'tunnel', tokenHash: 'h1' }, 1000);
        assert.deepEqual(a, { id: 'a', kind: 'tunnel', tokenHash: 'h1', createdAt: 1000, lastUsedAt: 1000 });
        const s = await store.create({ id: 's', kind: 'gateway', tokenHash: 'h2', cursor: '7' }, 2000);
        assert.equal(s.cursor, '7');
        assert.deepEqual(await store.get('a'), a);
        assert.equal(await store.count(), 2);

        await store.touch('a', 5000);
        await store.touch('a', 3000);
        assert.equal((await store.get('a'))!.lastUsedAt, 5000, 'last use never goes back');
        await store.touch('missing', 5000);
        assert.equal(await store.get('missing'), undefined, 'touch does not create');

        await store.setCursor('s', '42');
        assert.equal((await store.get('s'))!.cursor, '42');
        await store.setCursor('missing', '1');
        assert.equal(await store.get('missing'), undefined, 'setCursor does not create');

        assert.equal(await store.remove('a'), true);
        assert.equal(await store.remove('a'), false);
        assert.equal(await store.get('a'), undefined);
        assert.equal(await store.count(), 1);
      }));

    it('queues in arrival order with exact bytes and headers; ack removes one entry of its own channel', () =>
      withStore(async (store) => {
        await store.create({ id: 'a', kind: 'tunnel', tokenHash: 'h' });
        await store.create({ id: 'b', kind: 'tunnel', tokenHash: 'h' });
        const binary = Buffer.from([0, 255, 13, 10, 0xc3, 0x28]);
        const first = idOf(await store.enqueue('a', req(binary, { method: 'PUT', path: '/p%2Fq', query: '' }), { maxCount: 10, maxBytes: 100, maxTotalBytes: 100 }, 1234));
        const other = idOf(await store.enqueue('b', req('bb'), { maxCount: 10, maxBytes: 100, maxTotalBytes: 100 }));
        const second = idOf(await store.enqueue('a', req('second'), { maxCount: 10, maxBytes: 100, maxTotalBytes: 100 }));
        assert.ok(Number(first) < Number(other) && Number(other) < Number(second), 'ids increase in arrival order across channels');

        const head = await store.peek('a');
        assert.deepEqual(head, {
          id: first,
          channel: 'a',
          receivedAt: 1234,
          request: { method: 'PUT', path: '/p%2Fq', query: '', headers: { 'set-cookie': ['a', 'b'], 'content-type': 'text/plain' }, body: binary },
        });
        assert.equal(await store.ack('b', first), false, 'an id of another channel is not acked');
        assert.equal(await store.ack('a', 'nonsense'), false);
        assert.equal(await store.ack('a', first), true);
        assert.equal(await store.ack('a', first), false, 'acked once');
        assert.equal((await store.peek('a'))!.request.body.toString(), 'second');
        assert.deepEqual(await store.queueStats('a'), { count: 1, bytes: 6 });
        assert.equal(await store.ack('a', second), true);
        assert.equal(await store.peek('a'), undefined);
        assert.deepEqual(await store.queueStats('a'), { count: 0, bytes: 0 });
        assert.deepEqual(await store.queueStats('missing'), { count: 0, bytes: 0 });
      }));

    it('bounds the queue per channel (count, bytes) and over all channels; a removed channel frees its bytes', () =>
      withStore(async (store) => {
        await store.create({ id: 'a', kind: 'tunnel', tokenHash: 'h' });
        await store.create({ id: 'b', kind: 'tunnel', tokenHash: 'h' });
        idOf(await store.enqueue('a', req('12345'), bounds));
        idOf(await store.enqueue('a', req('67890'), bounds));
        assert.match(isFull(await store.enqueue('a', req('x'), bounds)), /maximum of 10 bytes/);
        idOf(await store.enqueue('b', req('12345'), bounds));
        assert.match(isFull(await store.enqueue('b', req('1'), bounds)), /all channels are full/);
        assert.deepEqual(await store.queueStats('a'), { count: 2, bytes: 10 });

        await store.create({ id: 'c', kind: 'tunnel', tokenHash: 'h' });
        const few = { maxCount: 2, maxBytes: 100, maxTotalBytes: 100 };
        idOf(await store.enqueue('c', req(''), few));
        idOf(await store.enqueue('c', req(''), few));
        assert.match(isFull(await store.enqueue('c', req(''), few)), /maximum of 2 requests/);
        assert.equal(isFull(await store.enqueue('missing', req('x'), bounds)), 'channel does not exist');

        assert.equal(await store.remove('a'), true);
        assert.equal(await store.peek('a'), undefined);
        assert.deepEqual(await store.queueStats('a'), { count: 0, bytes: 0 });
        idOf(await store.enqueue('b', req('12345'), bounds));
      }));

    it('enforces the bounds atomically when many enqueue at once through several connections', () =>
      withStore(async (store, h) => {
        const other = await h.another();
        await store.create({ id: 'a', kind: 'tunnel', tokenHash: 'h' });
        const b = { maxCount: 5, maxBytes: 1000, maxTotalBytes: 1000 };
        const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? store : other).enqueue('a', req(`m${i}`), b)));
        assert.equal(results.filter((r) => 'id' in r).length, 5);
        assert.equal((await store.queueStats('a')).count, 5);
        const bytes = { maxCount: 1000, maxBytes: 1000, maxTotalBytes: 50 };
        await store.create({ id: 'z', kind: 'tunnel', tokenHash: 'h' });
        const used = (await store.queueStats('a')).bytes;
        const more = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? store : other).enqueue('z', req('0123456789'), bytes)));
        assert.equal(more.filter((r) => 'id' in r).length, Math.floor((50 - used) / 10), 'the total over all channels holds');
      }));

    it('expires unused channels of one kind with their queues, sparing those in use and those touched since', () =>
      withStore(async (store) => {
        await store.create({ id: 'old', kind: 'tunnel', tokenHash: 'h' }, 1000);
        await store.create({ id: 'busy', kind: 'tunnel', tokenHash: 'h' }, 1000);
        await store.create({ id: 'session', kind: 'gateway', tokenHash: 'h', cursor: '5' }, 1000);
        await store.create({ id: 'fresh', kind: 'tunnel', tokenHash: 'h' }, 5000);
        idOf(await store.enqueue('old', req('abc'), { maxCount: 10, maxBytes: 10, maxTotalBytes: 10 }));
        assert.deepEqual(await store.expire('tunnel', 2000, new Set(['busy'])), ['old']);
        assert.equal(await store.peek('old'), undefined);
        idOf(await store.enqueue('fresh', req('0123456789'), { maxCount: 10, maxBytes: 10, maxTotalBytes: 10 }));
        assert.equal((await store.get('session'))!.cursor, '5');
        await store.touch('session', 9000);
        assert.deepEqual(await store.expire('gateway', 2000, new Set()), []);
        assert.equal(await store.count(), 3);
        assert.deepEqual(await store.expire('tunnel', 1000, new Set()), [], 'strictly before');
      }));

    it('lists one kind, most recently used first, with queue sizes, a limit and the total', () =>
      withStore(async (store) => {
        await store.create({ id: 't1', kind: 'tunnel', tokenHash: 'h' }, 1000);
        await store.create({ id: 't2', kind: 'tunnel', tokenHash: 'h' }, 2000);
        await store.create({ id: 't3', kind: 'tunnel', tokenHash: 'h' }, 3000);
        await store.create({ id: 'g1', kind: 'gateway', tokenHash: 'h' }, 9000);
        await store.touch('t1', 4000);
        idOf(await store.enqueue('t2', req('abc'), { maxCount: 10, maxBytes: 10, maxTotalBytes: 10 }));

        const all = await store.list('tunnel', 10);
        assert.equal(all.total, 3);
        assert.deepEqual(all.channels.map((c) => c.id), ['t1', 't3', 't2']);
        assert.deepEqual(all.channels[2], { id: 't2', kind: 'tunnel', tokenHash: 'h', createdAt: 2000, lastUsedAt: 2000, queued: 1, queuedBytes: 3 });
        assert.equal(all.channels[0]!.queued, 0);

        const page = await store.list('tunnel', 2);
        assert.deepEqual(page.channels.map((c) => c.id), ['t1', 't3']);
        assert.equal(page.total, 3);
        const sessions = await store.list('gateway', 10);
        assert.deepEqual(sessions.channels.map((c) => c.id), ['g1']);
        assert.equal(sessions.total, 1);
        await store.remove('t1');
        assert.equal((await store.list('tunnel', 10)).total, 2);
      }));
  });
}
