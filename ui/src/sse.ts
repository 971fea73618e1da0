import { parseSse, type SseEvent } from '../../src/http/sse-parser.ts';
import { apiUrl } from './api.ts';

export type SseMessage = SseEvent;

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
        for await (const msg of parseSse(chunksOf(res.body, stop.signal))) {
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

/** A fetch body as chunks, cancelled when `signal` aborts. */
async function* chunksOf(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}
