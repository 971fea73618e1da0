/**
 * The one thing that moves through Hookah. Bodies stay byte-exact (a Buffer),
 * so a consumer can still verify the original sender's signature.
 */
export interface NewEvent {
  topic: string;
  /** Lower-cased request headers worth keeping (hop-by-hop headers removed). */
  headers: Record<string, string>;
  contentType: string;
  body: Buffer;
  /** Optional event name (SSE `event:` field). */
  type?: string;
  /** Where it came in: dispatch, hub, hook, queue, tunnel, ws… */
  source: string;
}

export interface StoredEvent extends NewEvent {
  /** Store-assigned, strictly increasing across all topics of one store. */
  id: string;
  /** Milliseconds since the epoch, set by the store. */
  receivedAt: number;
}

/** The single JSON shape every streaming edge (chunked, SSE, WebSocket, poll) sends. */
export interface Envelope {
  id: string;
  topic: string;
  type?: string;
  received_at: string;
  source: string;
  headers: Record<string, string>;
  content_type: string;
  /** Parsed JSON when the body is JSON, UTF-8 text when textual, base64 otherwise. */
  data: unknown;
  /** Present and "base64" when `data` is the base64 of a binary body. */
  encoding?: 'base64';
}

const TEXTUAL = /^(text\/|application\/(x-www-form-urlencoded|xml|javascript|ecmascript)|[^;]*\+xml)/i;

export function isJsonType(contentType: string): boolean {
  return /^application\/([\w.-]+\+)?json\b/i.test(contentType.trim());
}

export function isTextType(contentType: string): boolean {
  return isJsonType(contentType) || TEXTUAL.test(contentType.trim());
}

/**
 * Decodes the body the way a consumer wants to read it; falls back to base64 so
 * that nothing binary is ever mangled by a lossy UTF-8 round trip.
 */
export function decodeBody(contentType: string, body: Buffer): { data: unknown; encoding?: 'base64' } {
  if (body.length === 0) return { data: isJsonType(contentType) ? null : '' };
  if (isJsonType(contentType)) {
    try {
      return { data: JSON.parse(body.toString('utf8')) };
    } catch {
      // Declared JSON but is not: fall through and keep it readable as text.
    }
  }
  if (isTextType(contentType) || contentType === '') {
    const text = body.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(body)) return { data: text };
  }
  return { data: body.toString('base64'), encoding: 'base64' };
}

export function toEnvelope(event: StoredEvent): Envelope {
  const decoded = decodeBody(event.contentType, event.body);
  const envelope: Envelope = {
    id: event.id,
    topic: event.topic,
    received_at: new Date(event.receivedAt).toISOString(),
    source: event.source,
    headers: event.headers,
    content_type: event.contentType,
    data: decoded.data,
  };
  if (event.type) envelope.type = event.type;
  if (decoded.encoding) envelope.encoding = decoded.encoding;
  return envelope;
}
