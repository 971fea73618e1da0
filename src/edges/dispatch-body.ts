import { badRequest } from '../http/errors.ts';
import { ControlCollector, isControlName } from './dispatch-params.ts';
import { boundaryOf, holdsDelimiter, joinMultipart, MultipartError, splitMultipart, textPart } from './multipart-form.ts';

/**
 * Splits a `/dispatch` request into its control parameters and the payload to
 * deliver. Forms (and a bodiless request's query string) lose their `_`
 * fields and keep the rest byte for byte; any other body is passed on whole.
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
  /** Multipart: the parts delivered, without the boundary a client picks anew for every encoding of the same form. */
  parts?: Buffer[];
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

/** The body types whose fields Hookah reads (and so must be able to read). */
export function isFormType(contentType: string): boolean {
  const type = mediaType(contentType);
  return type === URLENCODED || type === MULTIPART;
}

export function splitDispatchRequest(contentType: string, body: Buffer, querystring: string): SplitRequest {
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
    const kept: Buffer[] = queryKept.map((p) => textPart(p.name, p.value));
    let removed = 0;
    try {
      const boundary = boundaryOf(contentType);
      // The query fields come first in `kept`: name the one that would break the body.
      const clash = queryKept.find((_, i) => holdsDelimiter(kept[i]!, boundary));
      if (clash) throw badRequest(`query parameter '${clash.name.slice(0, 100)}' holds the multipart boundary '--${boundary}'; pick another boundary`);
      for (const part of splitMultipart(body, boundary, MAX_FIELDS)) {
        if (part.name === undefined || !isControlName(part.name)) {
          kept.push(part.raw);
          continue;
        }
        if (part.filename !== undefined) throw badRequest(`control parameter '${part.name.slice(0, 100)}' must be a plain field, not a file`);
        controls.add(part.name, part.content.toString('utf8'));
        removed++;
      }
      // Untouched forms go out byte for byte, preamble and all.
      const out = removed === 0 && queryKept.length === 0 ? body : joinMultipart(kept, boundary);
      return { controls, payload: { contentType, body: out }, form: 'multipart', parts: kept };
    } catch (err) {
      if (err instanceof MultipartError) throw badRequest(`malformed multipart/form-data body: ${err.message}`);
      throw err;
    }
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
