import type { Context, Next } from 'koa';
import type { Logger } from '../log.ts';

/** An error whose message is safe and useful to show the client. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (reason: string) => new HttpError(400, reason);

/**
 * Catches what a handler threw, logs server errors, sets status and headers,
 * and lets `render` shape the body from a message that is safe to show:
 * anything unexpected becomes a 500 without internals.
 */
export function catchErrors(log: Logger, render: (message: string, err: unknown) => unknown = (message) => ({ error: message })) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      const e = err as Error & { status?: number; statusCode?: number; expose?: boolean; headers?: Record<string, string> };
      const status = e instanceof HttpError ? e.status : (e.status ?? e.statusCode ?? 500);
      // A 5xx thrown on purpose with a message for the client (a full queue) is load, not a fault: no error log per request.
      if (status >= 500 && e.expose !== true) log.error({ err: e, path: ctx.path }, 'request failed');
      ctx.status = status;
      for (const [k, v] of Object.entries(e.headers ?? {})) ctx.set(k, v);
      const exposed = e instanceof HttpError || (e.expose ?? status < 500);
      ctx.body = render(exposed ? e.message : 'internal error', err);
    }
  };
}

/** Hookah's error shape: `{"error": reason}`. */
export const errorMiddleware = (log: Logger) => catchErrors(log);
