import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Why Redis tests cannot run here, or undefined when `redis-server` is on PATH. */
export const redisMissing: string | undefined = (() => {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return probe.error || probe.status !== 0 ? 'redis-server is not on PATH (CI installs it via .ci/run; locally: apt-get install redis-server)' : undefined;
})();

export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /** Stops the server (SIGTERM: it saves the AOF) and waits for it to exit. */
  stop(): Promise<void>;
  /** Kills it without warning (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory (after stop or kill). */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A private redis-server child process on a free loopback port, with AOF
 * persistence in its own temp directory. `fsync: 'always'` (the default here)
 * loses nothing acknowledged even to a SIGKILL; `everysec` is Redis' own
 * default and what the benchmark uses.
 */
export async function startRedis(options: { fsync?: 'always' | 'everysec' } = {}): Promise<TestRedis> {
  if (redisMissing) throw new Error(redisMissing);
  const dir = mkdtempSync(join(tmpdir(), 'hookah-redis-'));
  let port = await freePort();
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', options.fsync ?? 'always', '--dir', dir, '--logfile', '', '--protected-mode', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc = child;
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${output}`)), 10_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        output += `${line}\n`;
        if (/Ready to accept connections/.test(line)) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited before it was ready:\n${output}`));
      });
    });
  };

  // The port was free a moment ago; another process may have taken it since.
  for (let tries = 0; ; tries++) {
    try {
      await launch();
      break;
    } catch (err) {
      if (tries >= 3) throw err;
      port = await freePort();
    }
  }

  const halt = async (signal: NodeJS.Signals) => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    get port() {
      return port;
    },
    dir,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    start: launch,
    async close() {
      await halt('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let counter = 0;
/** A key prefix no other test uses, so tests can share one redis-server. */
export function uniquePrefix(): string {
  return `test${process.pid}-${Date.now().toString(36)}-${counter++}:`;
}
