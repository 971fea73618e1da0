/**
 * Scale-out benchmark.
 *
 *   node --import tsx bench/scale.ts [--messages 3000] [--concurrency 50] [--ops 3000]
 *
 * Part 1, cluster: N webhooks through POST /dispatch to a loopback sink with
 * one Hookah node on SQLite, one node on Redis, and three nodes on one Redis
 * (the load spread round-robin over them, as a load balancer would), plus
 * the latency of a topic event from a publish on one node to a chunked
 * stream subscriber on another. Every node is the real CLI in its own
 * process; Redis is a private redis-server (AOF, appendfsync everysec).
 *
 * Part 2, adapters: the cost per message of the Redis adapters against the
 * SQLite ones, in this process: event log append + read, delivery queue
 * enqueue + claim + finish.
 *
 * Needs redis-server on PATH. Exits by itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import type { EventLog } from '../src/core/ports.ts';
import type { DeliveryStore } from '../src/dispatcher/ports.ts';
import { RedisDeliveryStore } from '../src/store/redis/delivery-store.ts';
import { RedisEventLog } from '../src/store/redis/event-log.ts';
import { RedisKeys } from '../src/store/redis/keys.ts';
import { SqliteDeliveryStore } from '../src/store/sqlite/delivery-store.ts';
import { SqliteEventLog } from '../src/store/sqlite/event-log.ts';
import { openSqlite } from '../src/store/sqlite/open.ts';
import { spawnHookah, type HookahProcess } from '../test/helpers/process.ts';
import { redisMissing, startRedis, type TestRedis } from '../test/helpers/redis.ts';
import { Phase, startArrivalSink } from './lib/arrivals.ts';

const { values: flags } = parseArgs({
  options: {
    messages: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '50' },
    ops: { type: 'string', default: '3000' },
  },
});
const N = Number(flags.messages);
const C = Number(flags.concurrency);
const OPS = Number(flags.ops);
if (!Number.isInteger(N) || N < 1 || N > 1_000_000) fail('--messages must be a whole number from 1 to 1000000');
if (!Number.isInteger(C) || C < 1 || C > 10_000) fail('--concurrency must be a whole number from 1 to 10000');
if (!Number.isInteger(OPS) || OPS < 100 || OPS > 1_000_000) fail('--ops must be a whole number from 100 to 1000000');
if (redisMissing) fail(redisMissing);
const PHASE_TIMEOUT_MS = Math.max(60_000, N * 30);

function fail(message: string): never {
  process.stderr.write(`bench/scale: ${message}\n`);
  process.exit(2);
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------- part 1

const sink = await startArrivalSink();
const sinkUrl = sink.url;
const agent = new Agent({ connections: C, keepAliveTimeout: 60_000 });

interface ClusterResult {
  name: string;
  deliveriesPerSec: number;
  ingestPerSec: number;
  p50: number;
  p99: number;
  errors: number;
}

async function runDispatch(name: string, urls: string[]): Promise<ClusterResult> {
  const phase = new Phase(N);
  sink.current = phase;
  let next = 0;
  let errors = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < N) {
      const seq = next++;
      const base = urls[seq % urls.length]!;
      phase.sent[seq] = performance.now();
      try {
        const res = await request(`${base}/dispatch?_url=${encodeURIComponent(`${sinkUrl}/in`)}`, {
          method: 'POST',
          body: `{"seq":${seq},"pad":"${'x'.repeat(64)}"}`,
          headers: { 'content-type': 'application/json' },
          dispatcher: agent,
        });
        await res.body.dump();
        if (res.statusCode !== 202) errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(C, N) }, worker));
  const ingestMs = performance.now() - start;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    phase.done,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${name}: ${phase.count} of ${N} delivered within ${PHASE_TIMEOUT_MS} ms`)), PHASE_TIMEOUT_MS))),
  ]).finally(() => clearTimeout(timer));
  let first = Infinity;
  let last = 0;
  const lat: number[] = [];
  for (let i = 0; i < N; i++) {
    first = Math.min(first, phase.sent[i]!);
    last = Math.max(last, phase.arrived[i]!);
    lat.push(phase.arrived[i]! - phase.sent[i]!);
  }
  lat.sort((a, b) => a - b);
  return { name, deliveriesPerSec: N / ((last - first) / 1000), ingestPerSec: N / (ingestMs / 1000), p50: pct(lat, 50), p99: pct(lat, 99), errors };
}

/** Publish on `from`, receive on a chunked stream on `to`: one message at a time, so this is pure latency. */
async function streamLatency(from: string, to: string, count: number): Promise<{ p50: number; p99: number }> {
  const topic = `bench/latency/${Date.now()}`;
  const waiting = new Map<string, (at: number) => void>();
  let buffered = '';
  const req = httpRequest(`${to}/stream?topic=${encodeURIComponent(topic)}`, { agent: false });
  const opened = new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const at = performance.now();
        buffered += chunk;
        const lines = buffered.split('\r\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          if (!line) continue;
          const body = (JSON.parse(line) as { data: string }).data;
          waiting.get(body)?.(at);
        }
      });
      resolve();
    });
    req.on('error', reject);
  });
  req.end();
  await opened;
  const lat: number[] = [];
  for (let i = 0; i < count; i++) {
    const body = `l${i}`;
    const arrived = new Promise<number>((resolve) => waiting.set(body, resolve));
    const sent = performance.now();
    const res = await request(`${from}/dispatch?_topic=${encodeURIComponent(topic)}`, { method: 'POST', body, headers: { 'content-type': 'text/plain' }, dispatcher: agent });
    await res.body.dump();
    let timer: NodeJS.Timeout | undefined;
    const at = await Promise.race([arrived, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('stream latency: an event did not arrive within 10 s')), 10_000)))]).finally(() =>
      clearTimeout(timer),
    );
    lat.push(at - sent);
  }
  req.destroy();
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

// ---------------------------------------------------------------- part 2

interface AdapterCost {
  name: string;
  /** Microseconds per message, one operation at a time (latency-bound). */
  serial: Record<string, number>;
  /** Microseconds per message with 32 operations in flight (throughput-bound). */
  parallel: Record<string, number>;
}

const event = (i: number) => ({ topic: `bench/t${i % 8}`, headers: { 'content-type': 'application/json' }, contentType: 'application/json', body: Buffer.from(`{"seq":${i},"pad":"${'x'.repeat(200)}"}`), source: 'bench' });
const delivery = () => ({
  kind: 'dispatch' as const,
  url: 'http://127.0.0.1:9/x',
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(`{"pad":"${'x'.repeat(200)}"}`),
  maxAttempts: 3,
  timeoutMs: 1000,
  sign: false,
  nextAttemptAt: Date.now(),
});

async function timed(n: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await op(next++);
    }),
  );
  return ((performance.now() - start) * 1000) / n;
}

async function measureAdapters(name: string, log: EventLog, store: DeliveryStore): Promise<AdapterCost> {
  const result: AdapterCost = { name, serial: {}, parallel: {} };
  for (const [mode, inFlight] of [
    ['serial', 1],
    ['parallel', 32],
  ] as const) {
    const out = result[mode];
    out.append = await timed(OPS, inFlight, (i) => log.append(event(i)));
    // Reading everything back, 100 at a time, from the start of the run.
    let cursor: string | undefined;
    const start = performance.now();
    let read = 0;
    for (;;) {
      const { events } = await log.read({ patterns: ['bench/#'], afterId: cursor, limit: 100 });
      if (events.length === 0) break;
      read += events.length;
      cursor = events[events.length - 1]!.id;
    }
    out.read = ((performance.now() - start) * 1000) / read;
    out.enqueue = await timed(OPS, inFlight, () => store.insert(delivery()));
    const ids: string[] = [];
    const claimStart = performance.now();
    for (;;) {
      const batch = await store.claimDue(Date.now(), 100, Date.now() + 60_000);
      if (batch.length === 0) break;
      for (const d of batch) ids.push(d.id);
    }
    out.claim = ((performance.now() - claimStart) * 1000) / Math.max(1, ids.length);
    out.finish = await timed(ids.length, inFlight, (i) =>
      store.finishAttempt(ids[i]!, { n: 1, startedAt: Date.now(), durationMs: 1, status: 200 }, { status: 'delivered', at: Date.now() }),
    );
    out.total = out.append + out.read + out.enqueue + out.claim + out.finish;
  }
  return result;
}

// ---------------------------------------------------------------- run

const dir = mkdtempSync(join(tmpdir(), 'hookah-bench-scale-'));
let redis: TestRedis | undefined;
const procs: HookahProcess[] = [];
let exitCode = 0;

const nodeConfig = (prefix: string) => ({
  log: { level: 'info' },
  storage: { redisPrefix: prefix },
  dispatcher: { allowNetworks: ['127.0.0.0/8'], perHostConcurrency: C, concurrency: Math.max(64, C) },
});

async function nodes(count: number, store: 'sqlite' | 'redis', prefix: string): Promise<HookahProcess[]> {
  const started: HookahProcess[] = [];
  for (let i = 0; i < count; i++) {
    const nodeDir = mkdtempSync(join(dir, 'node-'));
    const p = await spawnHookah({ dir: nodeDir, config: nodeConfig(prefix), args: store === 'redis' ? ['--store', redis!.url] : [], timeoutMs: 30_000 });
    procs.push(p);
    started.push(p);
  }
  return started;
}

async function stopAll(list: HookahProcess[]): Promise<void> {
  await Promise.all(list.map((p) => p.stop().catch(() => undefined)));
}

try {
  redis = await startRedis({ fsync: 'everysec' });
  console.log(`\nscale-out benchmark: ${N} webhooks per scenario, client concurrency ${C}; redis-server AOF everysec; each node its own process\n`);

  const cluster: ClusterResult[] = [];
  const latency: { name: string; p50: number; p99: number }[] = [];

  const one = await nodes(1, 'sqlite', 'b1:');
  cluster.push(await runDispatch('1 node, sqlite', [one[0]!.url]));
  latency.push({ name: '1 node, sqlite (same node)', ...(await streamLatency(one[0]!.url, one[0]!.url, 200)) });
  await stopAll(one);

  const oneRedis = await nodes(1, 'redis', 'b2:');
  cluster.push(await runDispatch('1 node, redis', [oneRedis[0]!.url]));
  latency.push({ name: '1 node, redis (same node)', ...(await streamLatency(oneRedis[0]!.url, oneRedis[0]!.url, 200)) });
  await stopAll(oneRedis);

  const three = await nodes(3, 'redis', 'b3:');
  cluster.push(await runDispatch('3 nodes, redis', three.map((p) => p.url)));
  latency.push({ name: '3 nodes, redis (publish A, stream B)', ...(await streamLatency(three[0]!.url, three[1]!.url, 200)) });
  await stopAll(three);

  const base = cluster[0]!.deliveriesPerSec;
  console.log(
    table(
      ['scenario', 'deliveries/s', 'ingest req/s', 'p50 ms', 'p99 ms', 'errors', 'vs 1 node sqlite'],
      cluster.map((r) => [r.name, r.deliveriesPerSec.toFixed(0), r.ingestPerSec.toFixed(0), r.p50.toFixed(1), r.p99.toFixed(1), String(r.errors), `${(r.deliveriesPerSec / base).toFixed(2)}x`]),
    ),
  );
  console.log('\nlatency = sink arrival - /dispatch sent (ingest, queue, claim, HTTP delivery)\n');
  console.log(table(['topic event → chunked stream subscriber', 'p50 ms', 'p99 ms'], latency.map((l) => [l.name, l.p50.toFixed(2), l.p99.toFixed(2)])));
  const scale3 = cluster[2]!.deliveriesPerSec / cluster[1]!.deliveriesPerSec;
  console.log(`\n3 nodes / 1 node on redis (deliveries/s): ${scale3.toFixed(2)}x on ${(await import('node:os')).availableParallelism()} CPU(s) shared by the nodes, redis, the sink and this load generator\n`);

  // Part 2.
  const db = openSqlite(join(dir, 'adapters.db'));
  const sqlite = await measureAdapters('sqlite', new SqliteEventLog(db, () => ({ maxCount: 1_000_000, maxBytes: 1e12, maxAgeMs: 1e12 })), new SqliteDeliveryStore(db));
  db.close();
  const client = new Redis(redis.url);
  const keys = new RedisKeys('adapters:');
  const red = await measureAdapters('redis', new RedisEventLog(client, keys, () => ({ maxCount: 1_000_000, maxBytes: 1e12, maxAgeMs: 1e12 })), new RedisDeliveryStore(client, keys));
  client.disconnect();
  const ops = ['append', 'read', 'enqueue', 'claim', 'finish', 'total'];
  for (const mode of ['serial', 'parallel'] as const) {
    console.log(`adapter cost per message, µs (${mode === 'serial' ? 'one operation at a time' : '32 operations in flight'}; ${OPS} messages)\n`);
    console.log(
      table(
        ['operation', 'sqlite', 'redis', 'redis / sqlite'],
        ops.map((op) => [op, sqlite[mode][op]!.toFixed(1), red[mode][op]!.toFixed(1), `${(red[mode][op]! / sqlite[mode][op]!).toFixed(2)}x`]),
      ),
    );
    console.log('');
  }
  console.log('read and claim are paged 100 at a time; sqlite group-commits concurrent enqueues and finishes\n');
  if (cluster.some((r) => r.errors > 0)) exitCode = 1;
} catch (err) {
  console.error(`bench/scale failed: ${(err as Error).stack ?? err}`);
  exitCode = 1;
} finally {
  await stopAll(procs);
  await agent.close();
  sink.server.closeAllConnections();
  await new Promise<void>((r) => sink.server.close(() => r()));
  await redis?.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
