import pRetry, { AbortError } from 'p-retry';
import type { Dispatcher as UndiciDispatcher } from 'undici';
import { request } from 'undici';
import { BlockedAddressError } from './ssrf.ts';

export interface HttpAttempt {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
  /** How much of the response body to keep. */
  keepBytes: number;
  quickRetries: number;
  agent: UndiciDispatcher;
  signal?: AbortSignal;
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
  for (const [k, v] of Object.entries(a.headers)) if (!HOP_BY_HOP.has(k.toLowerCase())) headers[k] = v;
  const deadline = AbortSignal.timeout(a.timeoutMs);
  const signal = a.signal ? AbortSignal.any([deadline, a.signal]) : deadline;

  const once = async (): Promise<HttpResult> => {
    try {
      const res = await request(a.url, {
        method: a.method as 'POST',
        headers,
        body: a.body,
        dispatcher: a.agent,
        signal,
        headersTimeout: a.timeoutMs,
        bodyTimeout: a.timeoutMs,
      });
      const { body, truncated } = await readBounded(res.body, a.keepBytes);
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
      return { status: res.statusCode, headers: out, body, truncated };
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
      if (signal.aborted) {
        throw new AbortError(deadline.aborted ? `timed out after ${a.timeoutMs} ms` : 'aborted: shutting down');
      }
      if (e instanceof BlockedAddressError || e.cause instanceof BlockedAddressError) throw new AbortError(e.cause?.message ?? e.message);
      const code = e.code ?? e.cause?.code;
      if (code && QUICK_RETRY_CODES.has(code)) throw e;
      throw new AbortError(describe(e));
    }
  };
  const fail = (err: unknown): never => {
    throw new Error(describe(err as Error));
  };
  // The common case, a first try that gets an answer, skips p-retry's bookkeeping.
  try {
    return await once();
  } catch (err) {
    if (err instanceof AbortError || a.quickRetries === 0) return fail(err);
  }
  return pRetry(once, { retries: a.quickRetries - 1, minTimeout: 50, maxTimeout: 500, factor: 3, signal }).catch(fail);
}

function describe(e: Error & { code?: string; cause?: unknown }): string {
  const cause = e.cause as { code?: string; message?: string } | undefined;
  const code = e.code ?? cause?.code;
  const message = cause?.message && cause.message !== e.message ? `${e.message}: ${cause.message}` : e.message;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

async function readBounded(stream: AsyncIterable<Buffer> & { destroy(): void }, limit: number): Promise<{ body: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const room = limit - size;
    if (chunk.length > room) {
      if (room > 0) chunks.push(chunk.subarray(0, room));
      stream.destroy();
      return { body: Buffer.concat(chunks), truncated: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { body: Buffer.concat(chunks), truncated: false };
}
