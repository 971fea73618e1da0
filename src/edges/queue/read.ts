import type { StoredEvent } from '../../core/event.ts';

/** One message in a MessageList, as the original webhook queue sent it. */
export interface QueueMessage {
  id: number | string;
  /** The exact body as text. */
  message: string;
  /** Only when the body is not valid UTF-8: `message` is then its base64. */
  encoding?: 'base64';
}

export interface MessageList {
  /** Server start, Unix seconds, as a string (a change means the server restarted). */
  time: string;
  /** Newest message id in the queue; mainly diagnostic. */
  current_message: number | string;
  messages: QueueMessage[];
}

/** Ids are integers in the embedded store; kept as numbers there so the JSON matches the original. */
export function wireId(id: string | undefined): number | string {
  if (id === undefined) return 0;
  return /^\d{1,15}$/.test(id) ? Number(id) : id;
}

export function toQueueMessage(event: StoredEvent): QueueMessage {
  const text = event.body.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(event.body)) return { id: wireId(event.id), message: text };
  return { id: wireId(event.id), message: event.body.toString('base64'), encoding: 'base64' };
}

/** Serialises work per key (one client's reads must not hand out the same messages twice). */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
