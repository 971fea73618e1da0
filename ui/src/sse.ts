import { apiUrl } from './api.ts';

export interface SseMessage {
  event: string;
  data: string;
  id: string | undefined;
}

export type TailState = { kind: 'connecting' } | { kind: 'live' } | { kind: 'retrying'; reason: string; inMs: number } | { kind: 'failed'; reason: string };

export interface TailHandlers {
  onMessage(msg: SseMessage): void;
  onState(state: TailState): void;
}

const MAX_BACKOFF_MS = 30_000;

/**
 * Follows topics over Server-Sent Events (GET /sse). Read with fetch rather
 * than EventSource: EventSource only reports event names it was told in
 * advance, and a topic's messages may carry any `event:` type. Reconnects
 * with backoff and resumes after the last id seen (Last-Event-ID).
 */
export function followTopics(topics: string[], handlers: TailHandlers): () => void {
  const stop = new AbortController();
  let lastId: string | undefined;
  let delay = 1000;

  const connect = async (): Promise<void> => {
    let failures = 0;
    while (!stop.signal.aborted) {
      handlers.onState({ kind: 'connecting' });
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream' };
        if (lastId) headers['last-event-id'] = lastId;
        const url = apiUrl('/sse');
        for (const t of topics) url.searchParams.append('topic', t);
        const res = await fetch(url, { headers, credentials: 'same-origin', cache: 'no-store', signal: stop.signal });
        if (!res.ok || !res.body) {
          const text = await res.text().catch(() => '');
          let reason = text;
          try {
            reason = (JSON.parse(text) as { error?: string }).error ?? text;
          } catch {
            // plain text
          }
          // A bad topic or missing permission will not get better by retrying.
          if (res.status >= 400 && res.status < 500 && res.status !== 429) {
            handlers.onState({ kind: 'failed', reason: `${res.status}: ${reason}` });
            return;
          }
          throw new Error(`${res.status}: ${reason}`);
        }
        failures = 0;
        handlers.onState({ kind: 'live' });
        for await (const msg of readSse(res.body, stop.signal)) {
          if (msg.event === 'retry') {
            delay = Number(msg.data) || delay;
            continue;
          }
          if (msg.id) lastId = msg.id;
          handlers.onMessage(msg);
        }
        if (stop.signal.aborted) return;
        throw new Error('the server ended the stream');
      } catch (err) {
        if (stop.signal.aborted) return;
        failures++;
        const wait = Math.min(delay * 2 ** Math.max(0, failures - 1), MAX_BACKOFF_MS);
        handlers.onState({ kind: 'retrying', reason: (err as Error).message, inMs: wait });
        await new Promise((resolve) => {
          const t = setTimeout(resolve, wait);
          stop.signal.addEventListener('abort', () => (clearTimeout(t), resolve(undefined)), { once: true });
        });
      }
    }
  };
  void connect();
  return () => stop.abort();
}

/** The event-stream format of the HTML standard: fields up to a blank line make one event. */
async function* readSse(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const cancel = () => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', cancel, { once: true });
  let buffer = '';
  let data: string[] = [];
  let event = '';
  let id: string | undefined;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      let text = buffer + decoder.decode(value, { stream: true });
      const heldCr = text.endsWith('\r');
      if (heldCr) text = text.slice(0, -1);
      const lines = text.split(/\r\n|\r|\n/);
      buffer = (lines.pop() ?? '') + (heldCr ? '\r' : '');
      for (const line of lines) {
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id };
          data = [];
          event = '';
          id = undefined;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? '' : line.slice(colon + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'data') data.push(v);
        else if (field === 'event') event = v;
        else if (field === 'id' && !v.includes('\0')) id = v;
        else if (field === 'retry' && /^\d+$/.test(v)) yield { event: 'retry', data: v, id: undefined };
      }
    }
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}
