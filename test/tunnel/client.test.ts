import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { startTestHookah } from '../helpers/hookah.ts';
import { startSink } from '../helpers/sink.ts';
import { connectClient, issue } from './helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

interface CliProcess {
  proc: ChildProcess;
  lines: string[];
  /** Resolves with the first line (already printed or to come) that matches. */
  line(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<number | null>;
  stderr(): string;
}

function spawnClient(args: string[]): CliProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'client', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HOOKAH_SERVER_URL: '', HOOKAH_CHANNEL_TOKEN: '' },
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of [...waiters]) w();
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    lines,
    exited,
    stderr: () => stderr,
    line(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (const l of lines) {
            const m = re.exec(l);
            if (m) {
              clearTimeout(timer);
              waiters.delete(check);
              resolve(m);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms; output:\n${lines.join('\n')}\nstderr: ${stderr}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

describe('hookah client (the real CLI, spawned)', () => {
  test('issues a channel, prints the webhook URL, relays requests and logs one line per request', async () => {
    const h = await startTestHookah();
    const sink = await startSink((req, res) => {
      res.writeHead(207, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ echoed: req.body.toString() }));
    });
    const cli = spawnClient(['--server-url', h.url, '--target-url', sink.url]);
    try {
      const [, webhookUrl] = await cli.line(/^Webhook URL: (\S+)$/);
      assert.match(webhookUrl!, new RegExp(`^${h.url}/webhook/[0-9a-f-]{36}$`));
      await cli.line(/tunnel connected/);
      const res = await fetch(`${webhookUrl}/github/push?delivery=7`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ref":"main"}' });
      assert.equal(res.status, 207);
      assert.deepEqual(await res.json(), { echoed: '{"ref":"main"}' });
      assert.equal(sink.requests[0]!.url, '/github/push?delivery=7');
      await cli.line(/POST \/github\/push\?delivery=7 -> 207 \d+ ms$/);
      const [, channel, token] = await cli.line(/^Reuse it later with: --channel (\S+) --token (\S+)$/);
      assert.equal(webhookUrl, `${h.url}/webhook/${channel}`);
      assert.ok(token);
    } finally {
      cli.proc.kill('SIGTERM');
      assert.equal(await cli.exited, 0);
      await sink.close();
      await h.close();
    }
  });

  test('reuses a channel with --channel and --token, replaying what was queued meanwhile', async () => {
    const h = await startTestHookah();
    const sink = await startSink();
    const ch = await issue(h.url);
    assert.equal((await fetch(`${ch.webhook_url}/early`, { method: 'POST', body: 'queued before the client started' })).status, 202);
    const cli = spawnClient(['--server-url', h.url, '--target-url', sink.url, '--channel', ch.channel, '--token', ch.token]);
    try {
      await cli.line(new RegExp(`^Webhook URL: ${ch.webhook_url}$`));
      const [req] = await sink.waitForRequests(1, 20_000);
      assert.equal(req!.url, '/early');
      assert.equal(req!.body.toString(), 'queued before the client started');
      await cli.line(/POST \/early -> 200 \d+ ms \[queued #\d+\]$/);
    } finally {
      cli.proc.kill('SIGTERM');
      await cli.exited;
      await sink.close();
      await h.close();
    }
  });

  test('exits with an error when the server refuses the token', async () => {
    const h = await startTestHookah();
    const ch = await issue(h.url);
    const cli = spawnClient(['--server-url', h.url, '--target-url', 'http://127.0.0.1:9', '--channel', ch.channel, '--token', 'wrong']);
    try {
      assert.equal(await cli.exited, 1);
      assert.match(cli.stderr(), /refused the tunnel \(401\)/);
    } finally {
      cli.proc.kill('SIGKILL');
      await h.close();
    }
  });
});

describe('tunnel client: reconnecting and keepalive', () => {
  test('reconnects with backoff after the server restarts and keeps the same channel (persisted)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookah-tunnel-'));
    const dbPath = join(dir, 'hookah.db');
    const sink = await startSink();
    const first = await startTestHookah({ storage: { path: dbPath } });
    const ch = await issue(first.url);
    const client = await connectClient({ serverUrl: first.url, targetUrl: sink.url, channel: ch.channel, token: ch.token });
    let second: Awaited<ReturnType<typeof startTestHookah>> | undefined;
    try {
      assert.equal((await fetch(`${ch.webhook_url}/one`, { method: 'POST', body: '1' })).status, 200);
      const dropped = new Promise((resolve) => client.once('disconnected', resolve));
      await first.close();
      await dropped;
      assert.equal(client.connected, false);
      second = await startTestHookah({ storage: { path: dbPath }, server: { port: first.port } });
      await client.waitConnected(15_000);
      const res = await fetch(`${ch.webhook_url}/two`, { method: 'POST', body: '2' });
      assert.equal(res.status, 200);
      assert.deepEqual(sink.requests.map((r) => r.url), ['/one', '/two']);
    } finally {
      await client.close();
      await second?.close();
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the server pings every tunnel.keepAlive and drops a client that stops answering', async () => {
    const h = await startTestHookah({ tunnel: { keepAlive: '100ms' } });
    try {
      const ch = await issue(h.url);
      const ws = new WebSocket(ch.ws_url, { headers: { authorization: `Bearer ${ch.token}` }, autoPong: false });
      const hello = await new Promise<Record<string, unknown>>((resolve, reject) => {
        ws.once('message', (d) => resolve(JSON.parse(d.toString()) as Record<string, unknown>));
        ws.once('error', reject);
      });
      assert.equal(hello.type, 'hello');
      assert.equal(hello.keepalive_ms, 100);
      assert.equal(hello.channel, ch.channel);
      await new Promise<void>((resolve) => ws.once('ping', () => resolve()));
      // No pong goes back, so the next round finds the client dead.
      const code = await new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
      assert.equal(code, 1006);
    } finally {
      await h.close();
    }
  });
});
