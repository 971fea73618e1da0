import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { tokenDigest } from '../../src/auth/tokens.ts';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { basic, bearer, call, fastHash } from './support.ts';

const BOB_TOKEN = 'hk_bob_token_0123456789abcdef';
const CAROL_TOKEN = 'carol-plain-token-0123456789';

/** Every action's boundary, allowed and refused, over Basic and Bearer, on the real edges. */
describe('access control on the edges', () => {
  let h: TestHookah;
  const publish = (topic: string, auth?: string) =>
    call(h.url, `/dispatch?_topic=${encodeURIComponent(topic)}`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' }, ...(auth ? { auth } : {}) });

  before(async () => {
    h = await startTestHookah({
      auth: {
        users: [
          { name: 'alice', password: await fastHash('alice-pass'), publish: ['orders/#'], subscribe: ['orders/#'], read: ['orders/#'] },
          { name: 'bob', tokens: [`sha256:${tokenDigest(BOB_TOKEN)}`], subscribe: ['news/+'], read: ['news/+'] },
          { name: 'carol', tokens: [CAROL_TOKEN], publish: ['http://127.0.0.1:9/hooks/'] },
          { name: 'root', password: 'plain;;root-pass', admin: true },
        ],
        anonymous: { subscribe: ['public/#'], read: ['public/#'] },
      },
    });
  });
  after(() => h.close());

  it('tells the operator access control is on', () => {
    assert.equal(h.runtime.auth.enabled, true);
  });

  describe('publish', () => {
    it('refuses a request without credentials with 401 and both challenges', async () => {
      const r = await publish('orders/created');
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm="hookah", Bearer realm="hookah"$/);
      assert.equal(r.json().error, 'authentication required');
    });

    it('allows a user with a matching publish pattern (Basic)', async () => {
      const r = await publish('orders/created', basic('alice', 'alice-pass'));
      assert.equal(r.status, 202, r.text);
    });

    it('refuses a wrong password with 401', async () => {
      const r = await publish('orders/created', basic('alice', 'wrong'));
      assert.equal(r.status, 401);
      assert.match(r.json().error, /wrong user name or password/);
    });

    it('refuses an unknown user with the same 401', async () => {
      const r = await publish('orders/created', basic('mallory', 'alice-pass'));
      assert.equal(r.status, 401);
      assert.match(r.json().error, /wrong user name or password/);
    });

    it('refuses a topic outside the pattern with 403 and a reason', async () => {
      const r = await publish('billing/paid', basic('alice', 'alice-pass'));
      assert.equal(r.status, 403);
      assert.equal(r.json().error, 'user alice may not publish billing/paid');
    });

    it('refuses a Bearer user without publish rights with 403', async () => {
      const r = await publish('news/today', bearer(BOB_TOKEN));
      assert.equal(r.status, 403);
    });

    it('refuses an unknown Bearer token with 401 invalid_token', async () => {
      const r = await publish('news/today', bearer('hk_not_a_real_token_at_all'));
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /Bearer realm="hookah", error="invalid_token"/);
    });

    it('refuses an unsupported scheme with 401', async () => {
      const r = await publish('orders/x', 'Digest username="alice"');
      assert.equal(r.status, 401);
      assert.match(r.json().error, /unsupported authorization scheme/);
    });

    it('lets the plain;; bootstrap admin publish anywhere', async () => {
      const r = await publish('anything/at/all', basic('root', 'root-pass'));
      assert.equal(r.status, 202);
    });

    it('checks dispatch URLs against URL-prefix grants', async () => {
      const allowed = await call(h.url, `/dispatch?_url=${encodeURIComponent('http://127.0.0.1:9/hooks/a')}`, { method: 'POST', body: 'x', auth: bearer(CAROL_TOKEN) });
      assert.equal(allowed.status, 202, allowed.text);
      const refused = await call(h.url, `/dispatch?_url=${encodeURIComponent('http://127.0.0.1:9/other')}`, { method: 'POST', body: 'x', auth: bearer(CAROL_TOKEN) });
      assert.equal(refused.status, 403);
      const alice = await call(h.url, `/dispatch?_url=${encodeURIComponent('http://127.0.0.1:9/hooks/a')}`, { method: 'POST', body: 'x', auth: basic('alice', 'alice-pass') });
      assert.equal(alice.status, 403);
    });

    it('keeps idempotency keys per user: the same key from two users is two messages', async () => {
      const url = encodeURIComponent('http://127.0.0.1:9/hooks/idem');
      const send = (auth: string, query: string, key = 'shared-key') =>
        call(h.url, `/dispatch?${query}&_id=${key}`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' }, auth });
      const carol = await send(bearer(CAROL_TOKEN), `_url=${url}`);
      const root = await send(basic('root', 'root-pass'), `_url=${url}`);
      assert.equal(carol.status, 202, carol.text);
      assert.equal(root.status, 202, root.text);
      assert.equal(root.json().duplicate, false, "carol's key does not swallow root's message");
      assert.notEqual(root.json().id, carol.json().id, "nor hand root carol's message id");
      const again = await send(bearer(CAROL_TOKEN), `_url=${url}`);
      assert.deepEqual([again.json().id, again.json().duplicate], [carol.json().id, true], 'a repeat by the same user is still a duplicate');

      const alice = await send(basic('alice', 'alice-pass'), '_topic=orders/idem', 'topic-key');
      const rootTopic = await send(basic('root', 'root-pass'), '_topic=orders/idem', 'topic-key');
      assert.equal(alice.status, 202, alice.text);
      assert.equal(rootTopic.json().duplicate, false);
      assert.notEqual(rootTopic.json().event_id, alice.json().event_id);
    });

    it('protects /hook/<topic> the same way', async () => {
      assert.equal((await call(h.url, '/hook/orders/x', { method: 'POST', body: '{}' })).status, 401);
      assert.equal((await call(h.url, '/hook/orders/x', { method: 'POST', body: '{}', auth: basic('alice', 'alice-pass') })).status, 200);
      assert.equal((await call(h.url, '/hook/news/x', { method: 'POST', body: '{}', auth: basic('alice', 'alice-pass') })).status, 403);
    });
  });

  describe('subscribe', () => {
    const poll = (topic: string, init: { auth?: string; query?: string } = {}) =>
      call(h.url, `/poll?topic=${encodeURIComponent(topic)}&since=0&timeout=50ms${init.query ?? ''}`, init.auth ? { auth: init.auth } : {});

    it('allows a covered pattern and refuses a wider one', async () => {
      assert.equal((await poll('orders/#', { auth: basic('alice', 'alice-pass') })).status, 200);
      const wider = await poll('#', { auth: basic('alice', 'alice-pass') });
      assert.equal(wider.status, 403);
      assert.equal(wider.json().error, 'user alice may not subscribe #');
    });

    it('allows Bearer within news/+ and refuses news/#', async () => {
      assert.equal((await poll('news/today', { auth: bearer(BOB_TOKEN) })).status, 200);
      assert.equal((await poll('news/#', { auth: bearer(BOB_TOKEN) })).status, 403);
      assert.equal((await poll('orders/x', { auth: bearer(BOB_TOKEN) })).status, 403);
    });

    it('accepts ?access_token= on GET', async () => {
      assert.equal((await poll('news/today', { query: `&access_token=${BOB_TOKEN}` })).status, 200);
      assert.equal((await poll('news/today', { query: '&access_token=wrong-token-0000000000' })).status, 401);
    });

    it('lets anonymous requests do what auth.anonymous grants, nothing more', async () => {
      assert.equal((await poll('public/x')).status, 200);
      assert.equal((await poll('orders/x')).status, 401);
    });

    it('guards WebSocket upgrades through authorizeRequest', async () => {
      const open = (path: string, headers: Record<string, string> = {}) =>
        new Promise<number>((resolve, reject) => {
          const ws = new WebSocket(`${h.url.replace('http', 'ws')}${path}`, { headers });
          const timer = setTimeout(() => (ws.terminate(), reject(new Error('no answer to the upgrade'))), 8000);
          ws.on('open', () => (clearTimeout(timer), ws.close(), resolve(101)));
          ws.on('unexpected-response', (_req, res) => (clearTimeout(timer), res.resume(), ws.terminate(), resolve(res.statusCode ?? 0)));
          ws.on('error', () => undefined);
        });
      assert.equal(await open('/socket/news/today', { authorization: bearer(BOB_TOKEN) }), 101);
      assert.equal(await open(`/socket/news/today?access_token=${BOB_TOKEN}`), 101);
      assert.equal(await open('/socket/news/today'), 401);
      assert.equal(await open('/socket/orders/x', { authorization: bearer(BOB_TOKEN) }), 403);
    });
  });

  describe('read', () => {
    it('allows reading the backlog of a granted topic and refuses others', async () => {
      await publish('orders/read-me', basic('alice', 'alice-pass'));
      const ok = await call(h.url, '/topics/orders/read-me/messages', { auth: basic('alice', 'alice-pass') });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json().messages.length, 1);
      assert.equal((await call(h.url, '/topics/orders/read-me/messages', { auth: bearer(BOB_TOKEN) })).status, 403);
      assert.equal((await call(h.url, '/topics/orders/read-me/messages')).status, 401);
    });

    it('lists only readable topics', async () => {
      const r = await call(h.url, '/topics', { auth: basic('alice', 'alice-pass') });
      assert.equal(r.status, 200);
      const topics = (r.json().topics as { topic: string }[]).map((t) => t.topic);
      assert.ok(topics.length > 0);
      assert.ok(topics.every((t) => t.startsWith('orders/')), topics.join());
    });
  });

  describe('admin', () => {
    it('GET /metrics: 401 anonymous, 403 for a plain user, 200 for an admin', async () => {
      assert.equal((await call(h.url, '/metrics')).status, 401);
      const alice = await call(h.url, '/metrics', { auth: basic('alice', 'alice-pass') });
      assert.equal(alice.status, 403);
      assert.equal(alice.json().error, 'user alice may not administer this server');
      const root = await call(h.url, '/metrics', { auth: basic('root', 'root-pass') });
      assert.equal(root.status, 200);
      assert.match(root.text, /hookah_auth_decisions_total\{action="admin",outcome="forbidden"\} 1/);
    });

    it('GET /messages is admin-only too', async () => {
      assert.equal((await call(h.url, '/messages', { auth: bearer(BOB_TOKEN) })).status, 403);
      assert.equal((await call(h.url, '/messages', { auth: basic('root', 'root-pass') })).status, 200);
    });
  });

  it('leaves /healthz open', async () => {
    assert.equal((await call(h.url, '/healthz')).status, 200);
  });
});

describe('with no users configured', () => {
  it('is open to everyone, as Hookah always was', async () => {
    const h = await startTestHookah();
    try {
      assert.equal(h.runtime.auth.enabled, false);
      assert.equal((await call(h.url, '/metrics')).status, 200);
      assert.equal((await call(h.url, '/dispatch?_topic=a', { method: 'POST', body: 'x' })).status, 202);
    } finally {
      await h.close();
    }
  });
});

describe('start-up warnings', () => {
  it('logs a plain;; password as INSECURE and an unsigned public queue as open to anyone', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const h = await startTestHookah(
      { log: { level: 'warn' }, auth: { users: [{ name: 'root', password: 'plain;;bootstrap', admin: true }] }, queues: { list: [{ name: 'open' }] } },
      { logDestination: sink },
    );
    try {
      const text = lines.join('');
      assert.match(text, /INSECURE: user root has a plain;; password/);
      assert.match(text, /queue open \(q\/open\) accepts messages from anyone/);
    } finally {
      await h.close();
    }
  });
});
