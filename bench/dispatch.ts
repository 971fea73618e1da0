/**
 * Dispatch benchmark: N webhooks ingested through POST /dispatch and
 * delivered to a local sink, against N raw undici POSTs to the same sink and
 * against a bare relay (bench/lib/relay.ts: the same two hops, nothing stored).
 *
 *   node --import tsx bench/dispatch.ts [--messages 5000] [--concurrency 50]
 *        [--durability normal|full] [--rounds 5] [--warmup 2000] [--in-process] [--from-source] [--cpu-prof-dir DIR]
 *        [--node-args="--max-semi-space-size=32 …"]
 *
 * Hookah runs as its own process (the real CLI, SQLite file in a temp dir) so
 * that it does not share an event loop with the load generator: the compiled
 * CLI in dist/, as `npm start` runs it, or with --from-source the sources
 * through tsx; --in-process starts it inside this process instead. Rounds alternate the baseline and
 * Hookah and the ratio reported is their median. --cpu-prof-dir writes a V8 CPU
 * profile of the Hookah process there (open it in Chrome DevTools);
 * --node-args passes flags to the node that runs Hookah.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
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
    'from-source': { type: 'boolean', default: false },
    'cpu-prof-dir': { type: 'string' },
    'node-args': { type: 'string' },
    rounds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2000' },
  },
});
const N = Number(flags.messages);
const C = Number(flags.concurrency);
const durability = flags.durability;
const ROUNDS = Number(flags.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 20) fail('--rounds must be a whole number from 1 to 20');
const WARMUP = Number(flags.warmup);
if (!Number.isInteger(WARMUP) || WARMUP < 0 || WARMUP > 1_000_000) fail('--warmup must be a whole number from 0');
if (!Number.isInteger(N) || N < 1 || N > 10_000_000) fail('--messages must be a whole number from 1');
if (!Number.isInteger(C) || C < 1 || C > 10_000) fail('--concurrency must be a whole number from 1 to 10000');
if (durability !== 'normal' && durability !== 'full') fail('--durability must be normal or full');
/** Bound on how long delivery of one phase may take before the run is declared failed. */
const PHASE_TIMEOUT_MS = Math.max(60_000, N * 20);

/** The compiled CLI must match the sources, or the figures would be of some older Hookah. */
function assertBuildCurrent(): void {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const built = join(root, 'dist/cli/main.js');
  if (!existsSync(built)) fail('dist/ is missing: run `npm run build` first, or pass --from-source');
  const newest = (dir: string): number =>
    Math.max(...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
  if (newest(join(root, 'src')) > statSync(built).mtimeMs) fail('dist/ is older than src/: run `npm run build` first, or pass --from-source');
}

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
    while (next < phase.size) {
      const seq = next++;
      phase.sent[seq] = performance.now();
      const status = await send(seq, `{"seq":${seq},"pad":"${'x'.repeat(64)}"}`).catch(() => 0);
      if (status < 200 || status >= 300) errors++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(C, phase.size) }, worker));
  return { ingestMs: performance.now() - start, errors };
}

async function waitDone(phase: Phase, name: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: only ${phase.count} of ${phase.size} messages reached the sink within ${PHASE_TIMEOUT_MS} ms`)), PHASE_TIMEOUT_MS);
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
  const N = phase.size;
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
let stopRelay: (() => Promise<unknown>) | undefined;
let exitCode = 0;

try {
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
    const build = !flags['from-source'];
    if (build) assertBuildCurrent();
    const proc = await spawnHookah({ dir, config: { ...config, log: { level: 'info' } }, nodeArgs, build });
    hookahUrl = proc.url;
    stopHookah = () => proc.stop();
    hookahCpuMs = () => processCpuMs(proc.proc.pid!);
    // The main thread's id is the process id; V8's GC and compiler threads are the rest.
    mainThreadCpuMs = () => processCpuMs(proc.proc.pid!, proc.proc.pid!);
  }
  const dispatchUrl = `${hookahUrl}/dispatch?_url=${encodeURIComponent(`${sinkUrl}/hookah`)}`;

  // The bare relay: what any relay must at least do, in its own process like Hookah.
  const relay = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./lib/relay.ts', import.meta.url)), sinkUrl, String(C)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  stopRelay = () => new Promise<void>((r) => (relay.exitCode !== null ? r() : (relay.once('exit', () => r()), relay.kill('SIGTERM'))));
  const relayUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    relay.stdout.on('data', (c: Buffer) => {
      out += c;
      const m = /listening (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    relay.once('exit', (code) => reject(new Error(`the relay exited with ${code}`)));
  });

  const post = (url: string) => async (_seq: number, body: string) => {
    const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent });
    await res.body.dump();
    return res.statusCode;
  };
  const paths = [
    { name: 'raw undici → sink', send: post(`${sinkUrl}/raw`) },
    { name: 'bare relay → sink', send: post(`${relayUrl}/`), relay: true },
    { name: 'hookah /dispatch → sink', send: post(dispatchUrl), hookah: true },
  ];
  async function measure(path: (typeof paths)[number], size: number, name: string): Promise<Result> {
    const phase = new Phase(size);
    sink.current = phase;
    const loaded = await load(phase, path.send);
    await waitDone(phase, name);
    return summarise(name, phase, loaded.ingestMs, loaded.errors);
  }

  // Unmeasured: the first thousands of requests run while V8 still compiles the hot paths (of this process too).
  if (WARMUP > 0) for (const path of paths) await measure(path, WARMUP, `warm-up of ${path.name}`);

  // Rounds alternate the paths, so that a slow spell of a shared machine
  // hits every side of a ratio rather than one of them.
  const rows: string[][] = [];
  const ratios: number[] = [];
  const relayRatios: number[] = [];
  const cpu = { user: 0, system: 0, main: 0, measured: true };
  const relayCpu = { total: 0, measured: relay.pid !== undefined };
  for (let round = 1; round <= ROUNDS; round++) {
    const suffix = ROUNDS > 1 ? ` #${round}` : '';
    const results: Result[] = [];
    for (const path of paths) {
      const cpuBefore = path.hookah ? hookahCpuMs() : undefined;
      const mainBefore = path.hookah ? mainThreadCpuMs() : undefined;
      const relayBefore = path.relay && relay.pid !== undefined ? processCpuMs(relay.pid) : undefined;
      results.push(await measure(path, N, `${path.name}${suffix}`));
      if (path.relay) {
        const relayAfter = relay.pid !== undefined ? processCpuMs(relay.pid) : undefined;
        if (relayBefore && relayAfter) relayCpu.total += relayAfter.user + relayAfter.system - relayBefore.user - relayBefore.system;
        else relayCpu.measured = false;
      }
      if (!path.hookah) continue;
      const cpuAfter = hookahCpuMs();
      const mainAfter = mainThreadCpuMs();
      if (cpuBefore && cpuAfter && mainBefore && mainAfter) {
        cpu.user += cpuAfter.user - cpuBefore.user;
        cpu.system += cpuAfter.system - cpuBefore.system;
        cpu.main += mainAfter.user + mainAfter.system - mainBefore.user - mainBefore.system;
      } else cpu.measured = false;
    }
    const [raw, bare, via] = results as [Result, Result, Result];
    ratios.push(via.deliveriesPerSec / raw.deliveriesPerSec);
    relayRatios.push(via.deliveriesPerSec / bare.deliveriesPerSec);
    for (const r of results) {
      rows.push([
        r.name,
        r.deliveriesPerSec.toFixed(0),
        r.ingestPerSec.toFixed(0),
        r.p50.toFixed(1),
        r.p99.toFixed(1),
        r.max.toFixed(1),
        String(r.errors),
        `${(r.deliveriesPerSec / raw.deliveriesPerSec).toFixed(2)}x`,
      ]);
      if (r.errors > 0) exitCode = 1;
    }
  }

  const head = ['path', 'deliveries/s', 'requests/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'vs raw'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\ndispatch benchmark: ${N} messages x ${ROUNDS} rounds after ${WARMUP} warm-up messages per path, concurrency ${C}, SQLite durability=${durability}, hookah ${flags['in-process'] ? 'in-process' : flags['from-source'] ? 'in its own process (sources through tsx)' : 'in its own process (dist/)'}\n`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return { mid: (sorted[Math.floor((sorted.length - 1) / 2)]! + sorted[Math.ceil((sorted.length - 1) / 2)]!) / 2, lo: sorted[0]!, hi: sorted.at(-1)! };
  };
  const vsRaw = median(ratios);
  const vsRelay = median(relayRatios);
  console.log(`\nratio hookah / raw undici (deliveries/s), median of ${ROUNDS}: ${vsRaw.mid.toFixed(2)}x  (range ${vsRaw.lo.toFixed(2)}-${vsRaw.hi.toFixed(2)}x; goal >= 0.50x)`);
  console.log(`ratio hookah / bare relay (same hops, no storage, no retries): ${vsRelay.mid.toFixed(2)}x  (range ${vsRelay.lo.toFixed(2)}-${vsRelay.hi.toFixed(2)}x)`);
  if (cpu.measured && !flags['in-process']) {
    const per = (ms: number) => ((ms * 1000) / (N * ROUNDS)).toFixed(0);
    console.log(`hookah process CPU per message: ${per(cpu.user + cpu.system)} µs (user ${per(cpu.user)} µs, system ${per(cpu.system)} µs)`);
    console.log(`  of which the main thread: ${per(cpu.main)} µs`);
    if (relayCpu.measured) console.log(`bare relay process CPU per message: ${per(relayCpu.total)} µs (the floor for two HTTP hops in node)`);
  }
  console.log('latency = sink arrival - request sent; requests/s = how fast the client got its answers (202 for hookah)\n');
} catch (err) {
  console.error(`bench/dispatch failed: ${(err as Error).message}`);
  exitCode = 1;
} finally {
  await stopHookah?.().catch(() => undefined);
  await stopRelay?.().catch(() => undefined);
  await agent.close();
  sink.server.closeAllConnections();
  await new Promise<void>((r) => sink.server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
