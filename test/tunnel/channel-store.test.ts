import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSqlite } from '../../src/store/sqlite/open.ts';
import { SqliteChannelStore } from '../../src/store/sqlite/channel-store.ts';
import type { ForwardedRequest } from '../../src/edges/tunnel/ports.ts';

const req = (body: string): ForwardedRequest => ({ method: 'POST', path: '/x', query: 'a=1', headers: { 'set-cookie': ['a', 'b'] }, body: Buffer.from(body) });
const bounds = { maxCount: 10, maxBytes: 10, maxTotalBytes: 15 };

test('channel store: queue keeps order and bounds per channel and in total; deleting a channel drops its queue', async () => {
  const db = openSqlite(':memory:');
  try {
    const store = new SqliteChannelStore(db);
    await store.create({ id: 'a', kind: 'tunnel', tokenHash: 'h' });
    await store.create({ id: 'b', kind: 'tunnel', tokenHash: 'h' });
    const first = await store.enqueue('a', req('12345'), bounds);
    assert.ok('id' in first);
    assert.ok('id' in (await store.enqueue('a', req('67890'), bounds)));
    assert.match(String((await store.enqueue('a', req('x'), bounds) as { full: string }).full), /10 bytes/);
    assert.ok('id' in (await store.enqueue('b', req('12345'), bounds)));
    assert.match(String((await store.enqueue('b', req('1'), bounds) as { full: string }).full), /all channels/);
    assert.deepEqual(await store.queueStats('a'), { count: 2, bytes: 10 });

    const head = await store.peek('a');
    assert.equal(head!.id, (first as { id: string }).id);
    assert.deepEqual(head!.request.headers, { 'set-cookie': ['a', 'b'] });
    assert.equal(head!.request.body.toString(), '12345');
    assert.equal(await store.ack('b', head!.id), false, 'an id of another channel is not acked');
    assert.equal(await store.ack('a', head!.id), true);
    assert.equal((await store.peek('a'))!.request.body.toString(), '67890');
    assert.deepEqual(await store.queueStats('a'), { count: 1, bytes: 5 });

    assert.equal(await store.remove('a'), true);
    assert.equal(await store.peek('a'), undefined);
    assert.deepEqual(await store.queueStats('a'), { count: 0, bytes: 0 });
  } finally {
    db.close();
  }
});

test('channel store: expiry is per kind and spares the channels in use', async () => {
  const db = openSqlite(':memory:');
  try {
    const store = new SqliteChannelStore(db);
    await store.create({ id: 'old', kind: 'tunnel', tokenHash: 'h' }, 1000);
    await store.create({ id: 'busy', kind: 'tunnel', tokenHash: 'h' }, 1000);
    await store.create({ id: 'session', kind: 'gateway', tokenHash: 'h', cursor: '5' }, 1000);
    await store.create({ id: 'fresh', kind: 'tunnel', tokenHash: 'h' }, 5000);
    assert.deepEqual(await store.expire('tunnel', 2000, new Set(['busy'])), ['old']);
    assert.equal((await store.get('session'))!.cursor, '5');
    await store.touch('session', 9000);
    assert.deepEqual(await store.expire('gateway', 2000, new Set()), []);
    assert.equal(await store.count(), 3);
  } finally {
    db.close();
  }
});
