import type { Context, Next } from 'koa';
import { HttpError } from '../../http/errors.ts';
import type { Logger } from '../../log.ts';

/**
 * The webhook queue's own error shape, `{"message": …, "refresh": bool}`,
 * as its clients expect; `error` carries the same text for clients written
 * against the rest of Hookah's API.
 */
export class QueueError extends HttpError {
  constructor(
    status: number,
    message: string,
    readonly refresh = false,
  ) {
    super(status, message);
  }
}

export function queueErrors(log: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      const e = err as Error & { status?: number; statusCode?: number; expose?: boolean; headers?: Record<string, string> };
      const status = e instanceof HttpError ? e.status : (e.status ?? e.statusCode ?? 500);
      if (status >= 500) log.error({ err: e, path: ctx.path }, 'queue request failed');
      const exposed = e instanceof HttpError || (e.expose ?? status < 500);
      const message = exposed ? e.message : 'internal error';
      ctx.status = status;
      for (const [k, v] of Object.entries(e.headers ?? {})) ctx.set(k, v);
      ctx.body = { message, refresh: e instanceof QueueError ? e.refresh : false, error: message };
    }
  };
}
