/**
 * Storage port for tunnel channels, gateway sessions and the tunnel's offline
 * queue. The SQLite adapter is src/store/sqlite/channel-store.ts; a Redis
 * adapter implements the same interface for scale-out.
 */

/** A tunnel channel (webhook URL) or a gateway session: both are an id plus a secret token. */
export type ChannelKind = 'tunnel' | 'gateway';

export interface ChannelRecord {
  id: string;
  kind: ChannelKind;
  /** SHA-256 of the token, hex. The token itself is never stored. */
  tokenHash: string;
  createdAt: number;
  lastUsedAt: number;
  /** Gateway sessions: the last event id sent on the session topic, to resume from. */
  cursor?: string;
}

export type HeaderMap = Record<string, string | string[]>;

/** An HTTP request as it travels through the tunnel. */
export interface ForwardedRequest {
  method: string;
  /** Raw path after `/webhook/{channel}`, still percent-encoded: empty, or starting with `/`. */
  path: string;
  /** Raw query string without the `?`, or empty. */
  query: string;
  headers: HeaderMap;
  body: Buffer;
}

export interface QueuedRequest {
  /** Store-assigned, increasing in arrival order. */
  id: string;
  channel: string;
  receivedAt: number;
  request: ForwardedRequest;
}

export interface QueueBounds {
  maxCount: number;
  maxBytes: number;
  maxTotalBytes: number;
}

export type EnqueueResult = { id: string } | { full: string };

export interface ChannelStore {
  create(record: { id: string; kind: ChannelKind; tokenHash: string; cursor?: string }, now?: number): Promise<ChannelRecord>;
  get(id: string): Promise<ChannelRecord | undefined>;
  /** Marks the channel as used now (its TTL counts from here). */
  touch(id: string, now?: number): Promise<void>;
  setCursor(id: string, cursor: string): Promise<void>;
  /** Deletes the channel and its queue. */
  remove(id: string): Promise<boolean>;
  count(): Promise<number>;
  /** Deletes channels of `kind` (with their queues) last used before `before`, except those in `keep`; returns their ids. */
  expire(kind: ChannelKind, before: number, keep: ReadonlySet<string>): Promise<string[]>;

  /** Appends to the channel's offline queue unless a bound would be exceeded. */
  enqueue(channel: string, request: ForwardedRequest, bounds: QueueBounds, now?: number): Promise<EnqueueResult>;
  /** The oldest queued request of the channel. */
  peek(channel: string): Promise<QueuedRequest | undefined>;
  /** Removes one queued request once it has been answered. */
  ack(channel: string, id: string): Promise<boolean>;
  queueStats(channel: string): Promise<{ count: number; bytes: number }>;
}
