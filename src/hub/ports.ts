/**
 * Storage port of the WebSub hub. The SQLite adapter is the embedded default;
 * a Redis adapter for scale-out implements the same interface, so the hub
 * edge never sees which one it talks to.
 */

/** One verified subscription. (topic, callback) is unique. */
export interface HubSubscription {
  id: string;
  topic: string;
  callback: string;
  /** Shared HMAC key for X-Hub-Signature; never shown by admin endpoints. */
  secret?: string;
  leaseSeconds: number;
  createdAt: number;
  /** When intent was last verified (a re-subscribe renews it). */
  verifiedAt: number;
  /** Milliseconds since the epoch; the subscription receives nothing from then on. */
  expiresAt: number;
}

export interface NewHubSubscription {
  topic: string;
  callback: string;
  secret?: string;
  leaseSeconds: number;
}

/** What the hub remembers about a topic URL between fetches (conditional GET and dedupe). */
export interface TopicFetchState {
  etag?: string;
  lastModified?: string;
  /** Hex digest of the last distributed content (type + body). */
  contentHash?: string;
  fetchedAt: number;
}

export interface TopicSubscriptionCount {
  topic: string;
  /** Subscriptions whose lease has not ended. */
  active: number;
  /** Subscriptions past their lease that the sweep has not removed yet. */
  expired: number;
}

export interface SubscriptionStore {
  /**
   * Creates or replaces the subscription of (topic, callback) after a
   * successful verification; the id of an existing one is kept.
   */
  upsert(input: NewHubSubscription, now?: number): Promise<HubSubscription>;
  get(topic: string, callback: string): Promise<HubSubscription | undefined>;
  getById(id: string): Promise<HubSubscription | undefined>;
  remove(topic: string, callback: string): Promise<boolean>;
  removeById(id: string): Promise<boolean>;
  /**
   * Unexpired subscriptions of one topic, a page at a time in id order
   * (`afterId` exclusive), so a topic with many subscribers is read bounded.
   */
  active(topic: string, now: number, limit: number, afterId?: string): Promise<HubSubscription[]>;
  hasActive(topic: string, now: number): Promise<boolean>;
  /** Every subscription (expired ones included), optionally of one topic, in id order. */
  list(filter: { topic?: string; limit: number; afterId?: string }): Promise<HubSubscription[]>;
  topicCounts(now: number, limit: number): Promise<TopicSubscriptionCount[]>;
  countActive(now: number): Promise<number>;
  /** Deletes subscriptions whose lease ended; returns how many. */
  sweepExpired(now: number): Promise<number>;
  getFetchState(topic: string): Promise<TopicFetchState | undefined>;
  setFetchState(topic: string, state: TopicFetchState): Promise<void>;
}
