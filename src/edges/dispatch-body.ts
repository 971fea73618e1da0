import { FormData, Response } from 'undici';
import { badRequest } from '../http/errors.ts';
import { ControlCollector, isControlName } from './dispatch-params.ts';

/**
 * Splits a `/dispatch` request into its control parameters and the payload to
 * deliver. Forms (and a bodiless request's query string) lose their `_`
 * fields and keep the rest; any other body is passed on byte for byte.
 */

export interface DispatchPayload {
  /** Absent when the client sent a body without a Content-Type. */
  contentType?: string;
  body: Buffer;
}

export interface SplitRequest {
  controls: ControlCollector;
  payload: DispatchPayload;
  /** How the payload was derived, for logs and metrics. */
  form: 'urlencoded' | 'multipart' | 'query' | 'raw';
}

const URLENCODED = 'application/x-www-form-urlencoded';
const MULTIPART = 'multipart/form-data';
const MAX_FIELDS = 10_000;

interface UrlencodedPart {
  name: string;
  value: string;
  /** The field exactly as sent, re-used so the forwarded form is byte-identical. */
  raw: string;
}

/**
 * Parses `a=1&b=2` keeping each field's original bytes. Works on a latin1
 * string so that any byte survives the round trip unchanged.
 */
function parseUrlencoded(latin1: string): UrlencodedPart[] {
  const parts: UrlencodedPart[] = [];
  for (const raw of latin1.split('&')) {
    if (!raw) continue;
    if (parts.length >= MAX_FIELDS) throw badRequest(`more than ${MAX_FIELDS} form fields`);
    const decoded = new URLSearchParams(Buffer.from(raw, 'latin1').toString('utf8'));
    const [entry] = decoded;
    const [name, value] = entry ?? [raw, ''];
    parts.push({ name, value, raw });
  }
  return parts;
}

function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

export async function splitDispatchRequest(contentType: string, body: Buffer, querystring: string): Promise<SplitRequest> {
  const controls = new ControlCollector();
  const query = parseUrlencoded(querystring);
  const queryKept: UrlencodedPart[] = [];
  for (const part of query) {
    if (isControlName(part.name)) controls.add(part.name, part.value);
    else queryKept.push(part);
  }
  const type = mediaType(contentType);

  if (type === URLENCODED) {
    const kept = queryKept.map((p) => p.raw);
    for (const part of parseUrlencoded(body.toString('latin1'))) {
      if (isControlName(part.name)) controls.add(part.name, part.value);
      else kept.push(part.raw);
    }
    return { controls, payload: { contentType, body: Buffer.from(kept.join('&'), 'latin1') }, form: 'urlencoded' };
  }

  if (type === MULTIPART) {
    let parsed: FormData;
    try {
      parsed = await new Response(body, { headers: { 'content-type': contentType } }).formData();
    } catch (err) {
      throw badRequest(`malformed multipart/form-data body: ${(err as Error).message}`);
    }
    const out = new FormData();
    for (const part of queryKept) out.append(part.name, part.value);
    let count = 0;
    for (const [name, value] of parsed) {
      if (++count > MAX_FIELDS) throw badRequest(`more than ${MAX_FIELDS} form fields`);
      if (isControlName(name)) {
        if (typeof value !== 'string') throw badRequest(`control parameter '${name}' must be a plain field, not a file`);
        controls.add(name, value);
      } else if (typeof value === 'string') {
        out.append(name, value);
      } else {
        out.append(name, value, value.name);
      }
    }
    // undici serialises the form and picks a fresh boundary for it.
    const encoded = new Response(out);
    return {
      controls,
      payload: { contentType: encoded.headers.get('content-type') ?? MULTIPART, body: Buffer.from(await encoded.arrayBuffer()) },
      form: 'multipart',
    };
  }

  if (!contentType && body.length === 0) {
    // Hookah's query-parameter form: the non-control parameters become the payload.
    const kept = Buffer.from(queryKept.map((p) => p.raw).join('&'), 'latin1');
    return { controls, payload: { contentType: URLENCODED, body: kept }, form: 'query' };
  }

  const stray = queryKept[0];
  if (stray) {
    throw badRequest(
      `query parameter '${stray.name.slice(0, 100)}' is not a control parameter; with a ${type || 'raw'} body only ` +
        '_-prefixed control parameters may be in the query string (put destination query parameters inside _url)',
    );
  }
  const payload: DispatchPayload = { body };
  if (contentType) payload.contentType = contentType;
  return { controls, payload, form: 'raw' };
}
