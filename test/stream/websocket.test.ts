import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { HttpError } from '../../src/http/errors.ts';
import { openAuthorizer, type Authorizer } from '../../src/http/auth.ts';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { waitFor } from '../helpers/wait.ts';
import { hook, rawGet } from './util.ts';

interface Client {
  ws: WebSocket;
  messages: unknown[];
  closed: { code: number; reason: string } | undefined;
}

/** Connects and resolves once the upgrade completed (the server has subscribed by then). */
function connect(url: string, options: WebSocket.ClientOptions = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const client: Client = { ws, messages: [], closed: undefined };
    ws.on('message', (data, isBinary) => {
      assert.equal(isBinary, false, 'every message is a text frame');
      client.messages.push(JSON.parse(data.toString()));
    });
    ws.on('close', (code, reason) => (client.closed = { code, reason: reason.toString() }));
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
  });
}

/** Resolves with the HTTP status a refused upgrade answered. */
function refused(url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', () => {});
  });
}

const wsUrl = (h: TestHookah, path: string) => h.url.replace(/^http/, 'ws') + path;

describe('sockethook compatibility', () => {
  let h: TestHookah;
  const clients: Client[] = [];
  const open = async (path: string, options?: WebSocket.ClientOptions) => {
    const c = await connect(wsUrl(h, path), options);
    clients.push(c);
    return c;
  };
  before(async () => {
    h = await startTestHookah();
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    await h.close();
  });

  test('a JSON webhook reaches /socket/<path> as {headers, endpoint, data} with data parsed', async () => {
    const c = await open('/socket/order/created');
    const body = '{ "id": 820982911946154508, "billing_address": {"city": "Billtown", "zip": null} }';
    const res = await fetch(`${h.url}/hook/order/created`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-shopify-topic': 'orders/create', 'x-shopify-hmac-sha256': 'wa5ZVAJ=' },
    });
    assert.equal(res.status, 200);
    const { id } = (await res.json()) as { id: string };
    await waitFor(() => c.messages.length === 1, 'the message');
    const msg = c.messages[0] as { headers: Record<string, string>; endpoint: string; data: unknown };
    assert.deepEqual(Object.keys(msg).sort(), ['data', 'endpoint', 'headers']);
    assert.equal(msg.endpoint, '/order/created');
    assert.deepEqual(msg.data, JSON.parse(body));
    assert.equal(typeof msg.headers, 'object');
    assert.equal(msg.headers['content-type'], 'application/json');
    assert.equal(msg.headers['x-shopify-topic'], 'orders/create');
    assert.equal(msg.headers['x-shopify-hmac-sha256'], 'wa5ZVAJ=');
    for (const v of Object.values(msg.headers)) assert.equal(typeof v, 'string');
    // The store keeps the body byte-exact (whitespace included) so signatures still verify.
    const stored = await h.runtime.stores.events.get(id);
    assert.equal(stored?.source, 'hook');
    assert.equal(stored?.topic, 'order/created');
    assert.deepEqual(stored?.body, Buffer.from(body));
  });

  test('a non-JSON body arrives as a string; invalid JSON too', async () => {
    const c = await open('/socket/text');
    await hook(h.url, 'text', 'a=1&b=2', 'application/x-www-form-urlencoded');
    await hook(h.url, 'text', '{not json', 'application/json');
    await hook(h.url, 'text', '', 'text/plain');
    await waitFor(() => c.messages.length === 3, 'three messages');
    const data = c.messages.map((m) => (m as { data: unknown }).data);
    assert.deepEqual(data, ['a=1&b=2', '{not json', '']);
    assert.equal((c.messages[0] as { endpoint: string }).endpoint, '/text');
  });

  test('any method on /hook/<path> publishes; every socket on the path gets it, others do not', async () => {
    const a = await open('/socket/multi/x');
    const b = await open('/socket/multi/x');
    const other = await open('/socket/multi/y');
    for (const method of ['PUT', 'PATCH', 'DELETE', 'GET']) {
      const res = await fetch(`${h.url}/hook/multi/x`, method === 'GET' ? {} : { method, body: method, headers: { 'content-type': 'text/plain' } });
      assert.equal(res.status, 200, method);
    }
    await waitFor(() => a.messages.length === 4 && b.messages.length === 4, 'four messages on both sockets');
    assert.deepEqual(
      a.messages.map((m) => (m as { data: unknown }).data),
      ['PUT', 'PATCH', 'DELETE', ''],
    );
    await hook(h.url, 'multi/y', '"y"');
    await waitFor(() => other.messages.length === 1, 'the other path');
    assert.equal(a.messages.length, 4);
  });

  test('format=envelope on /socket, and /ws?topic= with wildcards, send envelopes', async () => {
    const s = await open('/socket/env/a?format=envelope');
    const w = await open('/ws?topic=env/%2B');
    const id = await hook(h.url, 'env/a', '{"k":"v"}');
    await waitFor(() => s.messages.length === 1 && w.messages.length === 1, 'both');
    for (const m of [s.messages[0], w.messages[0]] as { id: string; topic: string; data: unknown; content_type: string }[]) {
      assert.equal(m.id, id);
      assert.equal(m.topic, 'env/a');
      assert.deepEqual(m.data, { k: 'v' });
      assert.equal(m.content_type, 'application/json');
    }
  });

  test('/ws subscribe and unsubscribe actions', async () => {
    const w = await open('/ws');
    const reply = async (msg: object) => {
      const n = w.messages.length;
      w.ws.send(JSON.stringify(msg));
      await waitFor(() => w.messages.length > n, 'a reply');
      return w.messages[n] as Record<string, unknown>;
    };
    assert.deepEqual(await reply({ action: 'subscribe', topic: 'act/#' }), { ok: true, action: 'subscribe', topic: 'act/#', topics: ['act/#'] });
    const id = await hook(h.url, 'act/one', '1');
    await waitFor(() => w.messages.some((m) => (m as { id?: string }).id === id), 'the event');
    assert.deepEqual(await reply({ action: 'unsubscribe', topic: 'act/#' }), { ok: true, action: 'unsubscribe', topic: 'act/#', topics: [] });
    assert.match(String((await reply({ action: 'subscribe', topic: 'a/#/b' })).error), /#/);
    assert.match(String((await reply({ action: 'dance' })).error), /unknown action/);
    w.ws.send('not json');
    await waitFor(() => String((w.messages.at(-1) as { error?: string }).error).includes('JSON'), 'the JSON error');
    const before = w.messages.length;
    await hook(h.url, 'act/two', '2');
    await reply({ action: 'subscribe', topic: 'act/sentinel' });
    assert.equal(w.messages.length, before + 1, 'nothing arrives after unsubscribing');
  });

  test('since= replays over a WebSocket', async () => {
    const a = await hook(h.url, 'wsr', '1');
    const b = await hook(h.url, 'wsr', '2');
    const w = await open(`/ws?topic=wsr&since=${a}`);
    await waitFor(() => w.messages.length === 1, 'the replayed message');
    assert.equal((w.messages[0] as { id: string }).id, b);
  });

  test('plain GET on a socket path is 426; bad topics are refused with 400', async () => {
    const plain = await rawGet(`${h.url}/socket/x`);
    assert.equal(plain.status, 426);
    const bad = await refused(wsUrl(h, '/socket/a/%23/b'));
    assert.equal(bad.status, 400);
    assert.match(bad.body, /#/);
    const fmt = await refused(wsUrl(h, '/socket/a?format=xml'));
    assert.equal(fmt.status, 400);
  });
});

describe('WebSocket policies', () => {
  test('Origin must be in streams.corsOrigins; clients without Origin are fine', async () => {
    const h = await startTestHookah({ streams: { corsOrigins: ['https://good.example'] } });
    try {
      const bad = await refused(wsUrl(h, '/socket/o'), { origin: 'https://evil.example' });
      assert.equal(bad.status, 403);
      assert.match(bad.body, /origin/);
      const good = await connect(wsUrl(h, '/socket/o'), { origin: 'https://good.example' });
      good.ws.close();
      const none = await connect(wsUrl(h, '/socket/o'));
      none.ws.close();
    } finally {
      await h.close();
    }
  });

  test('authorization: subscribe is checked on upgrade, publish on /hook', async () => {
    const seen: string[] = [];
    const auth: Authorizer = {
      ...openAuthorizer,
      enabled: true,
      authorize(ctx, action, resource) {
        seen.push(`${action}:${resource}`);
        if (resource === 'secret') throw new HttpError(403, `may not ${action} ${resource}`);
      },
      authorizeRequest(_req, action, resource) {
        seen.push(`upgrade-${action}:${resource}`);
        if (resource === 'secret') throw new HttpError(401, 'token required', { 'www-authenticate': 'Bearer' });
      },
    };
    const h = await startTestHookah({}, { auth });
    try {
      const denied = await refused(wsUrl(h, '/socket/secret'));
      assert.equal(denied.status, 401);
      assert.match(denied.body, /token required/);
      assert.equal((await fetch(`${h.url}/hook/secret`, { method: 'POST', body: 'x' })).status, 403);
      assert.equal((await rawGet(`${h.url}/stream?topic=secret`)).status, 403);
      assert.equal((await rawGet(`${h.url}/poll?topic=secret`)).status, 403);
      const ok = await connect(wsUrl(h, '/socket/open'));
      ok.ws.close();
      assert.ok(seen.includes('upgrade-subscribe:open'));
      assert.ok(seen.includes('publish:secret'));
    } finally {
      await h.close();
    }
  });

  test('access control that cannot judge upgrades refuses them instead of leaving them open', async () => {
    const { authorizeRequest: _omitted, ...rest } = openAuthorizer;
    const h = await startTestHookah({}, { auth: { ...rest, enabled: true } });
    try {
      const denied = await refused(wsUrl(h, '/socket/any'));
      assert.equal(denied.status, 403);
    } finally {
      await h.close();
    }
  });

  test('ping every keepAlive; a peer that never pongs is terminated', async () => {
    const h = await startTestHookah({ streams: { keepAlive: 50 } });
    try {
      const live = await connect(wsUrl(h, '/socket/ping'));
      let pings = 0;
      live.ws.on('ping', () => pings++);
      const dead = await connect(wsUrl(h, '/socket/ping'), { autoPong: false });
      await waitFor(() => dead.closed, 'the silent peer to be dropped');
      assert.equal(dead.closed!.code, 1006, 'terminated without a close handshake');
      await waitFor(() => pings >= 3, 'three pings');
      assert.equal(live.closed, undefined, 'a peer that pongs stays connected');
      assert.equal(h.runtime.bus.subscriberCounts('ping').websocket, 1);
      live.ws.close();
    } finally {
      await h.close();
    }
  });

  test('streams.maxConnections applies to upgrades; shutdown closes with 1001', async () => {
    const h = await startTestHookah({ streams: { maxConnections: 1 } });
    const c = await connect(wsUrl(h, '/socket/cap'));
    try {
      const full = await refused(wsUrl(h, '/socket/cap'));
      assert.equal(full.status, 503);
      assert.match(full.body, /maxConnections/);
    } finally {
      await h.close();
    }
    await waitFor(() => c.closed, 'the close');
    assert.equal(c.closed!.code, 1001);
    assert.match(c.closed!.reason, /shutting down/);
  });
});
