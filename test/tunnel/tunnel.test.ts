import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';
import { connectClient, issue, nextForward, upgradeStatus } from './helpers.ts';

/** A port nothing listens on: bind, note the port, close. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('tunnel: channels and authentication', () => {
  let h: TestHookah;
  before(async () => {
    h = await startTestHookah();
  });
  after(() => h.close());

  test('GET /new issues a channel with its token, webhook URL and WebSocket URL', async () => {
    const res = await fetch(`${h.url}/new`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const ch = (await res.json()) as Record<string, string>;
    assert.match(ch.channel!, /^[0-9a-f-]{36}$/);
    assert.ok(ch.token!.length >= 40);
    assert.equal(ch.webhook_url, `${h.url}/webhook/${ch.channel}`);
    assert.equal(ch.ws_url, `${h.url.replace('http', 'ws')}/ws/${ch.channel}`);

    const status = await fetch(`${h.url}/channels/${ch.channel}`, { headers: { authorization: `Bearer ${ch.token}` } });
    assert.equal(status.status, 200);
    const body = (await status.json()) as Record<string, unknown>;
    assert.equal(body.clients, 0);
    assert.equal(body.queued, 0);
    assert.equal((await fetch(`${h.url}/channels/${ch.channel}`)).status, 401);
    assert.equal((await fetch(`${h.url}/channels/${ch.channel}?token=wrong`)).status, 401);
  });

  test('an unauthorised client is refused with 401 on the upgrade; an unknown channel with 404', async () => {
    const ch = await issue(h.url);
    const none = await upgradeStatus(ch.ws_url);
    assert.equal(none.status, 401);
    assert.match(JSON.parse(none.body).error, /token/);
    assert.equal((await upgradeStatus(ch.ws_url, { authorization: 'Bearer not-the-token' })).status, 401);
    assert.equal((await upgradeStatus(`${ch.ws_url}?token=${ch.token.slice(1)}`)).status, 401);
    const other = await issue(h.url);
    assert.equal((await upgradeStatus(ch.ws_url, { authorization: `Bearer ${other.token}` })).status, 401);
    assert.equal((await upgradeStatus(`${h.url.replace('http', 'ws')}/ws/00000000-0000-4000-8000-000000000000?token=x`)).status, 404);
    // The right token, in each accepted form.
    assert.equal((await upgradeStatus(ch.ws_url, { authorization: `Bearer ${ch.token}` })).status, 101);
    assert.equal((await upgradeStatus(`${ch.ws_url}?token=${encodeURIComponent(ch.token)}`)).status, 101);
    assert.equal((await upgradeStatus(ch.ws_url, { 'x-hookah-channel-token': ch.token })).status, 101);
  });

  test('a webhook to an unknown channel is 404', async () => {
    const res = await fetch(`${h.url}/webhook/00000000-0000-4000-8000-000000000000/x`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: 'no such tunnel channel' });
  });

  test('DELETE /channels/{channel} needs the token, disconnects the client for good and 404s the webhook', async () => {
    const sink = await startSink();
    const ch = await issue(h.url);
    const client = await connectClient({ serverUrl: h.url, targetUrl: sink.url, channel: ch.channel, token: ch.token });
    try {
      assert.equal((await fetch(`${h.url}/channels/${ch.channel}`, { method: 'DELETE' })).status, 401);
      const fatal = new Promise<Error>((resolve) => client.once('fatal', resolve));
      const res = await fetch(`${h.url}/channels/${ch.channel}`, { method: 'DELETE', headers: { authorization: `Bearer ${ch.token}` } });
      assert.equal(res.status, 204);
      assert.match((await fatal).message, /deleted/);
      assert.equal((await fetch(ch.webhook_url, { method: 'POST', body: 'x' })).status, 404);
    } finally {
      await client.close();
      await sink.close();
    }
  });
});

describe('tunnel: relaying requests', () => {
  let h: TestHookah;
  let sink: Sink;
  before(async () => {
    h = await startTestHookah({ tunnel: { maxBodyBytes: 4 * 1024 * 1024, requestTimeout: '5s' } });
    sink = await startSink();
  });
  after(async () => {
    await sink.close();
    await h.close();
  });

  test('round trip: method, path, query, headers and a binary body reach the target; status, headers and body come back', async () => {
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    sink.handle((req, res) => {
      res.writeHead(201, { 'content-type': 'application/octet-stream', 'x-reply': 'yes', 'set-cookie': ['a=1', 'b=2'] });
      res.end(Buffer.concat([binary, req.body]));
    });
    const ch = await issue(h.url);
    const client = await connectClient({ serverUrl: h.url, targetUrl: `${sink.url}/base`, channel: ch.channel, token: ch.token });
    try {
      const forwarded = nextForward(client, 'the forward log record');
      const body = Buffer.from([0, 255, 1, 254, 0xc3, 0x28, 13, 10]);
      const before = sink.requests.length;
      const res = await fetch(`${ch.webhook_url}/hooks/git%2Fhub?x=1&y=%20z`, {
        method: 'PUT',
        headers: { 'content-type': 'application/x-custom', 'x-signature': 'sha256=abc', authorization: 'Basic dXNlcjpwYXNz' },
        body,
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('x-reply'), 'yes');
      assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.concat([binary, body]));

      const got = sink.requests[before]!;
      assert.equal(got.method, 'PUT');
      assert.equal(got.url, '/base/hooks/git%2Fhub?x=1&y=%20z');
      assert.equal(got.headers['content-type'], 'application/x-custom');
      assert.equal(got.headers['x-signature'], 'sha256=abc');
      assert.equal(got.headers.authorization, 'Basic dXNlcjpwYXNz');
      assert.equal(got.headers['x-forwarded-for'], '127.0.0.1');
      assert.deepEqual(got.body, body);

      const record = await forwarded;
      assert.equal(record.method, 'PUT');
      assert.equal(record.path, '/hooks/git%2Fhub?x=1&y=%20z');
      assert.equal(record.status, 201);
      assert.ok(record.durationMs >= 0);
    } finally {
      await client.close();
      sink.handle((_req, res) => void res.end('ok'));
    }
  });

  test('a request with no suffix goes to the target URL itself; GET and HEAD work', async () => {
    sink.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
      res.end(req.method === 'HEAD' ? undefined : 'hello');
    });
    const ch = await issue(h.url);
    const client = await connectClient({ serverUrl: h.url, targetUrl: sink.url, channel: ch.channel, token: ch.token });
    try {
      const before = sink.requests.length;
      const res = await fetch(ch.webhook_url);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'hello');
      assert.equal(sink.requests[before]!.url, '/');
      const head = await fetch(ch.webhook_url, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), '5');
    } finally {
      await client.close();
      sink.handle((_req, res) => void res.end('ok'));
    }
  });

  test('a large body (bounded) travels both ways byte-exact, the response streamed in chunks', async () => {
    sink.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(req.body);
    });
    const ch = await issue(h.url);
    const client = await connectClient({ serverUrl: h.url, targetUrl: sink.url, channel: ch.channel, token: ch.token });
    try {
      const big = Buffer.alloc(3 * 1024 * 1024 + 7);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 8)) & 0xff;
      const res = await fetch(ch.webhook_url, { method: 'POST', body: big });
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), big);

      const tooBig = await fetch(ch.webhook_url, { method: 'POST', body: Buffer.alloc(4 * 1024 * 1024 + 1) });
      assert.equal(tooBig.status, 413);
    } finally {
      await client.close();
      sink.handle((_req, res) => void res.end('ok'));
    }
  });

  test('a streamed response reaches the sender chunk by chunk', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    sink.handle(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      await released;
      res.end('data: second\n\n');
    });
    const ch = await issue(h.url);
    const client = await connectClient({ serverUrl: h.url, targetUrl: sink.url, channel: ch.channel, token: ch.token });
    try {
      const res = await fetch(ch.webhook_url);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      const reader = res.body!.getReader();
      const first = await reader.read();
      assert.equal(Buffer.from(first.value!).toString(), 'data: first\n\n');
      release();
      let rest = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += Buffer.from(value).toString();
      }
      assert.equal(rest, 'data: second\n\n');
    } finally {
      release();
      await client.close();
      sink.handle((_req, res) => void res.end('ok'));
    }
  });

  test('target down: the client answers 502 to the sender', async () => {
    const ch = await issue(h.url);
    const client = await connectClient({ serverUrl: h.url, targetUrl: `http://127.0.0.1:${await closedPort()}`, channel: ch.channel, token: ch.token });
    try {
      const forwarded = nextForward(client, 'the forward log record');
      const res = await fetch(`${ch.webhook_url}/x`, { method: 'POST', body: '{}' });
      assert.equal(res.status, 502);
      assert.match(((await res.json()) as { error: string }).error, /unreachable.*ECONNREFUSED/);
      const record = await forwarded;
      assert.equal(record.status, 502);
      assert.equal(record.error, 'target_unreachable');
    } finally {
      await client.close();
    }
  });

  test('the request body bound is enforced before anything is forwarded (413)', async () => {
    const small = await startTestHookah({ tunnel: { maxBodyBytes: 1024 } });
    const ch = await issue(small.url);
    const client = await connectClient({ serverUrl: small.url, targetUrl: sink.url, channel: ch.channel, token: ch.token });
    try {
      const before = sink.requests.length;
      const res = await fetch(ch.webhook_url, { method: 'POST', body: Buffer.alloc(1025) });
      assert.equal(res.status, 413);
      assert.match(((await res.json()) as { error: string }).error, /1024/);
      assert.equal((await fetch(ch.webhook_url, { method: 'POST', body: Buffer.alloc(1024) })).status, 200);
      assert.equal(sink.requests.length, before + 1);
    } finally {
      await client.close();
      await small.close();
    }
  });
});

describe('tunnel: timeouts', () => {
  test('a target slower than tunnel.requestTimeout gets the sender a 504', async () => {
    const h = await startTestHookah({ tunnel: { requestTimeout: '300ms' } });
    const sink = await startSink(() => {
      // never answers
    });
    const ch = await issue(h.url);
    const client = await connectClient({ serverUrl: h.url, targetUrl: sink.url, channel: ch.channel, token: ch.token });
    try {
      const started = Date.now();
      const res = await fetch(ch.webhook_url, { method: 'POST', body: 'slow' });
      assert.equal(res.status, 504);
      assert.match(((await res.json()) as { error: string }).error, /did not answer within 300 ms/);
      assert.ok(Date.now() - started < 5000);
    } finally {
      await client.close();
      await sink.close();
      await h.close();
    }
  });
});

describe('tunnel: offline queue', () => {
  test('with no client connected requests get 202 with a message id, and are replayed in order on connect', async () => {
    const h = await startTestHookah();
    const sink = await startSink();
    try {
      const ch = await issue(h.url);
      const ids: string[] = [];
      for (const n of [1, 2, 3]) {
        const res = await fetch(`${ch.webhook_url}/n/${n}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: `message ${n}` });
        assert.equal(res.status, 202);
        const body = (await res.json()) as { id: string; status: string };
        assert.equal(body.status, 'queued');
        assert.equal(res.headers.get('x-hookah-message-id'), body.id);
        ids.push(body.id);
      }
      assert.deepEqual([...ids].sort((a, b) => Number(a) - Number(b)), ids);
      const status = (await (await fetch(`${h.url}/channels/${ch.channel}?token=${ch.token}`)).json()) as { queued: number };
      assert.equal(status.queued, 3);

      const client = await connectClient({ serverUrl: h.url, targetUrl: sink.url, channel: ch.channel, token: ch.token });
      try {
        const got = await sink.waitForRequests(3, 10_000);
        assert.deepEqual(got.map((r) => r.url), ['/n/1', '/n/2', '/n/3']);
        assert.deepEqual(got.map((r) => r.body.toString()), ['message 1', 'message 2', 'message 3']);
        await waitFor(async () => {
          const s = (await (await fetch(`${h.url}/channels/${ch.channel}?token=${ch.token}`)).json()) as { queued: number };
          return s.queued === 0;
        }, 'the queue to empty');
        // Once the queue is empty requests are relayed live again.
        const live = await fetch(`${ch.webhook_url}/live`, { method: 'POST', body: 'now' });
        assert.equal(live.status, 200);
        assert.equal(await live.text(), 'ok');
      } finally {
        await client.close();
      }
    } finally {
      await sink.close();
      await h.close();
    }
  });

  test('a queued request whose target is down stays queued and is retried until it is delivered', async () => {
    const h = await startTestHookah({ tunnel: { queue: { retryInterval: '100ms' } } });
    let up = false;
    const sink = await startSink((_req, res) => {
      if (!up) return void res.destroy();
      res.end('ok');
    });
    try {
      const ch = await issue(h.url);
      assert.equal((await fetch(ch.webhook_url, { method: 'POST', body: 'keep me' })).status, 202);
      const port = await closedPort();
      const down = await connectClient({ serverUrl: h.url, targetUrl: `http://127.0.0.1:${port}`, channel: ch.channel, token: ch.token });
      try {
        await nextForward(down, 'a failed replay', (r) => r.error === 'target_unreachable');
      } finally {
        await down.close();
      }
      up = true;
      const client = await connectClient({ serverUrl: h.url, targetUrl: sink.url, channel: ch.channel, token: ch.token });
      try {
        const [req] = await sink.waitForRequests(1, 10_000);
        assert.equal(req!.body.toString(), 'keep me');
      } finally {
        await client.close();
      }
    } finally {
      await sink.close();
      await h.close();
    }
  });

  test("tunnel.offline 'reject' answers 503 instead of queueing", async () => {
    const h = await startTestHookah({ tunnel: { offline: 'reject' } });
    try {
      const ch = await issue(h.url);
      const res = await fetch(ch.webhook_url, { method: 'POST', body: 'x' });
      assert.equal(res.status, 503);
      assert.match(((await res.json()) as { error: string }).error, /no tunnel client/);
    } finally {
      await h.close();
    }
  });

  test('the queue is bounded by count: beyond it senders get 503', async () => {
    const h = await startTestHookah({ tunnel: { queue: { maxCount: 2 } } });
    try {
      const ch = await issue(h.url);
      assert.equal((await fetch(ch.webhook_url, { method: 'POST', body: '1' })).status, 202);
      assert.equal((await fetch(ch.webhook_url, { method: 'POST', body: '2' })).status, 202);
      const full = await fetch(ch.webhook_url, { method: 'POST', body: '3' });
      assert.equal(full.status, 503);
      assert.match(((await full.json()) as { error: string }).error, /maximum of 2/);
    } finally {
      await h.close();
    }
  });
});

describe('tunnel: several clients on one channel', () => {
  test("balance mode takes turns; broadcast mode sends to every client and the first answer wins", async () => {
    for (const mode of ['balance', 'broadcast'] as const) {
      const h = await startTestHookah({ tunnel: { multiClient: mode } });
      const a = await startSink((_req, res) => void res.end('a'));
      const b = await startSink((_req, res) => void res.end('b'));
      const ch = await issue(h.url);
      const ca = await connectClient({ serverUrl: h.url, targetUrl: a.url, channel: ch.channel, token: ch.token });
      const cb = await connectClient({ serverUrl: h.url, targetUrl: b.url, channel: ch.channel, token: ch.token });
      try {
        const answers: string[] = [];
        for (let i = 0; i < 4; i++) {
          const res = await fetch(ch.webhook_url, { method: 'POST', body: String(i) });
          assert.equal(res.status, 200);
          answers.push(await res.text());
        }
        if (mode === 'balance') {
          assert.deepEqual(answers.sort(), ['a', 'a', 'b', 'b']);
          assert.equal(a.requests.length, 2);
          assert.equal(b.requests.length, 2);
        } else {
          await a.waitForRequests(4);
          await b.waitForRequests(4);
        }
      } finally {
        await ca.close();
        await cb.close();
        await a.close();
        await b.close();
        await h.close();
      }
    }
  });
});

describe('tunnel: channel lifetime', () => {
  test('a channel unused for longer than tunnel.channelTtl expires', async () => {
    const h = await startTestHookah({ tunnel: { channelTtl: '200ms' } });
    try {
      const ch = await issue(h.url);
      assert.equal((await fetch(ch.webhook_url, { method: 'POST', body: 'x' })).status, 202);
      await waitFor(async () => (await fetch(`${h.url}/channels/${ch.channel}?token=${ch.token}`)).status === 404, 'the channel to expire');
      assert.equal((await fetch(ch.webhook_url, { method: 'POST', body: 'x' })).status, 404);
    } finally {
      await h.close();
    }
  });
});
