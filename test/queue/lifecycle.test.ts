import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startTestHookah } from '../helpers/hookah.ts';
import { basic, call, fastHash, startFromFile } from '../auth/support.ts';

const texts = (r: { json(): any }) => (r.json().messages as { message: string }[]).map((m) => m.message);

describe('queue durability', () => {
  it('keeps messages, clients and their cursors across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookah-queue-durable-'));
    const john = basic('john', 'john-pass');
    const config = {
      auth: { users: [{ name: 'john', password: await fastHash('john-pass'), queues: ['foo'] }] },
      queues: { list: [{ name: 'foo' }] },
    };
    try {
      let h = await startFromFile(config, { dir, keepDir: true });
      assert.equal((await call(h.url, '/listen/c1/foo', { auth: john })).status, 200);
      await call(h.url, '/q/foo', { method: 'POST', body: 'before-read' });
      assert.deepEqual(texts(await call(h.url, '/read/c1', { auth: john })), ['before-read']);
      await call(h.url, '/q/foo', { method: 'POST', body: 'unread-1' });
      await call(h.url, '/q/foo', { method: 'POST', body: 'unread-2' });
      const firstTime = (await call(h.url, '/time')).text;
      await h.close();

      h = await startFromFile(config, { dir, keepDir: true });
      try {
        const r = await call(h.url, '/read/c1', { auth: john });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(texts(r), ['unread-1', 'unread-2'], 'exactly the unread messages, none twice');
        assert.ok(Number(r.json().time) >= Number(firstTime));
        assert.equal((await call(h.url, '/listen/c1/foo', { auth: john })).status, 400, 'the client itself survived');
      } finally {
        await h.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('queue clients across a reload', () => {
  it('disconnects clients of a removed queue or a withdrawn permission, keeps the rest', async () => {
    const john = basic('john', 'john-pass');
    const jane = basic('jane', 'jane-pass');
    const users = [
      { name: 'john', password: await fastHash('john-pass'), queues: ['foo', 'bar'], canReload: true },
      { name: 'jane', password: await fastHash('jane-pass'), queues: ['foo'] },
    ];
    const h = await startFromFile({ auth: { users }, queues: { list: [{ name: 'foo' }, { name: 'bar' }] } });
    try {
      for (const [client, queue, auth] of [['jf', 'foo', john], ['jb', 'bar', john], ['xf', 'foo', jane]] as const) {
        assert.equal((await call(h.url, `/listen/${client}/${queue}`, { auth })).status, 200);
      }
      await call(h.url, '/q/foo', { method: 'POST', body: 'm1' });

      // bar goes away; jane loses foo.
      h.write({ auth: { users: [users[0], { ...users[1], queues: [] }] }, queues: { list: [{ name: 'foo' }] } });
      assert.equal((await call(h.url, '/reload', { method: 'POST', auth: john })).status, 200);

      const removed = await call(h.url, '/read/jb', { auth: john });
      assert.equal(removed.status, 410);
      assert.deepEqual(removed.json(), {
        message: 'That client has been disconnected because: A reload has removed that queue',
        refresh: false,
        error: 'That client has been disconnected because: A reload has removed that queue',
      });
      const denied = await call(h.url, '/read/xf', { auth: jane });
      assert.equal(denied.status, 410);
      assert.match(denied.json().message, /no longer be available to you/);

      const kept = await call(h.url, '/read/jf', { auth: john });
      assert.equal(kept.status, 200);
      assert.deepEqual(texts(kept), ['m1'], 'messages survive the reload');

      // A disconnected client may be unlistened, or listened again where allowed.
      assert.equal((await call(h.url, '/listen/jb/foo', { auth: john })).status, 200);
      assert.equal((await call(h.url, '/read/jb', { auth: john })).status, 200);
      assert.equal((await call(h.url, '/unlisten/xf', { auth: jane })).status, 200);
    } finally {
      await h.close();
    }
  });
});

describe('queues on an open server', () => {
  it('works without any credentials when no users are configured', async () => {
    const h = await startTestHookah({ queues: { list: [{ name: 'foo' }] } });
    try {
      assert.equal((await call(h.url, '/listen/c/foo')).status, 200);
      await call(h.url, '/q/foo', { method: 'POST', body: 'hi' });
      assert.deepEqual(texts(await call(h.url, '/read/c')), ['hi']);
      const reload = await call(h.url, '/reload', { method: 'POST' });
      assert.equal(reload.status, 409, 'no config file to reload');
      assert.match(reload.json().message, /without a config file/);
    } finally {
      await h.close();
    }
  });
});
