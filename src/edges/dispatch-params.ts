import { parseDuration } from '../config/duration.ts';
import { validateTopic } from '../core/topic-pattern.ts';
import { checkDestination, parseUrl } from '../dispatcher/ssrf.ts';
import { badRequest } from '../http/errors.ts';

/**
 * The `_`-prefixed control parameters of `POST /dispatch`. They arrive as
 * query parameters or form fields (Hookah's original API) and are never
 * forwarded to the destination.
 */

export type DispatchMethod = 'POST' | 'PUT' | 'PATCH';

export interface ControlParams {
  url?: string;
  topic?: string;
  event?: string;
  errback?: string;
  callback?: string;
  idempotencyKey?: string;
  maxAttempts?: number;
  timeoutMs?: number;
  method: DispatchMethod;
  /** From `_header.<Name>=value`, names lower-cased. */
  headers: Record<string, string>;
}

export interface ControlLimits {
  maxAttempts: number;
  maxTimeoutMs: number;
  allowNetworks: string[];
}

const SIMPLE = new Set(['_url', '_topic', '_event', '_errback', '_callback', '_id', '_retries', '_timeout', '_method']);
const HEADER_PREFIX = '_header.';
export const MAX_CUSTOM_HEADERS = 32;
const MAX_URL_LENGTH = 8192;
const MAX_KEY_LENGTH = 255;
const MAX_EVENT_LENGTH = 256;
const MAX_HEADER_VALUE_LENGTH = 8192;
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Visible ASCII, Latin-1 text and inner spaces/tabs: what a header value may hold. */
const HEADER_VALUE_RE = /^[\t\x20-\x7e\x80-\xff]*$/;
const PRINTABLE_RE = /^[^\x00-\x1f\x7f]+$/;

/**
 * Headers a client may not set: framing and routing belong to the engine, the
 * content type belongs to the body, and the signature headers to the signer.
 */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'trailer',
  'upgrade', 'expect', 'proxy-authorization', 'proxy-connection', 'webhook-id', 'webhook-timestamp', 'webhook-signature',
]);

export const METHODS: readonly DispatchMethod[] = ['POST', 'PUT', 'PATCH'];

/** Every name starting with `_` is reserved for control parameters. */
export function isControlName(name: string): boolean {
  return name.startsWith('_');
}

/**
 * Collects raw control values from every source, refusing unknown names and
 * repeats so that a typo or a conflict is reported instead of guessed at.
 */
export class ControlCollector {
  readonly #values = new Map<string, string>();

  add(name: string, value: string): void {
    if (!SIMPLE.has(name) && !name.startsWith(HEADER_PREFIX)) {
      throw badRequest(
        `unknown control parameter '${truncate(name)}' (parameters starting with _ are reserved: ` +
          `_url, _topic, _event, _errback, _callback, _id, _retries, _timeout, _method, _header.<Name>)`,
      );
    }
    if (this.#values.has(name)) throw badRequest(`control parameter '${truncate(name)}' is given more than once`);
    this.#values.set(name, value);
  }

  parse(limits: ControlLimits, idempotencyHeader: string | undefined): ControlParams {
    const v = this.#values;
    const params: ControlParams = { method: 'POST', headers: {} };

    const url = v.get('_url');
    if (url !== undefined) params.url = destination('_url', url, limits.allowNetworks);
    const topic = v.get('_topic');
    if (topic !== undefined) {
      const reason = validateTopic(topic);
      if (reason) throw badRequest(`_topic is invalid: ${reason}`);
      params.topic = topic;
    }
    if (params.url === undefined && params.topic === undefined) {
      throw badRequest('no destination: give _url=<http(s) URL> and/or _topic=<name>');
    }

    const event = v.get('_event');
    if (event !== undefined) {
      if (!event || event.length > MAX_EVENT_LENGTH || !PRINTABLE_RE.test(event)) {
        throw badRequest(`_event must be 1-${MAX_EVENT_LENGTH} printable characters`);
      }
      params.event = event;
    }
    const errback = v.get('_errback');
    if (errback !== undefined) params.errback = destination('_errback', errback, limits.allowNetworks);
    const callback = v.get('_callback');
    if (callback !== undefined) params.callback = destination('_callback', callback, limits.allowNetworks);

    const key = idempotencyKey(v.get('_id'), idempotencyHeader);
    if (key !== undefined) params.idempotencyKey = key;

    const retries = v.get('_retries');
    if (retries !== undefined) {
      const n = /^\d{1,4}$/.test(retries.trim()) ? Number(retries) : NaN;
      if (!(n >= 1 && n <= limits.maxAttempts)) {
        throw badRequest(`_retries must be a whole number of attempts from 1 to ${limits.maxAttempts}, got '${truncate(retries)}'`);
      }
      params.maxAttempts = n;
    }
    const timeout = v.get('_timeout');
    if (timeout !== undefined) {
      const ms = parseDuration(timeout);
      if (ms === undefined || ms < 1 || ms > limits.maxTimeoutMs) {
        throw badRequest(
          `_timeout must be a duration from 1ms to ${limits.maxTimeoutMs}ms (e.g. 500ms, 10s, or milliseconds), got '${truncate(timeout)}'`,
        );
      }
      params.timeoutMs = ms;
    }
    const method = v.get('_method');
    if (method !== undefined) {
      const upper = method.trim().toUpperCase() as DispatchMethod;
      if (!METHODS.includes(upper)) throw badRequest(`_method must be one of ${METHODS.join(', ')}, got '${truncate(method)}'`);
      params.method = upper;
    }

    for (const [name, value] of v) {
      if (!name.startsWith(HEADER_PREFIX)) continue;
      const header = name.slice(HEADER_PREFIX.length);
      if (!TOKEN_RE.test(header)) throw badRequest(`'${truncate(name)}' does not name a valid HTTP header`);
      const lower = header.toLowerCase();
      if (RESERVED_HEADERS.has(lower)) throw badRequest(`header '${header}' cannot be set with _header.`);
      if (lower in params.headers) throw badRequest(`header '${header}' is given more than once`);
      if (value.length > MAX_HEADER_VALUE_LENGTH || !HEADER_VALUE_RE.test(value)) {
        throw badRequest(`value of '${truncate(name)}' must be at most ${MAX_HEADER_VALUE_LENGTH} characters with no line breaks`);
      }
      if (Object.keys(params.headers).length >= MAX_CUSTOM_HEADERS) {
        throw badRequest(`at most ${MAX_CUSTOM_HEADERS} _header. parameters are allowed`);
      }
      params.headers[lower] = value.trim();
    }
    return params;
  }
}

function destination(name: string, value: string, allow: string[]): string {
  if (!value) throw badRequest(`${name} is empty; give an absolute http(s) URL`);
  if (value.length > MAX_URL_LENGTH) throw badRequest(`${name} is longer than ${MAX_URL_LENGTH} characters`);
  const url = parseUrl(value);
  if (!url) throw badRequest(`${name} is not an absolute URL: '${truncate(value)}'`);
  const reason = checkDestination(url, allow);
  if (reason) throw badRequest(`${name} refused: ${reason}`);
  return url.href;
}

function idempotencyKey(param: string | undefined, header: string | undefined): string | undefined {
  if (param !== undefined && header !== undefined && param !== header) {
    throw badRequest('_id and the Idempotency-Key header disagree; give one of them');
  }
  const key = param ?? header;
  if (key === undefined) return undefined;
  if (!key || key.length > MAX_KEY_LENGTH || !PRINTABLE_RE.test(key)) {
    throw badRequest(`idempotency key (_id / Idempotency-Key) must be 1-${MAX_KEY_LENGTH} printable characters`);
  }
  return key;
}

function truncate(s: string, max = 100): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
