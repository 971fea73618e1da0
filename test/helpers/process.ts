import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface HookahProcess {
  url: string;
  proc: ChildProcess;
  /** Every log line printed so far (parsed JSON). */
  logs: Record<string, unknown>[];
  /** SIGKILL: no chance to clean up, as in a crash. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Runs the real `hookah` CLI in its own process and resolves once it logs
 * that it is listening: the sources through tsx, or with `build` the
 * compiled CLI in dist/, as `npm start` runs it.
 */
export async function spawnHookah(options: {
  dir: string;
  build?: boolean;
  config?: unknown;
  args?: string[];
  /** Flags for node itself (e.g. --cpu-prof), before the script. */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}): Promise<HookahProcess> {
  const entry = options.build ? [join(ROOT, 'dist/cli/main.js')] : ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];
  const args = [...(options.nodeArgs ?? []), ...entry, '--port', '0', '--data', join(options.dir, 'hookah.db')];
  if (options.config !== undefined) {
    const path = join(options.dir, 'hookah.json');
    writeFileSync(path, JSON.stringify(options.config));
    args.push('--config', path);
  }
  args.push(...(options.args ?? []));
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hookah did not start within ${options.timeoutMs ?? 20000} ms; stderr: ${stderr}`)), options.timeoutMs ?? 20000);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'hookah listening') {
          clearTimeout(timer);
          resolve(entry.url as string);
        }
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`hookah exited with ${code} before listening; stderr: ${stderr}`));
    });
  });
  return {
    url,
    proc,
    logs,
    async kill9() {
      proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}
