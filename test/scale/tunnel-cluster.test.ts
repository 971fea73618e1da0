import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TunnelClient } from '../../src/edges/tunnel/tunnel-client.ts';
import type { TunnelChannelListJson } from '../../src/openapi/schemas.ts';
import { connectGateway, type GatewayTestClient } from '../gateway/helpers.ts';
import { spawnHookah, type HookahProcess } from '../helpers/process.ts';
import { redisMissing, startRedis, type TestRedis } from '../helpers/redis.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';
import { connectClient, issue, nextForward, upgradeStatus, type IssuedChannel } from '../tunnel/helpers.ts';

/**
 * The tunnel and the gateway on three (and a fourth, killed) Hookah
 * processes sharing one redis-server: a webhook reaches the client whichever
 * node it arrives at, the offline queue is shared, a node dying with a
 * request in flight is noticed, and gateway callbacks find their session.
 */

const NODE_CONFIG = {
  dispatcher: { allowNetworks: ['127.0.0.0/8', '::1/128'], retrySchedule: ['0s', '100ms', '200ms'], pollInterval: '50ms', jitter: 0 },
  tunnel: {
    requestTimeout: '20s',
    maxClientsPerChannel: 2,
    // Long, so that only a kick from the node that queued a request can make its replay prompt.
    queue: { retryInterval: '60s' },
  },
};

const post = (url: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers: { 'content-type': 'application/octet-stream', ...headers }, signal: AbortSignal.timeout(30_000) });

function nodeId(node: HookahProcess): string {
  const line = node.logs.find((l) => l.msg === 'connected to redis');
  assert.ok(line, 'the node logged its id');
  return String(line.node);
}

describe('tunnel and gateway on three nodes', { skip: redisMissing, timeout: 240_000 }, () => {
  let redis: TestRedis;
  let sink: Sink;
  const dirs: string[] = [];
  const nodes: HookahProcess[] = [];
  const clients: TunnelClient[] = [];
  let a: HookahProcess;
  let b: HookahProcess;
  let c: HookahProcess;

  const spawnNode = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookah-tunnel-node-'));
    dirs.push(dir);
    const node = await spawnHookah({ dir, config: NODE_CONFIG, args: ['--store', redis.url], timeoutMs: 30_000 });
    nodes.push(node);
    return node;
  };
  const client = async (node: HookahProcess, ch: IssuedChannel, targetUrl = sink.url) => {
    const k = await connectClient({ serverUrl: node.url, targetUrl, channel: ch.channel, token: ch.token });
    clients.push(k);
    return k;
  };
  const channelOf = (body: TunnelChannelListJson, id: string) => body.channels.find((r) => r.channel === id);
  const listing = async (node: HookahProcess) => (await (await fetch(`${node.url}/admin/tunnel/channels`)).json()) as TunnelChannelListJson;

  before(async () => {
    redis = await startRedis();
    sink = await startSink();
    [a, b, c] = await Promise.all([spawnNode(), spawnNode(), spawnNode()]);
  });

  after(async () => {
    await Promise.all(clients.map((k) => k.close()));
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    await sink?.close();
    await redis?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('a webhook to any node reaches the client on B; status, headers and body come back (large ones too)', async () => {
    sink.handle((req, res) => {
      if (req.url.startsWith('/big')) {
        // No Content-Length: streamed back chunk by chunk, through node B, to the node the sender called.
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-size': String(req.body.length) });
        const chunk = Buffer.alloc(256 * 1024, 7);
        for (let i = 0; i < 4; i++) res.write(chunk);
        res.end(req.body.subarray(0, 10));
        return;
      }
      res.writeHead(201, { 'content-type': 'application/octet-stream', 'x-reply': `got ${req.method} ${req.url}`, 'set-cookie': ['a=1', 'b=2'] });
      res.end(Buffer.concat([Buffer.from('echo:'), req.body]));
    });
    const ch = await issue(a.url);
    const k = await client(b, ch);
    const body = Buffer.from([0, 255, 13, 10, 0xc3, 0x28]);
    for (const node of [a, c, b]) {
      const forwarded = nextForward(k, `the request sent to ${node.url}`);
      const res = await post(`${node.url}/webhook/${ch.channel}/hooks/x?n=1`, body, { 'x-signature': 'sha256=abc' });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('x-reply'), 'got POST /hooks/x?n=1');
      assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.concat([Buffer.from('echo:'), body]));
      assert.equal((await forwarded).status, 201);
      const seen = sink.requests.at(-1)!;
      assert.equal(seen.headers['x-signature'], 'sha256=abc');
      assert.deepEqual(seen.body, body);
    }

    // 1.5 MiB up (too large to travel inline between nodes), 1 MiB streamed down.
    const large = randomBytes(1536 * 1024);
    const res = await post(`${a.url}/webhook/${ch.channel}/big`, large);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-size'), String(large.length));
    const got = Buffer.from(await res.arrayBuffer());
    assert.equal(got.length, 1024 * 1024 + 10);
    assert.deepEqual(got.subarray(1024 * 1024), large.subarray(0, 10));
    assert.deepEqual(sink.requests.at(-1)!.body, large, 'the request body arrived byte for byte');
  });

  test('the admin listing on every node shows the clients of every node with their node id', async () => {
    const ch = await issue(c.url);
    await client(b, ch);
    await client(c, ch);
    const [idB, idC] = [nodeId(b), nodeId(c)];
    for (const node of [a, b, c]) {
      const row = await waitFor(async () => {
        const r = channelOf(await listing(node), ch.channel);
        return r && r.clients.length === 2 ? r : undefined;
      }, `both clients in the listing of ${node.url}`, 10_000);
      assert.deepEqual(row.clients.map((k) => k.node).sort(), [idB, idC].sort());
      assert.equal(row.expires_at, null);
      for (const k of row.clients) assert.match(k.user_agent ?? '', /^hookah-client\//);
    }
    const state = (await (await fetch(`${a.url}/channels/${ch.channel}`, { headers: { 'x-hookah-channel-token': ch.token } })).json()) as { clients: number };
    assert.equal(state.clients, 2, 'GET /channels counts the clients on every node');
  });

  test('balance mode takes turns over the clients of every node; maxClientsPerChannel counts them all', async () => {
    const ch = await issue(a.url);
    const onA = await client(a, ch);
    const onB = await client(b, ch);
    const counts = new Map<TunnelClient, number>([
      [onA, 0],
      [onB, 0],
    ]);
    for (const k of [onA, onB]) k.on('forwarded', () => counts.set(k, counts.get(k)! + 1));
    sink.handle((_req, res) => void res.end('ok'));
    for (let i = 0; i < 6; i++) assert.equal((await post(`${c.url}/webhook/${ch.channel}`, `b${i}`)).status, 200);
    await waitFor(() => counts.get(onA)! + counts.get(onB)! === 6, 'six answered requests');
    assert.ok(counts.get(onA)! >= 2 && counts.get(onB)! >= 2, `both clients took turns (${counts.get(onA)} / ${counts.get(onB)})`);

    const third = await upgradeStatus(`${c.url.replace('http', 'ws')}/ws/${ch.channel}`, { 'x-hookah-channel-token': ch.token });
    assert.equal(third.status, 503, 'a third client anywhere is refused (tunnel.maxClientsPerChannel: 2)');
    assert.match(third.body, /maxClientsPerChannel/);
    await onA.close();
    await waitFor(async () => (await upgradeStatus(`${c.url.replace('http', 'ws')}/ws/${ch.channel}`, { 'x-hookah-channel-token': ch.token })).status === 101, 'room for a client again', 10_000);
  });

  test('the offline queue is shared: filled through A, replayed in order to a client that connects on C', async () => {
    const seen: string[] = [];
    sink.handle((req, res) => {
      if (req.url === '/offline') seen.push(req.body.toString());
      res.end('ok');
    });
    const ch = await issue(b.url);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await post(`${a.url}/webhook/${ch.channel}/offline`, `q${i}`);
      assert.equal(res.status, 202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    assert.deepEqual([...ids].sort((x, y) => Number(x) - Number(y)), ids, 'queue ids increase');
    await client(c, ch);
    await waitFor(() => seen.length >= 5, 'the queue replayed to the client on C', 15_000);
    assert.deepEqual(seen, ['q0', 'q1', 'q2', 'q3', 'q4']);
    await waitFor(async () => {
      const s = (await (await fetch(`${b.url}/channels/${ch.channel}`, { headers: { 'x-hookah-channel-token': ch.token } })).json()) as { queued: number };
      return s.queued === 0;
    }, 'an empty queue', 10_000);
  });

  test('a request queued on A while the client is on B is replayed at once (B is kicked), not at the next retry', async () => {
    let failing = true;
    const seen: string[] = [];
    sink.handle((req, res) => {
      if (req.url !== '/kick') return void res.end('ok');
      // The first replay finds the target down: B then waits tunnel.queue.retryInterval (60 s).
      if (failing) return void res.socket?.destroy();
      seen.push(req.body.toString());
      res.end('ok');
    });
    const ch = await issue(a.url);
    assert.equal((await post(`${a.url}/webhook/${ch.channel}/kick`, 'first')).status, 202);
    const k = await client(b, ch);
    const refused = await nextForward(k, 'the failed replay', (r) => r.error === 'target_unreachable');
    assert.equal(refused.queuedId !== undefined, true);
    failing = false;
    const startedAt = Date.now();
    // Older requests wait in the queue, so this one queues behind them, on node A.
    const res = await post(`${a.url}/webhook/${ch.channel}/kick`, 'second');
    assert.equal(res.status, 202);
    await waitFor(() => seen.length >= 2, 'both queued requests replayed', 15_000);
    assert.deepEqual(seen, ['first', 'second']);
    assert.ok(Date.now() - startedAt < 15_000, 'well before the 60 s retry interval');
  });

  test('DELETE /channels on A closes the client held by B for good', async () => {
    const ch = await issue(a.url);
    const k = await client(b, ch);
    const fatal = new Promise<Error>((resolve) => k.once('fatal', resolve));
    const res = await fetch(`${a.url}/channels/${ch.channel}`, { method: 'DELETE', headers: { 'x-hookah-channel-token': ch.token } });
    assert.equal(res.status, 204);
    assert.match((await fatal).message, /deleted/);
  });

  test('gateway: a callback arriving at A reaches the session connected to B; the session resumes on C', async () => {
    // The third party answers through the callback URL, but on node A (as a load balancer might send it).
    sink.handle((req, res) => {
      res.end('accepted');
      const callback = String(req.headers['x-hookah-callback-url'] ?? '');
      if (!callback) return;
      const viaA = callback.replace(/^http:\/\/[^/]+/, a.url);
      void post(viaA, JSON.stringify({ done: req.body.toString() }), { 'content-type': 'application/json' }).then((r) => r.arrayBuffer());
    });
    let gw: GatewayTestClient | undefined;
    let resumed: GatewayTestClient | undefined;
    try {
      gw = await connectGateway(`${b.url.replace('http', 'ws')}/gateway`);
      const session = await gw.next('the session message', (m) => m.type === 'session');
      gw.send({ action: 'dispatch', id: 'job-1', url: `${sink.url}/third-party`, data: 'work' });
      const dispatched = await gw.next('dispatched', (m) => m.type === 'dispatched');
      const callback = await gw.next('the callback, relayed from node A', (m) => m.type === 'callback', 15_000);
      assert.equal(callback.correlation_id, dispatched.correlation_id);
      assert.deepEqual(callback.data, { done: 'work' });
      const delivery = await gw.next('the delivery outcome', (m) => m.type === 'delivery', 15_000);
      assert.equal(delivery.status, 'delivered');

      // A callback to C while the session is connected to B is reported as relayed.
      const relayed = await post(`${c.url}/gateway/callback/${String(dispatched.correlation_id)}`, '{"again":true}', { 'content-type': 'application/json' });
      assert.equal(relayed.status, 202);
      assert.equal(((await relayed.json()) as { status: string }).status, 'relayed');
      await gw.next('the second callback', (m) => m.type === 'callback' && (m.data as { again?: boolean }).again === true);

      // Resuming on C takes the session over: B's connection is closed with 4409.
      const closed = new Promise<number>((resolve) => gw!.ws.once('close', (code) => resolve(code)));
      resumed = await connectGateway(`${c.url.replace('http', 'ws')}/gateway?session=${String(session.session)}&token=${encodeURIComponent(String(session.token))}&last_event_id=0`);
      const again = await resumed.next('the resumed session', (m) => m.type === 'session');
      assert.equal(again.resumed, true);
      assert.equal(await closed, 4409);
      const replayed = await resumed.next('the backlog replayed on C', (m) => m.type === 'callback');
      assert.equal(replayed.id, callback.id);
    } finally {
      await gw?.close();
      await resumed?.close();
    }
  });

  test('the node holding the client is killed mid-request: the sender gets a bounded answer (queued), not a hang', async () => {
    const d = await spawnNode();
    const release: (() => void)[] = [];
    let held = 0;
    sink.handle((req, res) => {
      if (req.url !== '/doomed') return void res.end('ok');
      held++;
      release.push(() => res.end('late'));
    });
    try {
      const ch = await issue(a.url);
      const k = await client(d, ch);
      const startedAt = Date.now();
      const pending = post(`${a.url}/webhook/${ch.channel}/doomed`, 'in flight');
      await waitFor(() => held === 1, 'the request at the target, through node D', 10_000);
      await d.kill9();
      const res = await pending;
      const elapsed = Date.now() - startedAt;
      assert.equal(res.status, 202, await res.clone().text());
      assert.equal(((await res.json()) as { status: string }).status, 'queued');
      assert.ok(elapsed < 10_000, `answered in ${elapsed} ms, far below tunnel.requestTimeout (20 s)`);

      // D is still registered for a moment; a new webhook finds it not listening and queues too.
      const next = await post(`${a.url}/webhook/${ch.channel}/doomed`, 'after the crash');
      assert.equal(next.status, 202);
      await k.close();

      // A client on another node gets both (the first one possibly twice: at least once).
      for (const r of release.splice(0)) r();
      sink.handle((_req, res) => void res.end('ok'));
      const before = sink.requests.length;
      await client(c, ch);
      await waitFor(() => sink.requests.slice(before).filter((r) => r.url === '/doomed').length >= 2, 'both requests replayed through C', 15_000);
      const bodies = sink.requests.slice(before).map((r) => r.body.toString());
      assert.deepEqual(bodies.slice(0, 2), ['in flight', 'after the crash']);
      // The dead node vanishes from the listing.
      await waitFor(async () => (await listing(a)).channels.every((r) => r.clients.every((x) => x.node !== nodeId(d))), 'node D gone from the listing', 15_000);
    } finally {
      for (const r of release.splice(0)) r();
    }
  });
  test('redis restarted: nodes re-register their clients by themselves; no webhook accepted meanwhile is lost', async () => {
    const seen = new Set<string>();
    sink.handle((req, res) => {
      if (req.url === '/outage') seen.add(req.body.toString());
      res.end('ok');
    });
    const ch = await issue(a.url);
    await client(b, ch);
    assert.equal((await post(`${a.url}/webhook/${ch.channel}/outage`, 'before')).status, 200);

    await redis.stop();
    const down = await post(`${a.url}/webhook/${ch.channel}/outage`, 'while down');
    assert.ok(down.status >= 500, `refused while redis is down, not accepted and lost (got ${down.status})`);
    await down.arrayBuffer();
    await redis.start();

    // Each webhook is answered by the client through B (200) or, until B has
    // re-registered, queued (202) and replayed later; none may be lost. While
    // the nodes reconnect a sender may instead be told to retry: 503, or 502
    // when A's subscription dropped with the answer on its way.
    const accepted: string[] = [];
    let answered = false;
    for (let i = 0; !answered; i++) {
      assert.ok(i < 200, 'a webhook through A reached the client on B again');
      const body = `after ${i}`;
      const res = await post(`${a.url}/webhook/${ch.channel}/outage`, body);
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 202) accepted.push(body);
      else assert.ok(res.status === 503 || res.status === 502, `only 502 or 503 while reconnecting, got ${res.status}`);
      answered = res.status === 200;
      if (!answered) await new Promise((r) => setTimeout(r, 100)); // client-side retry pacing, not synchronisation
    }
    await waitFor(() => accepted.every((x) => seen.has(x)), 'every accepted webhook at the target', 20_000);
    for (const node of [a, b, c]) assert.equal(node.proc.exitCode, null);
  });
});
