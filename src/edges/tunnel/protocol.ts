import { z } from 'zod';
import type { ForwardedRequest, HeaderMap } from './ports.ts';

/**
 * The tunnel's wire protocol: JSON text frames over one WebSocket, bodies as
 * base64 so that any byte sequence survives. Shared by the server edge and
 * `hookah client`; docs/tunnel.md describes it for third-party clients.
 *
 * server → client: hello, request, cancel
 * client → server: response (head, optionally with the whole body), body, end, abort
 */

export const PROTOCOL_VERSION = 1;

/** Raw bytes of a response body sent in one `body` frame by `hookah client`. */
export const CHUNK_BYTES = 256 * 1024;
/** Longest `abort` reason a frame may carry. */
export const MAX_REASON_CHARS = 1000;

const MAX_HEADERS = 256;
const MAX_ID = 128;

/** Hop-by-hop and framing headers: they describe one connection, not the message. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect', 'http2-settings',
]);

export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name.toLowerCase());
}

/** Collects Node's flat rawHeaders into a map, keeping repeated headers as arrays. */
export function headersFromRaw(raw: string[], drop: (name: string) => boolean = isHopByHop): HeaderMap {
  const out: HeaderMap = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (drop(name)) continue;
    const value = raw[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out;
}

export function withoutHopByHop(headers: HeaderMap): HeaderMap {
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(headers)) if (!isHopByHop(k)) out[k.toLowerCase()] = v;
  return out;
}

const headerMap = z
  .record(z.string().min(1).max(256).regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'invalid header name'), z.union([z.string().max(65_536), z.array(z.string().max(65_536)).max(100)]))
  .refine((h) => Object.keys(h).length <= MAX_HEADERS, `at most ${MAX_HEADERS} headers`);

const id = z.string().min(1).max(MAX_ID);
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');

// ---- server → client -------------------------------------------------------

export interface HelloFrame {
  type: 'hello';
  version: number;
  channel: string;
  webhook_url: string;
  keepalive_ms: number;
  mode: 'balance' | 'broadcast';
  max_body_bytes: number;
}

export interface RequestFrame {
  type: 'request';
  id: string;
  method: string;
  path: string;
  query: string;
  headers: HeaderMap;
  body: string;
  /** The sender stops waiting after this long; the client may give up too. */
  timeout_ms: number;
  /** Present when the request waited in the offline queue; the sender already got 202. */
  queued?: { message_id: string; received_at: string };
}

export interface CancelFrame {
  type: 'cancel';
  id: string;
  reason: string;
}

export type ServerFrame = HelloFrame | RequestFrame | CancelFrame;

const serverFrame = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    version: z.number().int(),
    channel: z.string(),
    webhook_url: z.string(),
    keepalive_ms: z.number().int().positive(),
    mode: z.enum(['balance', 'broadcast']),
    max_body_bytes: z.number().int().positive(),
  }),
  z.object({
    type: z.literal('request'),
    id,
    method: z.string().min(1).max(32),
    path: z.string().regex(/^(\/.*)?$/, 'path must be empty or start with /'),
    query: z.string(),
    headers: headerMap,
    body: base64,
    timeout_ms: z.number().int().positive(),
    queued: z.object({ message_id: z.string(), received_at: z.string() }).optional(),
  }),
  z.object({ type: z.literal('cancel'), id, reason: z.string() }),
]);

export function encodeRequest(requestId: string, req: ForwardedRequest, timeoutMs: number, queued?: RequestFrame['queued']): string {
  const frame: RequestFrame = {
    type: 'request',
    id: requestId,
    method: req.method,
    path: req.path,
    query: req.query,
    headers: req.headers,
    body: req.body.toString('base64'),
    timeout_ms: timeoutMs,
  };
  if (queued) frame.queued = queued;
  return JSON.stringify(frame);
}

// ---- client → server -------------------------------------------------------

export interface ResponseFrame {
  type: 'response';
  id: string;
  status: number;
  headers: HeaderMap;
  /** Base64 of the body, or of its first part when `end` is false. */
  body?: string;
  /** Default true: the response is complete. False: `body` frames and an `end` frame follow. */
  end?: boolean;
  /** Set by the client when it produced the answer itself (e.g. `target_unreachable`), not the target. */
  error?: string;
}

export interface BodyFrame {
  type: 'body';
  id: string;
  data: string;
}

export interface EndFrame {
  type: 'end';
  id: string;
}

export interface AbortFrame {
  type: 'abort';
  id: string;
  reason: string;
}

export type ClientFrame = ResponseFrame | BodyFrame | EndFrame | AbortFrame;

const clientFrame = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('response'),
    id,
    status: z.number().int().min(200).max(599),
    headers: headerMap.default({}),
    body: base64.optional(),
    end: z.boolean().optional(),
    error: z.string().max(1000).optional(),
  }),
  z.object({ type: z.literal('body'), id, data: base64 }),
  z.object({ type: z.literal('end'), id }),
  z.object({ type: z.literal('abort'), id, reason: z.string().max(MAX_REASON_CHARS) }),
]);

export type Parsed<T> = { ok: true; frame: T } | { ok: false; error: string };

function parseWith<T>(schema: z.ZodType, text: string): Parsed<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: 'frame is not JSON' };
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { ok: false, error: `invalid frame: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown error'}` };
  }
  return { ok: true, frame: result.data as T };
}

export function parseClientFrame(text: string): Parsed<ClientFrame> {
  return parseWith<ClientFrame>(clientFrame, text);
}

export function parseServerFrame(text: string): Parsed<ServerFrame> {
  return parseWith<ServerFrame>(serverFrame, text);
}

/** Largest WebSocket message either side needs: a whole body in base64 plus the JSON around it. */
export function maxFrameBytes(maxBodyBytes: number): number {
  return Math.ceil(maxBodyBytes / 3) * 4 + 1024 * 1024;
}
