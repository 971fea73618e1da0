/**
 * A byte-level view of a multipart/form-data body (RFC 7578, RFC 2046): it
 * finds the parts and their names but never decodes or re-encodes their
 * content, so fields Hookah passes on keep their bytes, charsets and part
 * headers (Content-Type included) exactly as the client sent them.
 */

export interface MultipartPart {
  /** From Content-Disposition; absent when the part names none. */
  name?: string;
  /** Present when the part is a file upload. */
  filename?: string;
  content: Buffer;
  /** Header section and content exactly as received, without the delimiter lines. */
  raw: Buffer;
}

export class MultipartError extends Error {}

const CRLF = Buffer.from('\r\n');
const BOUNDARY_RE = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]*))/i;

/** The boundary parameter of a multipart Content-Type (1 to 70 characters by RFC 2046). */
export function boundaryOf(contentType: string): string {
  const m = BOUNDARY_RE.exec(contentType);
  const boundary = m?.[1] ?? m?.[2] ?? '';
  if (boundary.length === 0) throw new MultipartError('the Content-Type has no boundary parameter');
  if (boundary.length > 70) throw new MultipartError('the boundary parameter is longer than 70 characters');
  return boundary;
}

/** Splits the body into its parts; the preamble and epilogue are dropped. At most `maxParts` parts. */
export function splitMultipart(body: Buffer, boundary: string, maxParts: number): MultipartPart[] {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const next = Buffer.concat([CRLF, delimiter]);
  let pos = 0;
  if (!body.subarray(0, delimiter.length).equals(delimiter)) {
    // After a preamble, which may be empty: the body then starts with CRLF.
    const found = body.indexOf(next);
    if (found < 0) throw new MultipartError(`no '--${boundary}' boundary line`);
    pos = found + CRLF.length;
  }
  const parts: MultipartPart[] = [];
  for (;;) {
    pos += delimiter.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // the close delimiter
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++; // transport padding
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw new MultipartError('a boundary line is not followed by CRLF');
    pos += CRLF.length;
    const end = body.indexOf(next, pos);
    if (end < 0) throw new MultipartError(`the body ends before the closing '--${boundary}--'`);
    if (parts.length >= maxParts) throw new MultipartError(`more than ${maxParts} parts`);
    parts.push(parsePart(body.subarray(pos, end)));
    pos = end + CRLF.length;
  }
}

function parsePart(raw: Buffer): MultipartPart {
  // A part with no headers starts with the blank line itself.
  const blank = raw.subarray(0, 2).equals(CRLF) ? 0 : raw.indexOf('\r\n\r\n');
  if (blank < 0) throw new MultipartError('a part has no blank line after its headers');
  const content = raw.subarray(blank === 0 ? 2 : blank + 4);
  const part: MultipartPart = { content, raw };
  for (const line of raw.subarray(0, blank).toString('latin1').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    const params = dispositionParams(Buffer.from(line.slice(colon + 1), 'latin1').toString('utf8'));
    if (params.has('name')) part.name = params.get('name');
    if (params.has('filename')) part.filename = params.get('filename');
  }
  return part;
}

/** `form-data; name="a"; filename="b"` → {name: a, filename: b}. Quoted values may hold `;` and `\"`. */
function dispositionParams(value: string): Map<string, string> {
  const params = new Map<string, string>();
  const re = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const key = m[1]!.toLowerCase();
    if (!params.has(key)) params.set(key, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!.trim());
  }
  return params;
}

/** A text field part, with the name escaped as browsers do (WHATWG HTML, multipart/form-data encoding). */
export function textPart(name: string, value: string): Buffer {
  const escaped = name.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');
  return Buffer.concat([Buffer.from(`Content-Disposition: form-data; name="${escaped}"\r\n\r\n`, 'utf8'), Buffer.from(value, 'utf8')]);
}

/** True when `part` holds CRLF and `--boundary`, which would end it early once joined. */
export function holdsDelimiter(part: Buffer, boundary: string): boolean {
  return part.includes(`\r\n--${boundary}`, 0, 'latin1');
}

/** Joins raw parts into a body with the given boundary; fails if a part holds the delimiter itself. */
export function joinMultipart(parts: Buffer[], boundary: string): Buffer {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const chunks: Buffer[] = [];
  for (const part of parts) {
    if (holdsDelimiter(part, boundary)) throw new MultipartError(`a field holds the boundary '--${boundary}'`);
    chunks.push(delimiter, CRLF, part, CRLF);
  }
  chunks.push(delimiter, Buffer.from('--\r\n'));
  return Buffer.concat(chunks);
}
