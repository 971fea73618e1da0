import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { ConfigError, loadConfig, type ConfigOverrides } from './load.ts';
import type { Config } from './schema.ts';

/**
 * Re-reading the config file without a restart (SIGHUP, POST /reload). The new
 * file is parsed and every section is validated before anything changes; a
 * bad file leaves the running config untouched. Only the sections below are
 * swapped in place on the live config object (so everyone holding `rt.config`
 * sees them); changes elsewhere are reported as needing a restart.
 */
export const RELOADABLE_SECTIONS = ['auth', 'queues', 'rateLimit'] as const satisfies readonly (keyof Config)[];

export interface ConfigSource {
  path: string;
  /** Command-line / environment overrides, re-applied on every reload. */
  overrides?: ConfigOverrides;
}

/** Validates a candidate config beyond its schema and returns how to apply it. */
export type ReloadPreparer = (next: Config) => () => void;

/** Told after a reload was applied; `previous` holds the sections as they were. */
export type ReloadListener = (next: Config, previous: Config) => void | Promise<void>;

export interface ReloadResult {
  /** Top-level sections that changed in the file but only take effect after a restart. */
  restartNeeded: string[];
}

export interface ConfigReload {
  /** The config file, or undefined when the server was started without one. */
  readonly path: string | undefined;
  /** Throws a ConfigError (and changes nothing) when the file cannot be used. */
  reload(trigger: string): Promise<ReloadResult>;
  onReload(listener: ReloadListener): void;
}

export interface ConfigReloadOptions {
  live: Config;
  source: ConfigSource | undefined;
  log: Logger;
  metrics: Metrics;
  prepare?: ReloadPreparer[];
}

export function createConfigReload(options: ConfigReloadOptions): ConfigReload {
  const { live, source, metrics } = options;
  const log = options.log.child({ module: 'config' });
  const listeners: ReloadListener[] = [];
  const reloads = metrics.counter('hookah_config_reloads_total', 'Config reloads by outcome', ['outcome']);
  let chain: Promise<unknown> = Promise.resolve();

  async function run(trigger: string): Promise<ReloadResult> {
    if (!source) throw new ConfigError('the server was started without a config file (--config), so there is nothing to reload');
    let next: Config;
    let commits: (() => void)[];
    try {
      next = loadConfig(source.path, source.overrides ?? {});
      // Every preparer runs before any commit, so one bad section rejects the whole file.
      commits = (options.prepare ?? []).map((prepare) => prepare(next));
    } catch (err) {
      reloads.inc({ outcome: 'rejected' });
      const message = err instanceof Error ? err.message : String(err);
      log.error({ trigger, path: source.path }, `config reload rejected, the running config stays in force: ${message}`);
      throw err instanceof ConfigError ? err : new ConfigError(message);
    }
    const previous: Config = { ...live };
    for (const section of RELOADABLE_SECTIONS) (live as Record<string, unknown>)[section] = next[section];
    for (const commit of commits) commit();
    const restartNeeded = (Object.keys(next) as (keyof Config)[]).filter(
      (k) => !(RELOADABLE_SECTIONS as readonly string[]).includes(k) && JSON.stringify(next[k]) !== JSON.stringify(live[k]),
    );
    if (restartNeeded.length > 0) {
      log.warn({ sections: restartNeeded }, `changes to ${restartNeeded.join(', ')} take effect only after a restart`);
    }
    for (const listener of listeners) {
      try {
        await listener(live, previous);
      } catch (err) {
        log.error({ err }, 'a reload listener failed');
      }
    }
    reloads.inc({ outcome: 'applied' });
    log.info({ trigger, path: source.path }, 'configuration reloaded');
    return { restartNeeded };
  }

  return {
    path: source?.path,
    reload(trigger) {
      // One at a time: two overlapping reloads must not interleave their commits.
      const result = chain.then(() => run(trigger));
      chain = result.catch(() => undefined);
      return result;
    },
    onReload(listener) {
      listeners.push(listener);
    },
  };
}
