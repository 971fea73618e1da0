import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { spawnHookah, type HookahProcess } from '../helpers/process.ts';
import { redisMissing, startRedis, type TestRedis } from '../helpers/redis.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';
import { jsonLines, openRaw, type RawStream } from '../stream/util.ts';

/**
 * Three Hookah processes sharing one redis-server, as in production behind
 * a load balancer: cross-node delivery for every streaming subscriber type,
 * resume across nodes, a node killed mid-delivery, and Redis restarted
 * mid-run.
 */

const NODE_CONFIG = {
  dispatcher: {
    allowNetworks: ['127.0.0.0/8', '::1/128'],
    retrySchedule: ['0s', '100ms', '200ms', '300ms', '500ms', '500ms', '500ms', '500ms'],
    pollInterval: '50ms',
    jitter: 0,
    // Lease = max(lease, maxTimeout × (quickRetries + 2)) = 2 s: a dead node's work is retried quickly.
    lease: '1s',
    timeout: '1s',
    maxTimeout: '1s',
    quickRetries: 0,
  },
  streams: { keepAlive: '1s' },
};

interface Envelope {
  id: string;
  topic: string;
  data: unknown;
}

function sseEnvelopes(text: string): Envelope[] {
  return text
    .split('\n\n')
    .slice(0, -1)
    .map((block) => block.split('\n').find((l) => l.startsWith('data: ')))
    .filter((l): l is string => l !== undefined)
    .map((l) => JSON.parse(l.slice(6)) as Envelope);
}

async function publish(node: HookahProcess, topic: string, body: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${node.url}/dispatch?_topic=${encodeURIComponent(topic)}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'text/plain', ...headers },
  });
  if (res.status !== 202) throw new Error(`publish answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { event_id: string }).event_id;
}

function openSocket(url: string): Promise<{ ws: WebSocket; messages: Envelope[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: Envelope[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as Envelope));
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('error', reject);
  });
}

describe('three hookah nodes on one redis', { skip: redisMissing, timeout: 180_000 }, () => {
  let redis: TestRedis;
  let sink: Sink;
  const dirs: string[] = [];
  let nodes: HookahProcess[] = [];
  const streams: RawStream[] = [];
  const sockets: WebSocket[] = [];

  const spawnNode = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookah-node-'));
    dirs.push(dir);
    return spawnHookah({ dir, config: NODE_CONFIG, args: ['--store', redis.url], timeoutMs: 30_000 });
  };

  before(async () => {
    redis = await startRedis();
    sink = await startSink();
    nodes = await Promise.all([spawnNode(), spawnNode(), spawnNode()]);
  });

  after(async () => {
    for (const s of streams) s.close();
    for (const ws of sockets) ws.terminate();
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    await sink?.close();
    await redis?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('every node reports redis storage', async () => {
    for (const node of nodes) {
      const health = (await (await fetch(`${node.url}/healthz`)).json()) as { storage: string };
      assert.equal(health.storage, 'redis');
    }
  });

  test('events published on any node reach SSE, chunked, WebSocket and poll subscribers on the others, in one order', async () => {
    const [a, b, c] = nodes as [HookahProcess, HookahProcess, HookahProcess];
    const topic = 'cluster/orders';
    const sse = await openRaw(`${b.url}/sse?topic=${topic}`);
    const chunked = await openRaw(`${c.url}/stream?topic=cluster/%23`);
    streams.push(sse, chunked);
    const socket = await openSocket(`${b.url.replace(/^http/, 'ws')}/ws?topic=${topic}`);
    sockets.push(socket.ws);
    // A long poll on C waiting for the next message after "now" (the log is not empty, so "now" is an id).
    await publish(a, 'warm-up', 'x');
    const before = (await (await fetch(`${c.url}/poll?topic=${topic}&timeout=10ms`)).json()) as { next: string | null };
    const longPoll = fetch(`${c.url}/poll?topic=${topic}&since=${before.next ?? '0'}&timeout=20s`).then((r) => r.json() as Promise<{ messages: Envelope[] }>);

    const publishers = [a, b, c, a, c, b, a];
    const ids: string[] = [];
    for (const [i, node] of publishers.entries()) ids.push(await publish(node, topic, `m${i}`));
    const bodies = publishers.map((_, i) => `m${i}`);

    const sseGot = await sse.until((t) => {
      const e = sseEnvelopes(t);
      return e.length >= ids.length && e;
    }, 'every event over SSE on node B', 10_000);
    const chunkGot = await chunked.until((t) => {
      const e = jsonLines(t) as unknown as Envelope[];
      return e.length >= ids.length && e;
    }, 'every event on the chunked stream on node C', 10_000);
    await waitFor(() => socket.messages.length >= ids.length, 'every event on the WebSocket on node B', 10_000);
    const polled = await longPoll;

    for (const [name, got] of [
      ['sse', sseGot],
      ['chunked', chunkGot],
      ['websocket', socket.messages],
    ] as const) {
      assert.deepEqual(got.map((e) => e.id), ids, `${name}: ids in publish order`);
      assert.deepEqual(got.map((e) => e.data), bodies, `${name}: bodies`);
    }
    assert.ok(polled.messages.length >= 1, 'the long poll woke up');
    assert.equal(polled.messages[0]!.id, ids[0]);
    // A poll from the first id on yet another node reads the rest from the shared backlog.
    const rest = (await (await fetch(`${a.url}/poll?topic=${topic}&since=${ids[0]}`)).json()) as { messages: Envelope[] };
    assert.deepEqual(rest.messages.map((m) => m.id), ids.slice(1));
  });

  test('resume with Last-Event-ID works on a different node than the one that served the stream', async () => {
    const [a, b, c] = nodes as [HookahProcess, HookahProcess, HookahProcess];
    const topic = 'cluster/resume';
    const first = await openRaw(`${b.url}/sse?topic=${topic}`);
    streams.push(first);
    const id1 = await publish(a, topic, 'one');
    await first.until((t) => sseEnvelopes(t).length === 1, 'the first event on B');
    first.close();
    // Missed while disconnected.
    const id2 = await publish(a, topic, 'two');
    const id3 = await publish(b, topic, 'three');
    const resumed = await openRaw(`${c.url}/sse?topic=${topic}`, { 'last-event-id': id1 });
    streams.push(resumed);
    const id4 = await publish(a, topic, 'four');
    const got = await resumed.until((t) => {
      const e = sseEnvelopes(t);
      return e.length >= 3 && e;
    }, 'the missed and the new events on C');
    assert.deepEqual(got.map((e) => e.id), [id2, id3, id4]);
  });

  test('a node killed mid-delivery: another node retries its deliveries once the lease expires, none is lost', async () => {
    const [a] = nodes as [HookahProcess, HookahProcess, HookahProcess];
    const total = 5;
    let hold = true;
    const held = new Set<string>();
    sink.handle((req, res) => {
      const n = String(req.headers['x-n']);
      if (hold) {
        held.add(n);
        return; // never answers: the attempt is in flight when its node dies
      }
      res.end('ok');
    });
    const ids: string[] = [];
    for (let i = 0; i < total; i++) {
      const res = await fetch(`${a.url}/dispatch?_url=${encodeURIComponent(`${sink.url}/killed`)}&_header.X-N=${i}`, { method: 'POST', body: `k${i}`, headers: { 'content-type': 'text/plain' } });
      assert.equal(res.status, 202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    // Node A claimed them on insert; wait until its attempts are all hanging at the sink.
    await waitFor(() => held.size === total, `${total} held requests`, 10_000);
    await a.kill9();
    hold = false;
    const survivors = nodes.slice(1);
    for (const id of ids) {
      await waitFor(
        async () => {
          const r = (await (await fetch(`${survivors[0]!.url}/messages/${id}`)).json()) as { status: string };
          return r.status === 'delivered';
        },
        `message ${id} delivered by a surviving node`,
        20_000,
      );
    }
    const answered = sink.requests.filter((r) => r.url === '/killed').map((r) => String(r.headers['x-n']));
    for (let i = 0; i < total; i++) assert.ok(answered.filter((n) => n === String(i)).length >= 2, `message ${i} was attempted again after the crash`);
    nodes = survivors;
  });

  test('redis restarted mid-run: nodes reconnect by themselves and nothing accepted is lost', async () => {
    const [b, c] = nodes as [HookahProcess, HookahProcess];
    const topic = 'cluster/outage';
    sink.handle((_req, res) => void res.end('ok'));
    const live = await openRaw(`${c.url}/stream?topic=${topic}`);
    streams.push(live);

    const accepted = new Map<string, string | undefined>(); // body -> event id (absent for a duplicate answered without one)
    const refused: number[] = [];
    let stop = false;
    let n = 0;
    // A publisher that keeps going through the outage, as a real client would (retrying what failed).
    const publisher = (async () => {
      while (!stop) {
        const body = `o${n++}`;
        for (let attempt = 0; ; attempt++) {
          try {
            const res = await fetch(`${b.url}/dispatch?_topic=${topic}&_url=${encodeURIComponent(`${sink.url}/outage`)}&_id=${body}`, {
              method: 'POST',
              body,
              headers: { 'content-type': 'text/plain' },
            });
            if (res.status === 202) {
              accepted.set(body, ((await res.json()) as { event_id?: string }).event_id);
              break;
            }
            refused.push(res.status);
            await res.arrayBuffer();
          } catch {
            refused.push(0);
          }
          if (stop && attempt > 50) break;
          await new Promise((r) => setTimeout(r, 50)); // client-side retry pacing, not synchronisation
        }
      }
    })();

    await waitFor(() => accepted.size >= 10, 'publishing before the outage', 10_000);
    await redis.stop();
    await waitFor(() => refused.length > 0, 'a publish refused while redis is down', 10_000);
    assert.ok(refused.every((s) => s === 0 || s >= 500), `only 5xx while down, got ${[...new Set(refused)]}`);
    await redis.start();
    const resumedAt = accepted.size;
    await waitFor(() => accepted.size >= resumedAt + 10, 'publishing again after the restart', 20_000);
    stop = true;
    await publisher;

    // Every accepted event reaches the live stream on the other node, in id order, each id once.
    // Matched by body: delivery is at-least-once, so a publish whose reply was lost in the outage
    // after Redis had stored it may be stored again by the client's retry.
    const bodies = [...accepted.keys()];
    const got = await live.until((t) => {
      const seen = new Set((jsonLines(t) as unknown as Envelope[]).map((e) => e.data));
      return bodies.every((x) => seen.has(x)) && (jsonLines(t) as unknown as Envelope[]);
    }, `all ${bodies.length} accepted events on the stream`, 20_000);
    const ids = got.map((e) => Number(e.id));
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'in id order');
    assert.equal(new Set(ids).size, ids.length, 'no event twice');
    for (const [body, id] of accepted) if (id !== undefined) assert.equal(got.find((e) => e.id === id)?.data, body);
    // And every accepted delivery reaches the sink.
    await waitFor(() => {
      const seen = new Set(sink.requests.filter((r) => r.url === '/outage').map((r) => r.body.toString()));
      return bodies.every((x) => seen.has(x));
    }, 'every accepted delivery at the sink', 20_000);
    // The nodes logged the outage and the reconnect; none needed a restart.
    for (const node of nodes) assert.equal(node.proc.exitCode, null);
  });
});
