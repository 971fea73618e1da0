import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { hashPassword, type ScryptParams } from '../../src/auth/password.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startHookah, type RunningHookah } from '../../src/server.ts';

/** Cheap scrypt for tests: the format and code path are the real ones, the cost is not. */
export const FAST: ScryptParams = { N: 1024, r: 8, p: 1 };
export const fastHash = (password: string) => hashPassword(password, FAST);

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
export const bearer = (token: string) => `Bearer ${token}`;

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json(): any;
}

export async function call(base: string, path: string, init: RequestInit & { auth?: string } = {}): Promise<Reply> {
  const headers = new Headers(init.headers);
  if (init.auth) headers.set('authorization', init.auth);
  const res = await fetch(`${base}${path}`, { ...init, headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

export interface FileHookah {
  running: RunningHookah;
  url: string;
  dir: string;
  path: string;
  /** Rewrites the config file (merged over the test defaults). */
  write(config: Record<string, unknown>): void;
  writeRaw(text: string): void;
  close(): Promise<void>;
}

/**
 * A server started from a real YAML file, as `hookah --config` does, so that
 * reload and setPassword have a file to work on.
 */
export async function startFromFile(config: Record<string, unknown>, options: { dir?: string; keepDir?: boolean } = {}): Promise<FileHookah> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'hookah-auth-'));
  const path = join(dir, 'hookah.yaml');
  const withDefaults = (c: Record<string, unknown>) => ({
    ...c,
    server: { port: 0, address: '127.0.0.1', ...(c.server as object) },
    storage: { path: join(dir, 'hookah.db'), ...(c.storage as object) },
    log: { level: 'silent', ...(c.log as object) },
  });
  const write = (c: Record<string, unknown>) => writeFileSync(path, YAML.stringify(withDefaults(c)));
  write(config);
  const running = await startHookah(loadConfig(path), { configFile: { path } });
  return {
    running,
    url: running.url,
    dir,
    path,
    write,
    writeRaw: (text) => writeFileSync(path, text),
    async close() {
      await running.close();
      if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
