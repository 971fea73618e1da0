import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { TunnelChannelListJson } from '../../src/openapi/schemas.ts';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';
import { connectClient, issue } from './helpers.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function listing(base: string, query = '', headers: Record<string, string> = {}): Promise<TunnelChannelListJson> {
  const res = await fetch(`${base}/admin/tunnel/channels${query}`, { headers });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get('cache-control'), 'no-store');
  return (await res.json()) as TunnelChannelListJson;
}

/** A raw tunnel WebSocket (no hookah client), open once the hello frame arrived. */
function rawClient(wsUrl: string, token: string, userAgent?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: { 'x-hookah-channel-token': token, ...(userAgent ? { 'user-agent': userAgent } : {}) } });
    ws.once('message', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('tunnel admin: GET /admin/tunnel/channels', () => {
  let h: TestHookah;
  let sink: Sink;
  before(async () => {
    h = await startTestHookah({ tunnel: { requestTimeout: '5s' } });
    sink = await startSink();
  });
  after(async () => {
    await sink.close();
    await h.close();
  });

  test('lists channels with their clients, connected ones first; clients appear and disappear', async () => {
    const idle = await issue(h.url);
    const viaClient = await issue(h.url);
    const viaRaw = await issue(h.url);
    // Used last, but without a client: listed after both connected channels.
    assert.equal((await fetch(idle.webhook_url, { method: 'POST', body: 'queued while offline' })).status, 202);

    const client = await connectClient({ serverUrl: h.url, targetUrl: sink.url, channel: viaClient.channel, token: viaClient.token });
    const raw = await rawClient(viaRaw.ws_url, viaRaw.token, 'raw-test/1.0');
    const raw2 = await rawClient(viaRaw.ws_url, viaRaw.token);
    try {
      // A gateway session lives in the same store, but is not a tunnel channel.
      const gw = new WebSocket(`${h.url.replace('http', 'ws')}/gateway`);
      await new Promise((r) => gw.once('message', r));
      gw.close();

      const body = await listing(h.url);
      assert.equal(body.mode, 'balance');
      assert.equal(body.total, 3);
      assert.equal(body.truncated, false);
      assert.deepEqual(
        body.channels.map((c) => c.channel).slice(0, 2).sort(),
        [viaRaw.channel, viaClient.channel].sort(),
        'connected channels first, though the idle one was used after they were issued',
      );
      assert.equal(body.channels[2]!.channel, idle.channel);
      const row = (id: string) => body.channels.find((c) => c.channel === id)!;
      const [rawRow, clientRow, idleRow] = [row(viaRaw.channel), row(viaClient.channel), row(idle.channel)];

      assert.equal(clientRow.clients.length, 1);
      const c = clientRow.clients[0]!;
      assert.match(c.id, /^c\d+$/);
      assert.equal(c.node, null, 'a single node has no node ids');
      assert.equal(c.remote_address, '127.0.0.1');
      assert.match(c.user_agent ?? '', /^hookah-client\//);
      assert.equal(c.in_flight, 0);
      assert.ok(Date.now() - Date.parse(c.connected_at) < 60_000);
      assert.equal(clientRow.expires_at, null);

      assert.equal(rawRow.clients.length, 2);
      assert.deepEqual(rawRow.clients.map((k) => k.user_agent), ['raw-test/1.0', null], 'oldest client first');
      assert.notEqual(rawRow.clients[0]!.id, rawRow.clients[1]!.id);

      assert.deepEqual(idleRow.clients, []);
      assert.equal(idleRow.queued, 1);
      assert.equal(idleRow.queued_bytes, Buffer.byteLength('queued while offline'));
      assert.equal(Date.parse(idleRow.expires_at!), Date.parse(idleRow.last_used_at) + 30 * 24 * 3600 * 1000);
      assert.ok(Date.parse(idleRow.created_at) <= Date.parse(idleRow.last_used_at));

      // A request the raw client never answers is in flight on it.
      raw.on('message', () => undefined);
      const pending = fetch(viaRaw.webhook_url, { method: 'POST', body: 'x' });
      const busy = await waitFor(async () => {
        const row = (await listing(h.url)).channels.find((r) => r.channel === viaRaw.channel);
        return row && row.clients.some((k) => k.in_flight === 1) ? row : undefined;
      }, 'a request in flight on the raw client', 10_000);
      assert.equal(busy.clients.reduce((n, k) => n + k.in_flight, 0), 1, 'balance mode sends it to one client');

      raw.close();
      raw2.close();
      await waitFor(async () => (await listing(h.url)).channels.find((r) => r.channel === viaRaw.channel)?.clients.length === 0, 'the raw clients to disappear', 10_000);
      assert.equal((await pending).status, 502, 'the request fails when its client goes away');

      await client.close();
      const after = await waitFor(async () => {
        const b = await listing(h.url);
        return b.channels.every((r) => r.clients.length === 0) ? b : undefined;
      }, 'every client to disappear', 10_000);
      assert.ok(after.channels.every((r) => r.expires_at !== null));
    } finally {
      raw.terminate();
      raw2.terminate();
      await client.close();
    }
  });

  test('limit: the page is truncated and bad values are refused with a reason', async () => {
    const body = await listing(h.url, '?limit=1');
    assert.equal(body.channels.length, 1);
    assert.equal(body.truncated, true);
    assert.ok(body.total > 1);
    for (const bad of ['0', '2001', 'x', '-1', '1.5', '']) {
      const res = await fetch(`${h.url}/admin/tunnel/channels?limit=${bad}`);
      assert.equal(res.status, 400, `limit=${bad}`);
      assert.match(((await res.json()) as { error: string }).error, /limit must be a whole number from 1 to 2000/);
    }
  });
});

describe('tunnel admin with access control', () => {
  let h: TestHookah;
  before(async () => {
    h = await startTestHookah({
      auth: {
        users: [
          { name: 'root', password: 'plain;;root-pass', admin: true },
          { name: 'alice', password: 'plain;;alice-pass', subscribe: ['tunnel', 'tunnel/#'], publish: ['tunnel/#'] },
        ],
      },
    } as never);
  });
  after(() => h.close());

  test('401 without credentials, 403 for a user who is not admin, 200 for an admin', async () => {
    const anonymous = await fetch(`${h.url}/admin/tunnel/channels`);
    assert.equal(anonymous.status, 401);
    const alice = await fetch(`${h.url}/admin/tunnel/channels`, { headers: { authorization: basic('alice', 'alice-pass') } });
    assert.equal(alice.status, 403);
    assert.ok(((await alice.json()) as { error: string }).error);
    const body = await listing(h.url, '', { authorization: basic('root', 'root-pass') });
    assert.deepEqual(body.channels, []);
    assert.equal(body.total, 0);
  });
});
