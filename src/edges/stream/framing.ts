import { isJsonType, toEnvelope, type StoredEvent } from '../../core/event.ts';
import type { Framing } from './outbound.ts';

/**
 * Remembers the last event's encoding: the bus hands the same event object to
 * every subscriber, so a message fanned out to thousands of connections is
 * serialised once per wire format, not once per connection.
 */
function memoLast(encode: (event: StoredEvent) => Buffer): (event: StoredEvent) => Buffer {
  let last: StoredEvent | undefined;
  let value: Buffer = Buffer.alloc(0);
  return (event) => {
    if (event !== last) {
      value = encode(event);
      last = event;
    }
    return value;
  };
}

export const envelopeJson = (() => {
  let last: StoredEvent | undefined;
  let value = '';
  return (event: StoredEvent): string => {
    if (event !== last) {
      value = JSON.stringify(toEnvelope(event));
      last = event;
    }
    return value;
  };
})();

const CRLF = '\r\n';

/** `application/x-ndjson`: one JSON object per line, each line ending in CRLF. */
export const ndjsonFraming: Framing = {
  event: memoLast((e) => Buffer.from(envelopeJson(e) + CRLF)),
  gap: (notice) => JSON.stringify(notice) + CRLF,
  warning: (warning) => JSON.stringify(warning) + CRLF,
  keepAlive: CRLF,
};

/**
 * Twitter's `delimited=length`: each message is preceded by a line holding its
 * length in bytes, the length counting the message's own trailing CRLF.
 */
function lengthPrefixed(line: string): Buffer {
  const body = Buffer.from(line + CRLF);
  return Buffer.concat([Buffer.from(`${body.length}${CRLF}`), body]);
}

export const lengthDelimitedFraming: Framing = {
  event: memoLast((e) => lengthPrefixed(envelopeJson(e))),
  gap: (notice) => lengthPrefixed(JSON.stringify(notice)),
  warning: (warning) => lengthPrefixed(JSON.stringify(warning)),
  keepAlive: CRLF,
};

/** SSE field values must not contain line breaks. */
const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ');

export const sseFraming: Framing = {
  event: memoLast((e) => Buffer.from(`id: ${e.id}\nevent: ${e.type ? oneLine(e.type) : 'message'}\ndata: ${envelopeJson(e)}\n\n`)),
  // Control events carry no `id:`, so they never move the client's Last-Event-ID.
  gap: (notice) => `event: gap\ndata: ${JSON.stringify(notice)}\n\n`,
  warning: (warning) => `event: error\ndata: ${JSON.stringify(warning)}\n\n`,
  keepAlive: ': keep-alive\n\n',
};

export function sseRetry(ms: number): string {
  return `retry: ${ms}\n: connected\n\n`;
}

/** WebSocket text frames holding envelopes; the slow-consumer warning is the close frame. */
export const wsEnvelopeFraming: Framing = {
  event: memoLast((e) => Buffer.from(envelopeJson(e))),
  gap: (notice) => JSON.stringify(notice),
};

/** The sockethook message: `data` is the parsed body when it is JSON, else the body as a string. */
export interface SockethookMessage {
  headers: Record<string, string>;
  endpoint: string;
  data: unknown;
}

export function toSockethookMessage(event: StoredEvent): SockethookMessage {
  const text = event.body.toString('utf8');
  let data: unknown = text;
  if (isJsonType(event.contentType)) {
    try {
      data = JSON.parse(text);
    } catch {
      // Declared JSON but is not: sockethook then sends the body as a string.
    }
  }
  return { headers: event.headers, endpoint: `/${event.topic}`, data };
}

export const sockethookFraming: Framing = {
  event: memoLast((e) => Buffer.from(JSON.stringify(toSockethookMessage(e)))),
};
