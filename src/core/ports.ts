import type { NewEvent, StoredEvent } from './event.ts';

/**
 * Storage ports. Each has an SQLite adapter (embedded default) and, for
 * scale-out, a Redis adapter; edges and the dispatcher only see these.
 */

export interface ReadQuery {
  /** Topic names or wildcard patterns (see topic-pattern.ts). */
  patterns: string[];
  /** Exclusive lower bound; omit to read from the oldest retained event. */
  afterId?: string;
  limit: number;
}

export interface ReadResult {
  events: StoredEvent[];
  /**
   * True when events newer than `afterId` on a matching topic were dropped by
   * retention, so the reader knows it missed something.
   */
  gap: boolean;
}

export interface TopicInfo {
  topic: string;
  count: number;
  bytes: number;
  lastId: string | undefined;
  lastAt: number | undefined;
}

export interface RetentionPolicy {
  maxCount: number;
  maxBytes: number;
  maxAgeMs: number;
}

/** The durable per-topic backlog behind the topic bus. */
export interface EventLog {
  append(event: NewEvent): Promise<StoredEvent>;
  read(query: ReadQuery): Promise<ReadResult>;
  get(id: string): Promise<StoredEvent | undefined>;
  /** Newest id in the whole log (used as "now" by resumable readers). */
  lastId(): Promise<string | undefined>;
  topics(): Promise<TopicInfo[]>;
  /** Negative, zero or positive like a sort comparator. Ids are opaque elsewhere. */
  compareIds(a: string, b: string): number;
  /** Drops events older than their topic's max age. */
  sweep(now?: number): Promise<number>;
}

/** How claiming a publish key ended: a new reservation, or the key already held. */
export type PublishClaim = { duplicate: false } | { duplicate: true; eventId: string | null; conflict: boolean };

/**
 * Idempotency keys of topic publishes (see publish-once.ts). The bus has no
 * memory of what it published, so a repeated key would otherwise publish
 * (and fan out) twice. SQLite answers at once, Redis asynchronously.
 */
export interface PublishKeyStore {
  /**
   * Reserves `key` for a new publish, or reports the event already published
   * under it (`eventId` is null while that first publish is still running);
   * `conflict` when it was claimed for another request (fingerprint).
   */
  claim(key: string, ttlMs: number, fingerprint?: string): Promise<PublishClaim> | PublishClaim;
  /** The fingerprint an unexpired key was claimed with, if any. */
  fingerprint(key: string): Promise<string | undefined> | string | undefined;
  /** Records the event a claimed key published. */
  complete(key: string, eventId: string): Promise<void> | void;
  /** Gives a key back when its publish failed, so a retry can publish. */
  release(key: string): Promise<void> | void;
}
