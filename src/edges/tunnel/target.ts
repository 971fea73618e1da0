import { request, type Dispatcher } from 'undici';
import type { HeaderMap } from './ports.ts';
import { CHUNK_BYTES, isHopByHop, type AbortFrame, type BodyFrame, type EndFrame, type RequestFrame, type ResponseFrame } from './protocol.ts';

/** How the client sends frames: resolves once the frame is handed to the socket, for backpressure. */
export type SendFrame = (frame: ResponseFrame | BodyFrame | EndFrame | AbortFrame) => Promise<void>;

export interface ReplayResult {
  status: number;
  /** Set when the client answered for the target (e.g. `target_unreachable`). */
  error?: string;
  /** The response was cut short after its head (target error, cancel or disconnect). */
  aborted?: string;
  bytes: number;
}

/** Where a request for `path?query` goes under the target URL: the target's own path is a prefix. */
export function targetUrlFor(target: URL, path: string, query: string): string {
  // Concatenated rather than set through URL's setters, which would re-encode the sender's path.
  const base = target.pathname.replace(/\/+$/, '');
  return `${target.origin}${base + path || '/'}${query ? `?${query}` : ''}`;
}

/** Response headers worth relaying: connection-level ones go, Content-Length stays (HEAD needs it). */
function responseHeaders(raw: Record<string, string | string[] | undefined>): HeaderMap {
  const out: HeaderMap = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || (isHopByHop(name) && name !== 'content-length')) continue;
    out[name] = value;
  }
  return out;
}

function describe(err: unknown): string {
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const message = e.cause?.message ?? e.message;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

function errorAnswer(id: string, status: number, error: string, message: string): ResponseFrame {
  return {
    type: 'response',
    id,
    status,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify({ error: message })).toString('base64'),
    error,
  };
}

/**
 * Replays one tunnelled request to the local target with the exact method,
 * path, query, headers and body, and sends the answer back as frames: one
 * `response` frame when the target declared a small Content-Length,
 * otherwise a head, `body` chunks as they arrive, and `end`. An unreachable
 * target is answered with 502 by the client itself, a slow one with 504.
 */
export async function replayToTarget(
  target: URL,
  frame: RequestFrame,
  send: SendFrame,
  signal: AbortSignal,
  dispatcher?: Dispatcher,
): Promise<ReplayResult> {
  const url = targetUrlFor(target, frame.path, frame.query);
  const body = Buffer.from(frame.body, 'base64');
  // The timeout bounds the wait for the head; after it, bodyTimeout bounds each pause.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), frame.timeout_ms);
  const abort = AbortSignal.any([signal, deadline.signal]);
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: frame.method as Dispatcher.HttpMethod,
      headers: frame.headers,
      body: body.length > 0 || !['GET', 'HEAD'].includes(frame.method) ? body : undefined,
      signal: abort,
      headersTimeout: frame.timeout_ms,
      bodyTimeout: frame.timeout_ms,
      ...(dispatcher ? { dispatcher } : {}),
    });
  } catch (err) {
    if (signal.aborted) return { status: 0, aborted: 'cancelled', bytes: 0 };
    if (deadline.signal.aborted) {
      await send(errorAnswer(frame.id, 504, 'target_timeout', `the tunnel target ${target.origin} did not answer within ${frame.timeout_ms} ms`));
      return { status: 504, error: 'target_timeout', bytes: 0 };
    }
    await send(errorAnswer(frame.id, 502, 'target_unreachable', `the tunnel target ${target.origin} is unreachable: ${describe(err)}`));
    return { status: 502, error: 'target_unreachable', bytes: 0 };
  } finally {
    clearTimeout(timer);
  }

  const status = res.statusCode >= 200 && res.statusCode <= 599 ? res.statusCode : 502;
  const headers = responseHeaders(res.headers);
  const declared = Number(res.headers['content-length']);
  let bytes = 0;
  try {
    if (Number.isInteger(declared) && declared <= CHUNK_BYTES) {
      const whole = Buffer.from(await res.body.arrayBuffer());
      bytes = whole.length;
      await send({ type: 'response', id: frame.id, status, headers, body: whole.toString('base64') });
      return { status, bytes };
    }
    await send({ type: 'response', id: frame.id, status, headers, end: false });
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      for (let i = 0; i < chunk.length; i += CHUNK_BYTES) {
        await send({ type: 'body', id: frame.id, data: chunk.subarray(i, i + CHUNK_BYTES).toString('base64') });
      }
    }
    await send({ type: 'end', id: frame.id });
    return { status, bytes };
  } catch (err) {
    res.body.destroy();
    const reason = signal.aborted ? 'cancelled' : describe(err);
    await send({ type: 'abort', id: frame.id, reason }).catch(() => undefined);
    return { status, aborted: reason, bytes };
  }
}
