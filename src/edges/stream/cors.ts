import type { Context, Next } from 'koa';

/**
 * CORS for the streaming and hook endpoints (`streams.corsOrigins`), and the
 * same allow-list as an Origin check for WebSocket upgrades, which browsers
 * do not subject to CORS.
 *
 * Entries: `*` (any origin), an exact origin such as `https://app.example.com`,
 * or a wildcard host such as `https://*.example.com`.
 */
export class CorsPolicy {
  readonly #any: boolean;
  readonly #exact: Set<string>;
  readonly #suffixes: { scheme: string; suffix: string }[];

  constructor(origins: string[]) {
    this.#any = origins.includes('*');
    this.#exact = new Set(origins.filter((o) => o !== '*' && !o.includes('*')).map((o) => o.toLowerCase().replace(/\/+$/, '')));
    this.#suffixes = origins
      .filter((o) => o.includes('://*.'))
      .map((o) => {
        const [scheme, host] = o.toLowerCase().split('://*') as [string, string];
        return { scheme, suffix: host.replace(/\/+$/, '') };
      });
  }

  allows(origin: string): boolean {
    if (this.#any) return true;
    const o = origin.toLowerCase();
    if (this.#exact.has(o)) return true;
    return this.#suffixes.some(({ scheme, suffix }) => o.startsWith(`${scheme}://`) && o.endsWith(suffix) && o.length > scheme.length + 3 + suffix.length);
  }

  /** WebSocket upgrades: no Origin (not a browser) is fine; a browser origin must be allowed. */
  allowsUpgrade(origin: string | undefined): boolean {
    return origin === undefined || this.allows(origin);
  }

  /** Sets the response headers for an allowed cross-origin request. */
  apply(ctx: Context): boolean {
    const origin = ctx.get('origin');
    if (!origin || !this.allows(origin)) return false;
    if (this.#any) {
      ctx.set('access-control-allow-origin', '*');
    } else {
      // A specific origin is echoed so credentials (cookies, auth) may be sent too.
      ctx.set('access-control-allow-origin', origin);
      ctx.set('access-control-allow-credentials', 'true');
      ctx.vary('origin');
    }
    ctx.set('access-control-expose-headers', 'retry-after, content-type');
    return true;
  }

  /** Answers a preflight (OPTIONS with Access-Control-Request-Method); false if `ctx` is not one. */
  preflight(ctx: Context, methods: string): boolean {
    if (ctx.method !== 'OPTIONS' || !ctx.get('access-control-request-method') || !ctx.get('origin')) return false;
    if (!this.apply(ctx)) {
      ctx.status = 403;
      ctx.body = { error: 'origin not allowed (streams.corsOrigins)' };
      return true;
    }
    ctx.set('access-control-allow-methods', methods);
    const requested = ctx.get('access-control-request-headers');
    if (requested) ctx.set('access-control-allow-headers', requested);
    ctx.set('access-control-max-age', '600');
    ctx.status = 204;
    return true;
  }

  /** Koa middleware: preflight answered here, CORS headers on everything else. */
  middleware(methods: string) {
    return async (ctx: Context, next: Next) => {
      if (this.preflight(ctx, methods)) return;
      this.apply(ctx);
      await next();
    };
  }
}
