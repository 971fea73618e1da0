/**
 * Dispatch benchmark: N webhooks ingested through POST /dispatch and
 * delivered to a local sink, against N raw undici POSTs to the same sink.
 *
 *   node --import tsx bench/dispatch.ts [--messages 5000] [--concurrency 50]
 *        [--durability normal|full] [--in-process] [--cpu-prof-dir DIR]
 *        [--node-args "--max-semi-space-size=32 …"]
 *
 * Hookah runs as its own process (the real CLI, SQLite file in a temp dir) so
 * that it does not share an event loop with the load generator; --in-process
 * starts it inside this process instead. --cpu-prof-dir writes a V8 CPU
 * profile of the Hookah process there (open it in Chrome DevTools);
 * --node-args passes flags to the node that runs Hookah.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { parseConfig } from '../src/config/load.ts';
import { startHookah } from '../src/server.ts';
import { spawnHookah } from '../test/helpers/process.ts';
import { Phase, startArrivalSink } from './lib/arrivals.ts';
import { processCpuMs } from './lib/cpu.ts';

const { values: flags } = parseArgs({
  options: {
    messages: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '50' },
    durability: { type: 'string', default: 'normal' },
    'in-process': { type: 'boolean', default: false },
    'cpu-prof-dir': { type: 'string' },
    'node-args': { type: 'string' },
  },
});
const N = Number(flags.messages);
const C = Number(flags.concurrency);
const durability = flags.durability;
if (!Number.isInteger(N) || N < 1 || N > 10_000_000) fail('--messages must be a whole number from 1');
if (!Number.isInteger(C) || C < 1 || C > 10_000) fail('--concurrency must be a whole number from 1 to 10000');
if (durability !== 'normal' && durability !== 'full') fail('--durability must be normal or full');
/** Bound on how long delivery of one phase may take before the run is declared failed. */
const PHASE_TIMEOUT_MS = Math.max(60_000, N * 20);

function fail(message: string): never {
  process.stderr.write(`bench/dispatch: ${message}\n`);
  process.exit(2);
}

const sink = await startArrivalSink();
const sinkUrl = sink.url;

/** Sends N numbered POSTs, C at a time, timing each send. */
async function load(phase: Phase, send: (seq: number, body: string) => Promise<number>): Promise<{ ingestMs: number; errors: number }> {
  let next = 0;
  let errors = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < N) {
      const seq = next++;
      phase.sent[seq] = performance.now();
      const status = await send(seq, `{"seq":${seq},"pad":"${'x'.repeat(64)}"}`).catch(() => 0);
      if (status < 200 || status >= 300) errors++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(C, N) }, worker));
  return { ingestMs: performance.now() - start, errors };
}

async function waitDone(phase: Phase, name: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: only ${phase.count} of ${N} messages reached the sink within ${PHASE_TIMEOUT_MS} ms`)), PHASE_TIMEOUT_MS);
  });
  try {
    await Promise.race([phase.done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Result {
  name: string;
  deliveriesPerSec: number;
  ingestPerSec: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
}

function summarise(name: string, phase: Phase, ingestMs: number, errors: number): Result {
  let first = Infinity;
  let last = 0;
  const latencies: number[] = [];
  for (let i = 0; i < N; i++) {
    first = Math.min(first, phase.sent[i]!);
    last = Math.max(last, phase.arrived[i]!);
    latencies.push(phase.arrived[i]! - phase.sent[i]!);
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(N - 1, Math.ceil((p / 100) * N) - 1)]!;
  return {
    name,
    deliveriesPerSec: N / ((last - first) / 1000),
    ingestPerSec: N / (ingestMs / 1000),
    p50: pct(50),
    p99: pct(99),
    max: latencies[N - 1]!,
    errors,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'hookah-bench-'));
const agent = new Agent({ connections: C, keepAliveTimeout: 60_000 });
let stopHookah: (() => Promise<unknown>) | undefined;
let exitCode = 0;

try {
  // 1. Baseline: straight to the sink with undici.
  const raw = new Phase(N);
  sink.current = raw;
  const rawLoad = await load(raw, async (_seq, body) => {
    const res = await request(`${sinkUrl}/raw`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent });
    await res.body.dump();
    return res.statusCode;
  });
  await waitDone(raw, 'raw undici');
  const rawResult = summarise('raw undici → sink', raw, rawLoad.ingestMs, rawLoad.errors);

  // 2. Through Hookah: /dispatch, durable queue, delivery to the same sink.
  const config = {
    log: { level: 'warn' },
    storage: { path: join(dir, 'hookah.db'), durability },
    // Same number of connections to the one sink as the raw undici baseline uses.
    dispatcher: { allowNetworks: ['127.0.0.0/8'], perHostConcurrency: C, concurrency: Math.max(64, C) },
  };
  let hookahUrl: string;
  let hookahCpuMs = (): ReturnType<typeof processCpuMs> => undefined;
  let mainThreadCpuMs = (): ReturnType<typeof processCpuMs> => undefined;
  if (flags['in-process']) {
    const running = await startHookah(parseConfig({ ...config, server: { port: 0, address: '127.0.0.1' }, log: { level: 'silent' } }));
    hookahUrl = running.url;
    stopHookah = () => running.close();
  } else {
    // The CLI logs "listening" at info; warn would hide it, so keep info there.
    const profile = flags['cpu-prof-dir'];
    const nodeArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
    nodeArgs.push(...(flags['node-args'] ?? '').split(' ').filter(Boolean));
    const proc = await spawnHookah({ dir, config: { ...config, log: { level: 'info' } }, nodeArgs });
    hookahUrl = proc.url;
    stopHookah = () => proc.stop();
    hookahCpuMs = () => processCpuMs(proc.proc.pid!);
    // The main thread's id is the process id; V8's GC and compiler threads are the rest.
    mainThreadCpuMs = () => processCpuMs(proc.proc.pid!, proc.proc.pid!);
  }
  const dispatchUrl = `${hookahUrl}/dispatch?_url=${encodeURIComponent(`${sinkUrl}/hookah`)}`;
  const via = new Phase(N);
  sink.current = via;
  const cpuBefore = hookahCpuMs();
  const mainBefore = mainThreadCpuMs();
  const viaLoad = await load(via, async (_seq, body) => {
    const res = await request(dispatchUrl, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent });
    await res.body.dump();
    return res.statusCode;
  });
  await waitDone(via, 'hookah');
  const cpuAfter = hookahCpuMs();
  const mainAfter = mainThreadCpuMs();
  const viaResult = summarise('hookah /dispatch → sink', via, viaLoad.ingestMs, viaLoad.errors);

  const ratio = viaResult.deliveriesPerSec / rawResult.deliveriesPerSec;
  const rows = [rawResult, viaResult].map((r) => [
    r.name,
    r.deliveriesPerSec.toFixed(0),
    r.ingestPerSec.toFixed(0),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    r.max.toFixed(1),
    String(r.errors),
  ]);
  const head = ['path', 'deliveries/s', 'requests/s', 'p50 ms', 'p99 ms', 'max ms', 'errors'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\ndispatch benchmark: ${N} messages, concurrency ${C}, SQLite durability=${durability}, hookah ${flags['in-process'] ? 'in-process' : 'in its own process'}\n`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log(`\nratio hookah / raw undici (deliveries/s): ${ratio.toFixed(2)}x  (goal >= 0.50x)`);
  if (cpuBefore && cpuAfter) {
    const per = (ms: number) => ((ms * 1000) / N).toFixed(0);
    const user = cpuAfter.user - cpuBefore.user;
    const system = cpuAfter.system - cpuBefore.system;
    console.log(`hookah process CPU per message: ${per(user + system)} µs (user ${per(user)} µs, system ${per(system)} µs)`);
    if (mainBefore && mainAfter) {
      console.log(`  of which the main thread: ${per(mainAfter.user + mainAfter.system - mainBefore.user - mainBefore.system)} µs`);
    }
  }
  console.log('latency = sink arrival - request sent; requests/s = how fast the client got its answers (202 for hookah)\n');
  if (rawResult.errors + viaResult.errors > 0) exitCode = 1;
} catch (err) {
  console.error(`bench/dispatch failed: ${(err as Error).message}`);
  exitCode = 1;
} finally {
  await stopHookah?.().catch(() => undefined);
  await agent.close();
  sink.server.closeAllConnections();
  await new Promise<void>((r) => sink.server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
