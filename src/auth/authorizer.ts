import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import type { Config } from '../config/schema.ts';
import type { Action, Authorizer } from '../http/auth.ts';
import { HttpError } from '../http/errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { clientIp } from './client-ip.ts';
import { parseCredentials, type Credentials } from './credentials.ts';
import { ANONYMOUS, OPEN_IDENTITY, setIdentity, setRequestIdentity, type Identity } from './identity.ts';
import type { InboundRule } from './inbound.ts';
import { verifyPassword } from './password.ts';
import { permits } from './permissions.ts';
import { buildPolicy, buildRateLimits, type CompiledUser, type Policy, type SharedLimits } from './policy.ts';
import type { BucketStore, Buckets } from './rate-limit.ts';
import { FallbackReporter } from './rate-limit-shared.ts';
import { tokenDigest } from './tokens.ts';

/**
 * The config-driven access control behind `rt.auth`. With no users it is open
 * (as Hookah always was), but inbound verifiers, allow-lists and rate limits
 * still apply. Every ingest path calls `authorize(…, 'publish', topic)`, so
 * publish rate limits live here rather than in each edge; a request is
 * charged once however many times it is authorised. Rate-limit buckets are in
 * memory until `shareBuckets` moves them to a store all nodes share.
 */

/** The parts of a request a decision needs, from a Koa context or a raw upgrade request. */
interface RequestView {
  req: IncomingMessage;
  header(name: string): string | undefined;
  /** `?access_token=`, read only when the policy accepts it (parsing the query string costs on every publish). */
  queryToken(): string | undefined;
  /** GET/HEAD and upgrades may carry `?access_token=`. */
  safeMethod: boolean;
  /**
   * An HTTP request is charged to the publish limits once however many topics
   * it publishes to; on a WebSocket every authorised publish is a message of its own.
   */
  chargeOnce: boolean;
}

const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX = 1024;

type Outcome = 'allowed' | 'unauthenticated' | 'forbidden' | 'rate_limited';

export class ConfigAuthorizer implements Authorizer {
  #policy: Policy;
  readonly #log: Logger;
  /** sha256(user \0 password) → user, for recently verified Basic credentials (scrypt is deliberately slow). */
  #verified = new Map<string, { user: string; expires: number }>();
  /** Requests already charged to the publish rate limits. */
  readonly #charged = new WeakSet<IncomingMessage>();
  readonly #decisions;
  readonly #verifications;
  readonly #limited;
  readonly #fallbacks;
  #shared: SharedLimits | undefined;

  constructor(config: Config, log: Logger, metrics: Metrics) {
    this.#log = log.child({ module: 'auth' });
    this.#policy = buildPolicy(config);
    this.#decisions = metrics.counter('hookah_auth_decisions_total', 'Access decisions by action and outcome', ['action', 'outcome']);
    this.#verifications = metrics.counter('hookah_inbound_verifications_total', 'Inbound webhook checks by verifier and outcome', ['verifier', 'outcome']);
    this.#limited = metrics.counter('hookah_rate_limited_total', 'Requests refused with 429, by limit', ['scope']);
    this.#fallbacks = metrics.counter(
      'hookah_rate_limit_fallbacks_total',
      "Rate-limit decisions made with this node's own buckets because the shared store did not answer, by limit",
      ['scope'],
    );
    this.#report();
  }

  get enabled(): boolean {
    return this.#policy.enabled;
  }

  /** Swaps in a policy built (and so validated) from a new config. */
  install(policy: Policy): void {
    const wasEnabled = this.#policy.enabled;
    this.#policy = this.#withSharedLimits(policy);
    this.#verified = new Map();
    this.#report();
    if (wasEnabled !== policy.enabled) {
      this.#log.warn(policy.enabled ? 'users configured: authentication is now required' : 'no users configured any more: the server is now open');
    }
  }

  /**
   * Keeps rate-limit buckets in `store` from now on (and after every reload),
   * so that nodes sharing it enforce one budget per client.
   */
  shareBuckets(store: BucketStore): void {
    this.#shared = { store, reporter: new FallbackReporter(this.#log, (scope) => this.#fallbacks.inc({ scope })) };
    this.#policy = this.#withSharedLimits(this.#policy);
  }

  #withSharedLimits(policy: Policy): Policy {
    return this.#shared ? { ...policy, limits: buildRateLimits(policy.rateLimit, this.#shared) } : policy;
  }

  #report(): void {
    for (const w of this.#policy.warnings) this.#log.warn(w);
    const p = this.#policy;
    const summary = { users: p.users.size, tokens: p.tokens.size, inboundRules: p.inbound.all.length };
    if (p.enabled) this.#log.info(summary, 'access control enabled');
    else this.#log.debug(summary, 'access control off (no users)');
  }

  async authorize(ctx: Context, action: Action, resource?: string): Promise<void> {
    setIdentity(ctx, await this.#decide(fromContext(ctx), action, resource));
  }

  async authorizeRequest(req: IncomingMessage, action: Action, resource?: string): Promise<void> {
    setRequestIdentity(req, await this.#decide(fromRequest(req), action, resource));
  }

  /**
   * Who the request is, without checking a permission: 401 for bad
   * credentials, and for none at all unless `allowAnonymous`.
   */
  async authenticate(ctx: Context, options: { allowAnonymous?: boolean } = {}): Promise<Identity> {
    const p = this.#policy;
    const view = fromContext(ctx);
    if (!p.enabled) return OPEN_IDENTITY;
    const creds = this.#credentials(p, view);
    if (creds.kind === 'none') {
      if (!options.allowAnonymous) throw this.#challenge(p, 'authentication required');
      setIdentity(ctx, ANONYMOUS);
      return ANONYMOUS;
    }
    const identity = await this.#authenticate(p, creds, this.#ip(p, view));
    setIdentity(ctx, identity);
    return identity;
  }

  /** Whether the named user (or '' for anonymous) may do `action` under the current policy. */
  can(user: string, action: Action, resource?: string): boolean {
    const p = this.#policy;
    if (!p.enabled) return true;
    if (user === '') return action !== 'admin' && permits(p.anonymous, action, resource);
    const u = p.users.get(user);
    return !!u && allowed(u, action, resource);
  }

  async verifyInbound(ctx: Context, target: string, body: Buffer): Promise<void> {
    const p = this.#policy;
    const rule = p.inbound.match(target);
    if (!rule) return;
    const view = fromContext(ctx);
    this.#checkSource(rule, this.#ip(p, view), target);
    if (!rule.verifier) return;
    const result = rule.verifier.verify({ header: view.header, body, now: Date.now() });
    this.#verifications.inc({ verifier: rule.verifier.type, outcome: result.ok ? 'ok' : 'failed' });
    if (!result.ok) {
      this.#log.info({ target, verifier: rule.verifier.type, reason: result.reason }, 'inbound webhook rejected');
      throw new HttpError(401, `${rule.verifier.type} signature check failed for ${target}: ${result.reason}`);
    }
  }

  async #decide(view: RequestView, action: Action, resource: string | undefined): Promise<Identity> {
    const p = this.#policy;
    try {
      const ip = this.#ip(p, view);
      const rule = action === 'publish' && resource !== undefined ? p.inbound.match(resource) : undefined;
      if (rule) this.#checkSource(rule, ip, resource!);
      const charge = action === 'publish' && !(view.chargeOnce && this.#charged.has(view.req));
      if (charge) {
        if (view.chargeOnce) this.#charged.add(view.req);
        if (p.limits.perIp) await this.#take(p.limits.perIp, ip, 'ip', `too many requests from ${ip}`);
      }
      let identity: Identity;
      if (!p.enabled) identity = OPEN_IDENTITY;
      else {
        const creds = this.#credentials(p, view);
        const publicTarget = action === 'publish' && rule?.public === true;
        const anonymousOk = publicTarget || (action !== 'admin' && permits(p.anonymous, action, resource));
        if (creds.kind === 'none') {
          if (!anonymousOk) throw this.#challenge(p, 'authentication required');
          identity = ANONYMOUS;
        } else {
          identity = await this.#authenticate(p, creds, ip);
          const user = p.users.get(identity.name)!;
          if (!anonymousOk && !allowed(user, action, resource)) {
            const what = action === 'admin' ? 'administer this server' : `${action} ${resource === undefined ? 'anything' : resource}`;
            throw new HttpError(403, `user ${identity.name} may not ${what}`);
          }
          if (charge && p.limits.perToken) await this.#take(p.limits.perToken, limitKey(creds, identity), 'token', `too many requests for ${identity.name}`);
        }
      }
      this.#decisions.inc({ action, outcome: 'allowed' });
      return identity;
    } catch (err) {
      this.#decisions.inc({ action, outcome: outcomeOf(err) });
      throw err;
    }
  }

  #ip(p: Policy, view: RequestView): string {
    return clientIp(view.req.socket.remoteAddress, view.header('x-forwarded-for'), p.trusted);
  }

  #checkSource(rule: InboundRule, ip: string, target: string): void {
    if (!rule.allow || rule.allow.has(ip)) return;
    this.#verifications.inc({ verifier: rule.verifier?.type ?? 'none', outcome: 'ip_denied' });
    throw new HttpError(403, `source address ${ip} may not publish to ${target} (${rule.origin} allowIps)`);
  }

  #credentials(p: Policy, view: RequestView): Credentials {
    const creds = parseCredentials(view.header('authorization'), p.queryToken && view.safeMethod ? view.queryToken() : undefined);
    if (creds.kind === 'malformed') throw this.#challenge(p, creds.reason);
    return creds;
  }

  async #authenticate(p: Policy, creds: Credentials, ip: string): Promise<Identity> {
    if (creds.kind === 'bearer') {
      const name = p.tokens.get(tokenDigest(creds.token));
      const user = name === undefined ? undefined : p.users.get(name);
      if (!user) throw await this.#failed(p, ip, 'invalid token', 'Bearer');
      return identityFor(user, 'bearer');
    }
    if (creds.kind !== 'basic') throw this.#challenge(p, 'authentication required');
    const key = createHash('sha256').update(`${creds.user}\0${creds.password}`).digest('hex');
    const cached = this.#verified.get(key);
    const cachedUser = cached && cached.expires > Date.now() ? p.users.get(cached.user) : undefined;
    if (cachedUser) return identityFor(cachedUser, 'basic');
    // Refuse before hashing: a brute-forcer must not be able to keep scrypt busy.
    const gate = await p.limits.authFailures.check(ip);
    if (!gate.ok) throw this.#tooMany(gate.retryAfterMs, 'auth_failure', `too many failed logins from ${ip}`);
    const user = p.users.get(creds.user);
    const ok = await verifyPassword(creds.password, user?.password ?? p.decoy);
    if (!user || !ok) throw await this.#failed(p, ip, 'wrong user name or password', 'Basic');
    this.#verified.set(key, { user: user.name, expires: Date.now() + CACHE_TTL_MS });
    if (this.#verified.size > CACHE_MAX) this.#verified.delete(this.#verified.keys().next().value as string);
    return identityFor(user, 'basic');
  }

  async #failed(p: Policy, ip: string, reason: string, scheme: 'Basic' | 'Bearer'): Promise<HttpError> {
    await p.limits.authFailures.take(ip);
    this.#log.info({ ip, scheme }, `authentication failed: ${reason}`);
    const err = this.#challenge(p, reason);
    if (scheme === 'Bearer') err.headers['WWW-Authenticate'] = `Bearer realm="${p.realm}", error="invalid_token"`;
    return err;
  }

  #challenge(p: Policy, reason: string): HttpError {
    return new HttpError(401, reason, { 'WWW-Authenticate': `Basic realm="${p.realm}", Bearer realm="${p.realm}"` });
  }

  async #take(buckets: Buckets, key: string, scope: string, reason: string): Promise<void> {
    const r = await buckets.take(key);
    if (!r.ok) throw this.#tooMany(r.retryAfterMs, scope, reason);
  }

  #tooMany(retryAfterMs: number, scope: string, reason: string): HttpError {
    this.#limited.inc({ scope });
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return new HttpError(429, `${reason}; retry after ${seconds} s`, { 'Retry-After': String(seconds) });
  }
}

export { buildPolicy };

function allowed(user: CompiledUser, action: Action, resource: string | undefined): boolean {
  if (user.admin) return true;
  if (action === 'admin') return false;
  return permits(user.permissions, action, resource);
}

function identityFor(user: CompiledUser, via: 'basic' | 'bearer'): Identity {
  return { name: user.name, anonymous: false, admin: user.admin, canReload: user.admin || user.canReload, via };
}

/** Each token has its own bucket; Basic logins share their user's. */
function limitKey(creds: Credentials, identity: Identity): string {
  return creds.kind === 'bearer' ? `token:${tokenDigest(creds.token)}` : `user:${identity.name}`;
}

function outcomeOf(err: unknown): Outcome {
  const status = err instanceof HttpError ? err.status : 500;
  if (status === 401) return 'unauthenticated';
  if (status === 429) return 'rate_limited';
  return 'forbidden';
}

function fromContext(ctx: Context): RequestView {
  return {
    req: ctx.req,
    header: (name) => ctx.get(name) || undefined,
    queryToken: () => {
      const token = ctx.query.access_token;
      return typeof token === 'string' ? token : undefined;
    },
    safeMethod: ctx.method === 'GET' || ctx.method === 'HEAD',
    chargeOnce: true,
  };
}

function fromRequest(req: IncomingMessage): RequestView {
  return {
    req,
    header: (name) => {
      const v = req.headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : v || undefined;
    },
    queryToken: () => {
      try {
        return new URL(req.url ?? '/', 'http://x').searchParams.get('access_token') ?? undefined;
      } catch {
        return undefined;
      }
    },
    safeMethod: true,
    chargeOnce: false,
  };
}
