import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueueClient, QueueClientStore } from '../../src/edges/queue/ports.ts';

export interface QueueClientsHarness {
  store: QueueClientStore;
  close(): Promise<void>;
}

export type QueueClientsFactory = () => Promise<QueueClientsHarness>;

const client = (extra: Partial<QueueClient> = {}): QueueClient => ({
  user: 'alice',
  client: 'worker-1',
  queue: 'orders',
  cursor: '0',
  state: 'ok',
  reason: null,
  createdAt: 1_700_000_000_000,
  ...extra,
});

/** The behaviour every webhook-queue QueueClientStore adapter must have. */
export function queueClientsContract(factory: QueueClientsFactory): void {
  const withStore = async (fn: (store: QueueClientStore) => Promise<void>) => {
    const h = await factory();
    try {
      await fn(h.store);
    } finally {
      await h.close();
    }
  };

  describe('QueueClientStore contract', () => {
    it('puts, replaces, gets, counts per user and removes clients', () =>
      withStore(async (store) => {
        assert.equal(await store.get('alice', 'worker-1'), undefined);
        await store.put(client());
        await store.put(client({ client: 'worker-2', queue: 'billing' }));
        await store.put(client({ user: 'bob' }));
        await store.put(client({ user: '', client: 'anon' }));
        assert.deepEqual(await store.get('alice', 'worker-1'), client());
        assert.equal(await store.countForUser('alice'), 2);
        assert.equal(await store.countForUser(''), 1);
        await store.put(client({ queue: 'moved', cursor: '42', state: 'refresh', reason: 'dropped' }));
        assert.deepEqual(await store.get('alice', 'worker-1'), client({ queue: 'moved', cursor: '42', state: 'refresh', reason: 'dropped' }));
        assert.equal(await store.countForUser('alice'), 2, 'a replace is not a second client');
        assert.equal(await store.remove('alice', 'worker-1'), true);
        assert.equal(await store.remove('alice', 'worker-1'), false);
        assert.equal(await store.countForUser('alice'), 1);
      }));

    it('advance moves the cursor and clears a refresh, but never revives a disconnected client', () =>
      withStore(async (store) => {
        await store.put(client({ state: 'refresh', reason: 'dropped' }));
        await store.advance('alice', 'worker-1', '17');
        assert.deepEqual(await store.get('alice', 'worker-1'), client({ cursor: '17' }));
        await store.disconnect('alice', 'worker-1', 'queue removed');
        await store.advance('alice', 'worker-1', '99');
        const c = await store.get('alice', 'worker-1');
        assert.equal(c?.state, 'disconnected');
        assert.equal(c?.reason, 'queue removed');
        assert.equal(c?.cursor, '17');
        await store.advance('nobody', 'x', '1');
      }));

    it('advanceFrom moves a cursor only from where the caller saw it, and never past a pending refresh or a disconnect', () =>
      withStore(async (store) => {
        await store.put(client({ cursor: '10' }));
        assert.equal(await store.advanceFrom('alice', 'worker-1', '10', '20'), true);
        assert.equal(await store.advanceFrom('alice', 'worker-1', '10', '30'), false, 'another read moved it first');
        assert.equal((await store.get('alice', 'worker-1'))!.cursor, '20');
        await store.flagRefresh('orders', 'dropped');
        assert.equal(await store.advanceFrom('alice', 'worker-1', '20', '30'), false, 'the refresh must be told first');
        await store.advance('alice', 'worker-1', '25');
        await store.disconnect('alice', 'worker-1', 'gone');
        assert.equal(await store.advanceFrom('alice', 'worker-1', '25', '30'), false);
        assert.equal(await store.advanceFrom('nobody', 'c', '0', '1'), false);
      }));

    it('flagRefresh flags the ok clients of one queue; connected lists all but disconnected ones', () =>
      withStore(async (store) => {
        await store.put(client());
        await store.put(client({ client: 'worker-2' }));
        await store.put(client({ client: 'worker-3', state: 'refresh', reason: 'earlier' }));
        await store.put(client({ client: 'other', queue: 'billing' }));
        assert.equal(await store.flagRefresh('orders', 'a message was too large'), 2);
        assert.equal((await store.get('alice', 'worker-2'))?.state, 'refresh');
        assert.equal((await store.get('alice', 'worker-3'))?.reason, 'earlier');
        assert.equal((await store.get('alice', 'other'))?.state, 'ok');
        await store.disconnect('alice', 'worker-2', 'permission removed');
        const names = (await store.connected()).map((c) => `${c.user}/${c.client}/${c.queue}`).sort();
        assert.deepEqual(names, ['alice/other/billing', 'alice/worker-1/orders', 'alice/worker-3/orders']);
      }));
  });
}
