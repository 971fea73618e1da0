import type { Command } from 'commander';
import { ConfigError, loadConfig, overridesFromEnv, type ConfigOverrides } from '../config/load.ts';
import { startHookah } from '../server.ts';

interface ServeFlags {
  port?: string;
  address?: string;
  data?: string;
  config?: string;
  store?: string;
  publicUrl?: string;
  logLevel?: string;
}

export function addServeOptions(cmd: Command): Command {
  return cmd
    .option('-p, --port <port>', 'port to listen on (default 8080, 0 picks a free one)')
    .option('-a, --address <address>', 'address to bind (default 127.0.0.1)')
    .option('-d, --data <path>', 'SQLite database file (default ./hookah.db)')
    .option('-c, --config <file>', 'YAML or JSON config file (env HOOKAH_CONFIG)')
    .option('--store <url>', 'storage: sqlite:<path> or redis://host:port')
    .option('--public-url <url>', 'URL clients reach this server at (WebSub rel=hub, status links)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent');
}

/** Starts the server and keeps it running until SIGTERM/SIGINT. */
export async function serve(flags: ServeFlags): Promise<void> {
  const overrides: ConfigOverrides = overridesFromEnv();
  if (flags.port !== undefined) {
    const port = Number(flags.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be an integer 0-65535, got ${flags.port}`);
    overrides.port = port;
  }
  if (flags.address !== undefined) overrides.address = flags.address;
  if (flags.data !== undefined) overrides.data = flags.data;
  if (flags.store !== undefined) overrides.store = flags.store;
  if (flags.publicUrl !== undefined) overrides.publicUrl = flags.publicUrl;
  if (flags.logLevel !== undefined) overrides.logLevel = flags.logLevel;
  const configPath = flags.config ?? process.env.HOOKAH_CONFIG;

  let config;
  try {
    config = loadConfig(configPath, overrides);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  let running;
  try {
    running = await startHookah(config, configPath ? { configFile: { path: configPath, overrides } } : {});
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.runtime.log.info({ signal }, 'signal received');
    running.close().then(
      () => process.exit(0),
      (err) => {
        running.runtime.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP re-reads the config file; a bad file is logged and the running config stays.
  process.on('SIGHUP', () => {
    running.reload('SIGHUP').catch(() => undefined);
  });
}

function fail(message: string): never {
  process.stderr.write(`hookah: ${message}\n`);
  process.exit(2);
}
