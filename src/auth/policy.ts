import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { isLoopbackHost } from '../net/loopback.ts';
import { IpRanges } from './client-ip.ts';
import { compileInbound, type InboundRules } from './inbound.ts';
import { decoyHash, parsePasswordHash, type PasswordHash } from './password.ts';
import { compilePermissions, type PermissionSet } from './permissions.ts';
import type { RateLimitConfig } from './config-schema.ts';
import { TokenBuckets, type BucketScope, type BucketSettings, type BucketStore, type Buckets } from './rate-limit.ts';
import { SharedBuckets, type FallbackReporter } from './rate-limit-shared.ts';
import { configuredTokenDigest, isHashedTokenEntry } from './tokens.ts';

/**
 * Everything the authorizer decides with, compiled from one config. Building
 * it is also how a config is validated beyond its schema (password hash
 * format, duplicate tokens, verifier names, secrets in the environment), so
 * start-up and reload reject the same mistakes. A reload swaps the whole
 * policy at once; in-memory rate-limit buckets start afresh with it (shared
 * ones only where their settings changed: see src/store/redis/rate-limit.ts).
 */

export interface CompiledUser {
  name: string;
  password?: PasswordHash;
  admin: boolean;
  canReload: boolean;
  permissions: PermissionSet;
}

export interface Policy {
  /** Users exist: requests need credentials unless a rule or `auth.anonymous` says otherwise. */
  enabled: boolean;
  realm: string;
  users: Map<string, CompiledUser>;
  /** sha256 hex of a token → user name. */
  tokens: Map<string, string>;
  anonymous: PermissionSet;
  inbound: InboundRules;
  trusted: IpRanges;
  queryToken: boolean;
  rateLimit: RateLimitConfig;
  limits: RateLimits;
  /** Checked instead of a password when the user is unknown (same cost as a real check). */
  decoy: PasswordHash;
  /** Things worth telling the operator at start and on reload. */
  warnings: string[];
}

export function buildPolicy(config: Config, env: NodeJS.ProcessEnv = process.env): Policy {
  const problems: string[] = [];
  const warnings: string[] = [];
  const users = new Map<string, CompiledUser>();
  const tokens = new Map<string, string>();
  const queueNames = new Set(config.queues.list.map((q) => q.name));

  for (const [i, u] of config.auth.users.entries()) {
    const where = `auth.users[${i}] (${u.name})`;
    if (users.has(u.name)) problems.push(`${where}: user ${u.name} is defined twice`);
    let password: PasswordHash | undefined;
    if (u.password !== undefined) {
      try {
        password = parsePasswordHash(u.password);
        if (password.kind === 'plain') {
          warnings.push(`INSECURE: user ${u.name} has a plain;; password in the config; replace it with the output of \`hookah hash-password\``);
        }
      } catch (err) {
        problems.push(`${where}.password: ${(err as Error).message}`);
      }
    }
    if (password === undefined && u.tokens.length === 0) problems.push(`${where}: give a password or at least one token`);
    for (const [j, entry] of u.tokens.entries()) {
      try {
        const digest = configuredTokenDigest(entry);
        const owner = tokens.get(digest);
        if (owner !== undefined) problems.push(`${where}.tokens[${j}]: the same token is already given to user ${owner}`);
        tokens.set(digest, u.name);
        if (!isHashedTokenEntry(entry)) warnings.push(`user ${u.name} has a token stored in clear in the config; prefer sha256:<hex> (\`hookah hash-password --token\`)`);
      } catch (err) {
        problems.push(`${where}.tokens[${j}]: ${(err as Error).message}`);
      }
    }
    for (const q of u.queues) if (!queueNames.has(q)) warnings.push(`user ${u.name} may listen to queue ${q}, which is not configured`);
    users.set(u.name, { name: u.name, admin: u.admin, canReload: u.canReload, permissions: compilePermissions(u), ...(password ? { password } : {}) });
  }

  let inbound: InboundRules | undefined;
  try {
    inbound = compileInbound(config, env);
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length > 0 || !inbound) throw new ConfigError(`invalid auth configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);

  const enabled = users.size > 0;
  const exposed = !isLoopbackHost(config.server.address);
  for (const rule of inbound.all) {
    if (rule.public && !rule.verifier && !rule.allow && (enabled || exposed)) {
      warnings.push(`${rule.origin} (${rule.pattern}) accepts messages from anyone: no verifier and no allowIps`);
    }
  }

  const { rateLimit } = config;
  return {
    enabled,
    realm: config.auth.realm,
    users,
    tokens,
    anonymous: compilePermissions(config.auth.anonymous),
    inbound,
    trusted: new IpRanges(config.server.trustedProxies),
    queryToken: config.auth.queryToken,
    rateLimit,
    limits: buildRateLimits(rateLimit),
    decoy: decoyHash([...users.values()].find((u) => u.password?.kind === 'scrypt')?.password),
    warnings,
  };
}

export interface RateLimits {
  perIp?: Buckets;
  perToken?: Buckets;
  authFailures: Buckets;
}

/** Where buckets go when several nodes share them (storage.driver redis). */
export interface SharedLimits {
  store: BucketStore;
  reporter: FallbackReporter;
}

/**
 * The buckets for `rateLimit`: in this process's memory, or in the shared
 * store with in-memory buckets of the same settings as the fallback.
 */
export function buildRateLimits(settings: RateLimitConfig, shared?: SharedLimits): RateLimits {
  const make = (scope: BucketScope, s: BucketSettings): Buckets => {
    const local = new TokenBuckets(s, settings.maxKeys);
    return shared ? new SharedBuckets(shared.store, scope, local, shared.reporter) : local;
  };
  return {
    ...(settings.perIp ? { perIp: make('ip', settings.perIp) } : {}),
    ...(settings.perToken ? { perToken: make('token', settings.perToken) } : {}),
    authFailures: make('auth_failure', settings.authFailures),
  };
}
