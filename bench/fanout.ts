/**
 * Fan-out benchmark: one publisher, N concurrent subscribers of each
 * streaming type (chunked stream, SSE, WebSocket, long-poll) on loopback.
 *
 *   node --import tsx bench/fanout.ts [--subscribers 1000,5000] [--messages 200]
 *        [--poll-messages 40] [--types stream,sse,websocket,poll] [--window 4]
 *        [--profile <dir>]   (writes a CPU profile of the server there)
 *
 * Hookah runs in a child process (this file with --child, started with
 * --expose-gc) so that the server's memory can be measured on its own and it
 * does not share an event loop with the clients. For each type and N it
 * reports deliveries per second, publish-to-receive latency (p50/p99, from the
 * publisher's POST /hook/<topic> to the subscriber parsing the message; one
 * clock, this process) and the server's RSS / heap growth per idle
 * connection. Up to --window messages are in flight at once. Long-poll costs
 * an HTTP request per delivery, so its cases publish --poll-messages instead.
 *
 * Each connection costs a file descriptor in this process and one in the
 * server: check `ulimit -n` (the run refuses to start when it is too low).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client as UndiciClient } from 'undici';
import WebSocket from 'ws';

type Kind = 'stream' | 'sse' | 'websocket' | 'poll';
const KINDS: Kind[] = ['stream', 'sse', 'websocket', 'poll'];

interface ChildStats {
  rss: number;
  heapUsed: number;
  subscribers: number;
}

/** One message as published: the sequence number and the send time on this process's clock. */
interface Payload {
  seq: number;
  t: number;
}

// ---------------------------------------------------------------- server side

async function runServer(): Promise<void> {
  const { parseConfig } = await import('../src/config/load.ts');
  const { startHookah } = await import('../src/server.ts');
  const dir = mkdtempSync(join(tmpdir(), 'hookah-fanout-'));
  const hookah = await startHookah(
    parseConfig({
      server: { port: 0, address: '127.0.0.1' },
      storage: { path: join(dir, 'hookah.db') },
      log: { level: 'warn' },
      streams: { maxConnections: 200_000, pollTimeout: '10m', maxPollTimeout: '10m', maxBufferBytes: 8 * 1024 * 1024 },
    }),
    { logDestination: process.stderr },
  );
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (msg: { cmd: string; topic?: string }) => {
    if (msg.cmd === 'stats') {
      if (msg.topic === undefined) {
        gc?.();
        gc?.();
      }
      const mem = process.memoryUsage();
      const counts = msg.topic ? hookah.runtime.bus.subscriberCounts(msg.topic) : {};
      const subscribers = Object.values(counts).reduce((a, b) => a + b, 0);
      process.send!({ rss: mem.rss, heapUsed: mem.heapUsed, subscribers } satisfies ChildStats);
    } else if (msg.cmd === 'exit') {
      void hookah.close().finally(() => {
        rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ url: hookah.url });
}

// ---------------------------------------------------------------- client side

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    options: {
      subscribers: { type: 'string', default: '1000,5000' },
      messages: { type: 'string', default: '200' },
      'poll-messages': { type: 'string', default: '40' },
      types: { type: 'string', default: KINDS.join(',') },
      window: { type: 'string', default: '4' },
      profile: { type: 'string' },
    },
  });
  const sizes = flags.subscribers.split(',').map(Number);
  const messages = Number(flags.messages);
  const pollMessages = Number(flags['poll-messages']);
  const window = Number(flags.window);
  const kinds = flags.types.split(',') as Kind[];
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000)) fail('--subscribers must be whole numbers from 1 to 100000, comma separated');
  if (!Number.isInteger(messages) || messages < 1 || messages > 100_000) fail('--messages must be a whole number from 1 to 100000');
  if (!Number.isInteger(pollMessages) || pollMessages < 1 || pollMessages > 100_000) fail('--poll-messages must be a whole number from 1 to 100000');
  if (!Number.isInteger(window) || window < 1 || window > 1000) fail('--window must be a whole number from 1 to 1000');
  if (kinds.some((k) => !KINDS.includes(k))) fail(`--types must be among ${KINDS.join(',')}`);
  checkFdLimit(Math.max(...sizes));
  process.stdout.write('each case runs against a fresh Hookah in a child process (SQLite in a temp dir)\n');

  const results: string[] = [];
  for (const n of sizes) {
    for (const kind of kinds) {
      const m = kind === 'poll' ? pollMessages : messages;
      // A fresh server per case, so that RSS growth is not hidden by memory an earlier case left behind.
      const server = await startServer(flags.profile);
      let r: CaseResult;
      try {
        r = await runCase(server, kind, n, m, window);
      } finally {
        await server.stop();
      }
      const line = [
        kind.padEnd(9),
        String(n).padStart(6),
        String(m).padStart(6),
        fmt(r.deliveriesPerSec, 0).padStart(12),
        fmt(r.p50, 1).padStart(8),
        fmt(r.p99, 1).padStart(8),
        fmt(r.rssPerConn / 1024, 1).padStart(10),
        fmt(r.heapPerConn / 1024, 1).padStart(11),
        r.missing ? `  MISSING ${r.missing}` : '',
      ].join(' ');
      results.push(line);
      process.stdout.write(`${line}\n`);
    }
  }
  process.stdout.write(`\n${header()}\n${results.join('\n')}\n`);
  process.stdout.write(
    '\nlatency: POST /hook/<topic> by the publisher to the subscriber parsing the message (ms); memory: server-process growth per idle subscribed connection (KiB, after GC)\n',
  );
  process.exit(0);
}

function header(): string {
  return 'type          subs   msgs  deliveries/s  p50 ms   p99 ms  RSS KiB/c  heap KiB/c';
}

function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

function fail(message: string): never {
  process.stderr.write(`bench/fanout: ${message}\n`);
  process.exit(2);
}

/** Each subscriber holds one descriptor here and one in the server process. */
function checkFdLimit(n: number): void {
  const out = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim();
  const limit = out === 'unlimited' ? Infinity : Number(out);
  const needed = n + 256;
  process.stdout.write(`open-file limit (ulimit -n): ${out}; this run needs about ${needed} per process\n`);
  if (Number.isFinite(limit) && limit < needed) fail(`ulimit -n is ${limit}, too low for ${n} subscribers: raise it (e.g. \`ulimit -n 65536\`) and run again`);
}

interface Server {
  url: string;
  stats(topic?: string): Promise<ChildStats>;
  stop(): Promise<void>;
}

async function startServer(profileDir: string | undefined): Promise<Server> {
  const self = fileURLToPath(import.meta.url);
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', ...profile, '--import', 'tsx', self, '--child'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  let queue = Promise.resolve<unknown>(undefined);
  const stats = (topic?: string) => {
    const next = queue.then(
      () =>
        new Promise<ChildStats>((resolve) => {
          child.once('message', (m) => resolve(m as ChildStats));
          child.send({ cmd: 'stats', topic });
        }),
    );
    queue = next;
    return next;
  };
  return {
    url,
    stats,
    stop: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.send({ cmd: 'exit' });
      }),
  };
}

interface CaseResult {
  deliveriesPerSec: number;
  p50: number;
  p99: number;
  rssPerConn: number;
  heapPerConn: number;
  missing: number;
}

/** Receipts of one case: per-message counters and every latency sample. */
class Tally {
  readonly counts: Uint32Array;
  readonly latencies: Float64Array;
  total = 0;
  lastAt = 0;
  #waiters = new Map<number, () => void>();

  constructor(
    readonly n: number,
    messages: number,
  ) {
    this.counts = new Uint32Array(messages);
    this.latencies = new Float64Array(n * messages);
  }

  receive(p: Payload): void {
    const now = performance.now();
    if (!(p.seq >= 0 && p.seq < this.counts.length)) return;
    this.latencies[this.total++] = now - p.t;
    this.lastAt = now;
    if (++this.counts[p.seq]! === this.n) this.#waiters.get(p.seq)?.();
  }

  /** Resolves when every subscriber got message `seq`, or after `timeoutMs`. */
  complete(seq: number, timeoutMs: number): Promise<void> {
    if (this.counts[seq] === this.n) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#waiters.set(seq, () => {
        this.#waiters.delete(seq);
        done();
      });
    });
  }
}

interface Subscriber {
  close(): void;
}

async function runCase(server: Server, kind: Kind, n: number, messages: number, window: number): Promise<CaseResult> {
  const topic = `bench/${kind}/${n}`;
  process.stdout.write(`${kind} × ${n}: warming up… `);
  await warmUp(server, kind);
  process.stdout.write('connecting… ');
  const before = await server.stats();
  const tally = new Tally(n, messages);
  const subs: Subscriber[] = [];
  const BATCH = 200;
  for (let i = 0; i < n; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, n - i) }, () => connect(kind, server.url, topic, tally));
    subs.push(...(await Promise.all(batch)));
  }
  await until(async () => (await server.stats(topic)).subscribers >= n, `${n} ${kind} subscribers`, 120_000);
  const idle = await server.stats();
  process.stdout.write('publishing… ');

  const publisher = new Agent({ keepAlive: true, maxSockets: 1 });
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let seq = 0; seq < messages; seq++) {
    if (inFlight.length >= window) await inFlight.shift();
    await publish(publisher, server.url, topic, { seq, t: performance.now() });
    inFlight.push(tally.complete(seq, 120_000));
  }
  await Promise.all(inFlight);
  const elapsed = (tally.lastAt - started) / 1000;
  publisher.destroy();

  for (const s of subs) s.close();
  await until(async () => (await server.stats(topic)).subscribers === 0, 'subscribers to disconnect', 60_000);
  process.stdout.write('done\n');

  const samples = tally.latencies.subarray(0, tally.total).sort();
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))] ?? NaN;
  return {
    deliveriesPerSec: tally.total / elapsed,
    p50: pct(50),
    p99: pct(99),
    rssPerConn: (idle.rss - before.rss) / n,
    heapPerConn: (idle.heapUsed - before.heapUsed) / n,
    missing: n * messages - tally.total,
  };
}

/** Runs the code paths of `kind` once, so that lazy initialisation is not counted as per-connection memory. */
async function warmUp(server: Server, kind: Kind): Promise<void> {
  const topic = `bench/warmup/${kind}`;
  const n = 20;
  const tally = new Tally(n, 2);
  const subs = await Promise.all(Array.from({ length: n }, () => connect(kind, server.url, topic, tally)));
  await until(async () => (await server.stats(topic)).subscribers >= n, 'warm-up subscribers', 60_000);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let seq = 0; seq < 2; seq++) {
    await publish(agent, server.url, topic, { seq, t: performance.now() });
    await tally.complete(seq, 60_000);
  }
  agent.destroy();
  for (const s of subs) s.close();
  await until(async () => (await server.stats(topic)).subscribers === 0, 'warm-up subscribers to disconnect', 60_000);
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function publish(agent: Agent, base: string, topic: string, payload: Payload): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(payload);
    const req = request(`${base}/hook/${topic}`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`publish answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function connect(kind: Kind, base: string, topic: string, tally: Tally): Promise<Subscriber> {
  switch (kind) {
    case 'stream':
      return httpStream(`${base}/stream?topic=${topic}`, {}, splitter('\r\n', (line) => line && tally.receive(envelopeData(line))));
    case 'sse':
      return httpStream(
        `${base}/stream?topic=${topic}`,
        { accept: 'text/event-stream' },
        splitter('\n\n', (block) => {
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) tally.receive(envelopeData(data.slice(6)));
        }),
      );
    case 'websocket':
      return webSocket(`${base.replace('http', 'ws')}/socket/${topic}`, tally);
    case 'poll':
      return longPoll(base, topic, tally);
  }
}

function envelopeData(json: string): Payload {
  return (JSON.parse(json) as { data: Payload }).data;
}

/** Cuts a text stream into frames at `sep`. */
function splitter(sep: string, onFrame: (frame: string) => void): (chunk: string) => void {
  let rest = '';
  return (chunk) => {
    rest += chunk;
    let i: number;
    while ((i = rest.indexOf(sep)) >= 0) {
      onFrame(rest.slice(0, i));
      rest = rest.slice(i + sep.length);
    }
  };
}

function httpStream(url: string, headers: Record<string, string>, onChunk: (chunk: string) => void): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(url, { headers, agent: false }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) return reject(new Error(`${url} answered ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', onChunk);
      res.on('error', () => {});
      resolve({ close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

function webSocket(url: string, tally: Tally): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('message', (data) => tally.receive((JSON.parse(data.toString()) as { data: Payload }).data));
    ws.on('error', () => {}); // a reset after the run is not a result
    ws.once('open', () => resolve({ close: () => ws.terminate() }));
    ws.once('error', reject);
  });
}

/** A long-poll loop: one keep-alive connection per subscriber, re-polling from `next`. */
function longPoll(base: string, topic: string, tally: Tally): Promise<Subscriber> {
  const client = new UndiciClient(base, { keepAliveTimeout: 600_000, headersTimeout: 0, bodyTimeout: 0 });
  let stopped = false;
  return new Promise((resolve) => {
    let since: string | null = null;
    void (async () => {
      let first = true;
      while (!stopped) {
        const path = `/poll?topic=${topic}&timeout=10m${since ? `&since=${since}` : ''}`;
        const pending = client.request({ path, method: 'GET' });
        if (first) {
          first = false;
          // The request is out; the server counts it once it is waiting.
          resolve({
            close: () => {
              stopped = true;
              void client.destroy().catch(() => {});
            },
          });
        }
        try {
          const res = await pending;
          const body = (await res.body.json()) as { messages: { data: Payload }[]; next: string | null };
          if (res.statusCode !== 200) throw new Error(`poll answered ${res.statusCode}`);
          for (const m of body.messages) tally.receive(m.data);
          since = body.next;
        } catch {
          if (!stopped) await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
  });
}

// Last, so that every class above is initialised before either side runs.
if (process.argv.includes('--child')) await runServer();
else await main();
