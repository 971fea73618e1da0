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
 * Turns thrown errors into `{"error": reason}` with the right status. Anything
 * unexpected becomes a 500 without internals, and is logged.
 */
export function errorMiddleware(log: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      const e = err as Error & { status?: number; statusCode?: number; expose?: boolean; headers?: Record<string, string> };
      const status = e instanceof HttpError ? e.status : (e.status ?? e.statusCode ?? 500);
      if (status >= 500) log.error({ err: e, path: ctx.path }, 'request failed');
      ctx.status = status;
      for (const [k, v] of Object.entries(e.headers ?? {})) ctx.set(k, v);
      const exposed = e instanceof HttpError || (e.expose ?? status < 500);
      ctx.body = { error: exposed ? e.message : 'internal error' };
    }
  };
}
