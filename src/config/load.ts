import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Flat overrides from the command line or environment, applied over the file. */
export interface ConfigOverrides {
  port?: number;
  address?: string;
  data?: string;
  store?: string;
  publicUrl?: string;
  logLevel?: string;
  signingSecret?: string;
}

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    return extname(path) === '.json' ? JSON.parse(text) : (YAML.parse(text) ?? {});
  } catch (err) {
    throw new ConfigError(`cannot parse config file ${path}: ${(err as Error).message}`);
  }
}

export function overridesFromEnv(env: NodeJS.ProcessEnv = process.env): ConfigOverrides {
  const o: ConfigOverrides = {};
  if (env.HOOKAH_PORT) o.port = Number(env.HOOKAH_PORT);
  if (env.HOOKAH_ADDRESS) o.address = env.HOOKAH_ADDRESS;
  if (env.HOOKAH_DATA) o.data = env.HOOKAH_DATA;
  if (env.HOOKAH_STORE) o.store = env.HOOKAH_STORE;
  if (env.HOOKAH_PUBLIC_URL) o.publicUrl = env.HOOKAH_PUBLIC_URL;
  if (env.HOOKAH_LOG_LEVEL) o.logLevel = env.HOOKAH_LOG_LEVEL;
  if (env.HOOKAH_SIGNING_SECRET) o.signingSecret = env.HOOKAH_SIGNING_SECRET;
  return o;
}

function applyOverrides(raw: unknown, o: ConfigOverrides): Record<string, unknown> {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
    throw new ConfigError('config file must hold a mapping of sections (server, storage, dispatcher, …)');
  }
  const c = structuredClone((raw ?? {}) as Record<string, Record<string, unknown>>);
  const section = (name: string) => (c[name] = { ...(c[name] ?? {}) });
  if (o.port !== undefined) section('server').port = o.port;
  if (o.address !== undefined) section('server').address = o.address;
  if (o.publicUrl !== undefined) section('server').publicUrl = o.publicUrl;
  if (o.logLevel !== undefined) section('log').level = o.logLevel;
  if (o.signingSecret !== undefined) section('dispatcher').signingSecret = o.signingSecret;
  if (o.data !== undefined) Object.assign(section('storage'), { driver: 'sqlite', path: o.data });
  if (o.store !== undefined) {
    if (/^rediss?:\/\//.test(o.store)) Object.assign(section('storage'), { driver: 'redis', redisUrl: o.store });
    else if (o.store.startsWith('sqlite:')) Object.assign(section('storage'), { driver: 'sqlite', path: o.store.slice(7) });
    else throw new ConfigError(`--store must be sqlite:<path> or redis://…, got ${o.store}`);
  }
  return c;
}

/** Validates a config object; the error lists every bad key by its dotted path. */
export function parseConfig(raw: unknown, overrides: ConfigOverrides = {}): Config {
  const result = configSchema.safeParse(applyOverrides(raw, overrides));
  if (!result.success) throw new ConfigError(`invalid configuration:\n${formatIssues(result.error)}`);
  return result.data;
}

export function loadConfig(path: string | undefined, overrides: ConfigOverrides = {}): Config {
  return parseConfig(path ? readConfigFile(path) : undefined, overrides);
}

function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      let path = issue.path.join('.');
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
        return `  - unknown key ${keys.join(', ')}`;
      }
      return `  - ${path || '(root)'}: ${issue.message}`;
    })
    .join('\n');
}
