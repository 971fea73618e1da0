import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { startHookah, type RunningHookah, type StartOptions } from '../../src/server.ts';

export interface TestHookah extends RunningHookah {
  dir: string;
  dbPath: string;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

/**
 * A real Hookah on an ephemeral loopback port with its own SQLite file.
 * Loopback is allow-listed for delivery (tests' sinks live there) and retries
 * are fast; pass `config` to override any of it.
 */
export async function startTestHookah(config: DeepPartial<ConfigInput> = {}, options: StartOptions = {}): Promise<TestHookah> {
  const dir = mkdtempSync(join(tmpdir(), 'hookah-test-'));
  const dbPath = join(dir, 'hookah.db');
  const merged = {
    ...config,
    server: { port: 0, address: '127.0.0.1', ...config.server },
    storage: { path: dbPath, ...config.storage },
    log: { level: 'silent', ...config.log },
    dispatcher: {
      allowNetworks: ['127.0.0.0/8', '::1/128'],
      retrySchedule: [0, 50, 100, 200],
      pollInterval: 20,
      jitter: 0,
      ...config.dispatcher,
    },
  };
  const running = await startHookah(parseConfig(merged), options);
  return {
    ...running,
    dir,
    dbPath,
    async close() {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
