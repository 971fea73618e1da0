import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { basic, call, fastHash, startFromFile, type FileHookah } from '../auth/support.ts';

/** The webhook-queue API, field by field as the original served it. */

const KEY = '12345';
const sign = (body: string) => createHmac('sha256', KEY).update(body).digest('hex');

async function queueConfig() {
  return {
    auth: {
      users: [
        { name: 'john', password: await fastHash('john-pass'), queues: ['foo', 'bar', 'small', 'open'], canReload: true },
        { name: 'jane', password: await fastHash('jane-pass'), queues: ['foo'] },
        { name: 'admin', password: await fastHash('admin-pass'), admin: true },
      ],
    },
    queues: {
      maxMessageCount: 5,
      maxMessageSize: 100,
      maxQueueSize: 100_000,
      list: [
        { name: 'foo', verifier: { type: 'hmac-sha256', header: 'Foo-Auth', secret: KEY } },
        { name: 'bar' },
        { name: 'small', maxMessageCount: 2, maxMessageSize: 10 },
        { name: 'open' },
        { name: 'fenced', allowIps: ['192.0.2.1'] },
        { name: 'private', public: false },
      ],
    },
  };
}

describe('webhook queue API', () => {
  let h: FileHookah;
  const john = basic('john', 'john-pass');
  const jane = basic('jane', 'jane-pass');
  const enqueue = (queue: string, body: string, headers: Record<string, string> = {}) =>
    call(h.url, `/q/${queue}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const listen = (client: string, queue: string, auth = john) => call(h.url, `/listen/${client}/${queue}`, { auth });
  const read = (client: string, auth = john) => call(h.url, `/read/${client}`, { auth });

  before(async () => {
    h = await startFromFile(await queueConfig());
  });
  after(() => h.close());

  it('GET /time returns the server start time as a bare Unix timestamp, without auth', async () => {
    const r = await call(h.url, '/time');
    assert.equal(r.status, 200);
    assert.match(r.text, /^\d{10}$/);
    assert.ok(Math.abs(Number(r.text) - Date.now() / 1000) < 120);
  });

  describe('POST /q/:name', () => {
    it('needs the queue signature (401 with the Error shape) and stores nothing without it', async () => {
      const missing = await enqueue('foo', '{"a":1}');
      assert.equal(missing.status, 401);
      const err = missing.json();
      assert.equal(err.refresh, false);
      assert.match(err.message, /missing Foo-Auth header/);
      const tampered = await enqueue('foo', '{"a":2}', { 'foo-auth': sign('{"a":1}') });
      assert.equal(tampered.status, 401);
      assert.equal((await h.running.runtime.stores.events.read({ patterns: ['q/foo'], limit: 10 })).events.length, 0);
    });

    it('accepts a signed message without user credentials and answers an empty body', async () => {
      const r = await enqueue('foo', '{"a":1}', { 'foo-auth': sign('{"a":1}') });
      assert.equal(r.status, 200);
      assert.equal(r.text, '');
      assert.ok(r.headers.get('x-hookah-event-id'));
    });

    it('answers 404 for an unknown queue', async () => {
      const r = await enqueue('nope', 'x');
      assert.equal(r.status, 404);
      assert.deepEqual(r.json(), { message: 'That queue does not exist', refresh: false, error: 'That queue does not exist' });
    });

    it('applies the queue allow-list', async () => {
      const r = await enqueue('fenced', 'x');
      assert.equal(r.status, 403);
      assert.match(r.json().message, /source address 127\.0\.0\.1/);
    });

    it('asks for user credentials on a queue with public: false', async () => {
      assert.equal((await enqueue('private', 'x')).status, 401);
      assert.equal((await call(h.url, '/q/private', { method: 'POST', body: 'x', auth: basic('admin', 'admin-pass') })).status, 200);
    });

    it('refuses a message over the global max_message_size (413)', async () => {
      const r = await enqueue('bar', 'x'.repeat(101));
      assert.equal(r.status, 413);
      assert.equal(r.json().refresh, false);
      assert.equal((await enqueue('bar', 'x'.repeat(100))).status, 200);
    });

    it('makes the queue a topic: q/<name> is in the backlog and streamable', async () => {
      const r = await call(h.url, '/topics/q/foo/messages', { auth: basic('admin', 'admin-pass') });
      assert.equal(r.status, 200, r.text);
      const [m] = r.json().messages;
      assert.equal(m.topic, 'q/foo');
      assert.equal(m.source, 'queue');
      assert.deepEqual(m.data, { a: 1 });
    });
  });

  describe('listen / read / unlisten', () => {
    it('needs user credentials', async () => {
      const r = await call(h.url, '/listen/c0/foo');
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /Basic realm=/);
      assert.equal(r.json().refresh, false);
      assert.equal((await call(h.url, '/read/c0')).status, 401);
      assert.equal((await listen('c0', 'foo', basic('john', 'bad'))).status, 401);
    });

    it('only lets a user listen to the queues granted to them', async () => {
      const r = await listen('c0', 'bar', jane);
      assert.equal(r.status, 403);
      assert.equal((await listen('c0', 'nope')).status, 404);
    });

    it('delivers what arrived since the last read, as a MessageList', async () => {
      assert.equal((await listen('c1', 'open')).status, 200);
      const empty = await read('c1');
      assert.equal(empty.status, 200);
      const list0 = empty.json();
      assert.equal(list0.time, (await call(h.url, '/time')).text);
      assert.deepEqual(list0.messages, []);

      assert.equal((await enqueue('open', 'first')).status, 200);
      const second = await enqueue('open', '{"n":2}');
      const list = (await read('c1')).json();
      assert.deepEqual(
        list.messages.map((m: { message: string }) => m.message),
        ['first', '{"n":2}'],
      );
      assert.equal(typeof list.messages[0].id, 'number');
      assert.ok(list.messages[1].id > list.messages[0].id);
      assert.equal(list.current_message, Number(second.headers.get('x-hookah-event-id')));
      assert.deepEqual((await read('c1')).json().messages, [], 'a read consumes');
    });

    it('refuses a second listen on the same client name (400), per user', async () => {
      const again = await listen('c1', 'open');
      assert.equal(again.status, 400);
      assert.equal(again.json().message, 'You are already listening from that client');
      assert.equal((await listen('c1', 'foo', jane)).status, 200, 'client names are per user');
    });

    it('hands each client its own cursor', async () => {
      assert.equal((await listen('c2', 'open')).status, 200);
      await enqueue('open', 'third');
      assert.deepEqual((await read('c1')).json().messages.map((m: { message: string }) => m.message), ['third']);
      assert.deepEqual((await read('c2')).json().messages.map((m: { message: string }) => m.message), ['third']);
    });

    it('unlisten removes the client; reading it is then 404', async () => {
      assert.equal((await call(h.url, '/unlisten/c2', { auth: john })).status, 200);
      const r = await read('c2');
      assert.equal(r.status, 404);
      assert.equal(r.json().message, 'You are not currently listening on that client');
      assert.equal((await call(h.url, '/unlisten/c2', { auth: john })).status, 404);
    });

    it('base64-encodes a body that is not UTF-8', async () => {
      assert.equal((await listen('bin', 'open')).status, 200);
      const bytes = Buffer.from([0xff, 0x00, 0xfe]);
      assert.equal((await call(h.url, '/q/open', { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } })).status, 200);
      const [m] = (await read('bin')).json().messages;
      assert.equal(m.encoding, 'base64');
      assert.deepEqual(Buffer.from(m.message, 'base64'), bytes);
    });
  });

  describe('limits and refresh', () => {
    it('a reader who lost messages that rolled off gets 410 refresh: true, then resumes from the newest', async () => {
      assert.equal((await listen('lim', 'small')).status, 200);
      for (const body of ['m1', 'm2', 'm3']) assert.equal((await enqueue('small', body)).status, 200);
      const lost = await read('lim');
      assert.equal(lost.status, 410);
      const err = lost.json();
      assert.equal(err.refresh, true);
      assert.match(err.message, /at least one message has been discarded/);
      assert.deepEqual((await read('lim')).json().messages, [], 'the client restarts at the newest message');
      await enqueue('small', 'm4');
      assert.deepEqual((await read('lim')).json().messages.map((m: { message: string }) => m.message), ['m4']);
    });

    it('a reader who kept up is not told to refresh when old messages roll off', async () => {
      assert.equal((await listen('keep', 'small')).status, 200);
      for (const body of ['k1', 'k2']) {
        await enqueue('small', body);
        assert.equal((await read('keep')).status, 200);
      }
      await enqueue('small', 'k3');
      assert.deepEqual((await read('keep')).json().messages.map((m: { message: string }) => m.message), ['k3']);
    });

    it('an oversized message is dropped (413) and its readers are told to refresh once', async () => {
      assert.equal((await listen('big', 'small')).status, 200);
      const r = await enqueue('small', 'x'.repeat(11));
      assert.equal(r.status, 413);
      assert.match(r.json().message, /limit for queue small is 10/);
      const told = await read('big');
      assert.equal(told.status, 410);
      assert.equal(told.json().refresh, true);
      assert.match(told.json().message, /dropped from the queue due to size constraints/);
      assert.equal((await read('big')).status, 200);
      await enqueue('small', 'ok');
      assert.deepEqual((await read('big')).json().messages.map((m: { message: string }) => m.message), ['ok']);
    });
  });
});
