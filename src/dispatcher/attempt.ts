import pRetry, { AbortError } from 'p-retry';
import type { Dispatcher as UndiciDispatcher } from 'undici';
import type { Cancellation } from './cancellation.ts';
import { BlockedAddressError } from './ssrf.ts';

export interface HttpAttempt {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Whole attempt, from queueing for a connection to the last body byte. */
  timeoutMs: number;
  /** How much of the response body to keep. */
  keepBytes: number;
  quickRetries: number;
  agent: UndiciDispatcher;
  /** Aborts the attempt when cancelled (the engine cancels at shutdown). */
  cancel?: Cancellation;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** True when the body was longer than keepBytes. */
  truncated: boolean;
}

/** Errors where nothing reached the application, so an immediate retry is cheap and safe. */
const QUICK_RETRY_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'te', 'trailer']);

/**
 * One delivery attempt: a single request (plus p-retry's quick retries of
 * connection errors), bounded in time and in how much response it reads.
 * Redirects are not followed: the 3xx is the result.
 */
export async function performAttempt(a: HttpAttempt): Promise<HttpResult> {
  const headers: Record<string, string> = {};
  for (const k in a.headers) if (!HOP_BY_HOP.has(k.toLowerCase())) headers[k] = a.headers[k]!;
  const deadline = Date.now() + a.timeoutMs;
  const once = () => exchange(a, headers, deadline);
  const fail = (err: unknown): never => {
    throw new Error(describe(err as Error));
  };
  // The common case, a first try that gets an answer, skips p-retry's bookkeeping.
  try {
    return await once();
  } catch (err) {
    if (err instanceof AbortError || a.quickRetries === 0) return fail(err);
  }
  return pRetry(once, { retries: a.quickRetries - 1, minTimeout: 50, maxTimeout: 500, factor: 3 }).catch(fail);
}

/**
 * The request itself, on undici's dispatch handler API: no response stream,
 * no AbortSignal per request, just callbacks (this is the dispatcher's hot
 * path). Rejects with p-retry's AbortError for failures a quick retry cannot
 * fix, with the plain error for those it may.
 */
function exchange(a: HttpAttempt, headers: Record<string, string>, deadline: number): Promise<HttpResult> {
  return new Promise<HttpResult>((resolve, reject) => {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return reject(new AbortError(`timed out after ${a.timeoutMs} ms`));
    let controller: UndiciDispatcher.DispatchController | undefined;
    let stopped: AbortError | undefined;
    let settled = false;
    let status = 0;
    let responseHeaders: Record<string, string> = {};
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;

    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      forget?.();
      outcome();
    };
    const stop = (why: AbortError) => {
      stopped = why;
      controller?.abort(why);
      settle(() => reject(why));
    };
    const timer = setTimeout(() => stop(new AbortError(`timed out after ${a.timeoutMs} ms`)), remaining);
    const forget = a.cancel?.onCancel(() => stop(new AbortError('aborted: shutting down')));
    const done = () => settle(() => resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks, size), truncated }));

    const handler: UndiciDispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (stopped) c.abort(stopped);
      },
      onResponseStart(_c, statusCode, h) {
        if (statusCode < 200) return; // 1xx informational: the real answer follows
        status = statusCode;
        responseHeaders = {};
        for (const k in h) {
          const v = h[k];
          if (v !== undefined) responseHeaders[k] = Array.isArray(v) ? v.join(', ') : v;
        }
      },
      onResponseData(c, chunk) {
        const room = a.keepBytes - size;
        if (chunk.length > room) {
          if (room > 0) chunks.push(chunk.subarray(0, room));
          size = a.keepBytes;
          truncated = true;
          // Enough read: the rest is not worth the wait (this closes the connection).
          c.abort(new Error('response longer than kept'));
          done();
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      },
      onResponseEnd() {
        done();
      },
      onResponseError(_c, err) {
        if (settled) return;
        settle(() => reject(classify(err)));
      },
    };
    try {
      a.agent.dispatch(
        {
          origin: a.url.origin,
          path: a.url.pathname + a.url.search,
          method: a.method as UndiciDispatcher.HttpMethod,
          headers,
          body: a.body,
          headersTimeout: remaining,
          bodyTimeout: remaining,
        },
        handler,
      );
    } catch (err) {
      settle(() => reject(classify(err as Error)));
    }
  });
}

function classify(err: Error): Error {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  if (e instanceof BlockedAddressError || e.cause instanceof BlockedAddressError) return new AbortError(e.cause?.message ?? e.message);
  const code = e.code ?? e.cause?.code;
  if (code && QUICK_RETRY_CODES.has(code)) return e;
  return new AbortError(describe(e));
}

function describe(e: Error & { code?: string; cause?: unknown }): string {
  const cause = e.cause as { code?: string; message?: string } | undefined;
  const code = e.code ?? cause?.code;
  const message = cause?.message && cause.message !== e.message ? `${e.message}: ${cause.message}` : e.message;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
