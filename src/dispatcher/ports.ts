import type { HostLimit } from './host-limit.ts';
import type { AttemptRecord, DeliveryKind, DeliveryRecord, DeliveryStatus, DeliverySummary, DispatcherStats } from './types.ts';

/** What the engine needs to attempt a delivery; the record plus the payload. */
export interface PendingDelivery {
  id: string;
  kind: DeliveryKind;
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
  attemptCount: number;
  maxAttempts: number;
  timeoutMs: number;
  sign: boolean;
  errback?: string;
  callback?: string;
  ref?: string;
  topic?: string;
  eventId?: string;
  createdAt: number;
}

export type NewDelivery = Omit<PendingDelivery, 'id' | 'attemptCount' | 'createdAt'> & {
  nextAttemptAt: number;
  /** Insert already claimed by the caller until this time (saves a claim round trip for work due now). */
  leaseUntil?: number;
};

/** An idempotency key to hold for `ttlMs`, with a digest of the request it stands for. */
export interface IdempotencyClaim {
  key: string;
  ttlMs: number;
  /** A repeat of the key with another fingerprint is a conflict, not a duplicate (keys stored without one never conflict). */
  fingerprint?: string;
}

export interface Inserted {
  id: string;
  /** The key was held: `id` is the earlier delivery's. */
  duplicate: boolean;
  /** …and it was held for a different request. */
  conflict?: boolean;
  createdAt: number;
}

/** How an attempt ended, as the store must persist it. */
export type AttemptResult =
  | { status: 'delivered'; at: number }
  | { status: 'pending'; nextAttemptAt: number; error: string }
  | { status: 'failed'; error: string };

/**
 * Port for the durable delivery queue. A claim is a lease: the claimer owns
 * the delivery until `leaseUntil`; after that anyone may claim it again,
 * which is how a crashed worker's deliveries are retried.
 */
export interface DeliveryStore {
  insert(delivery: NewDelivery, idempotency?: IdempotencyClaim): Promise<Inserted>;
  /**
   * Leases up to `limit` due deliveries, oldest due first. With `hosts`, no
   * host gets more than its room (cap minus what the caller holds): due work
   * of hosts at their cap is left in place, and work of other hosts is found
   * even behind a long run of it, so one slow destination cannot take every
   * claim.
   */
  claimDue(now: number, limit: number, leaseUntil: number, hosts?: HostLimit): Promise<PendingDelivery[]>;
  /**
   * Records an attempt and the delivery's new state. A `followUp` (errback or
   * callback) is inserted in the same atomic write, so no crash can record the
   * outcome without it; answers the follow-up's id when one was given.
   */
  finishAttempt(id: string, attempt: AttemptRecord, result: AttemptResult, followUp?: NewDelivery): Promise<{ id: string; createdAt: number } | undefined>;
  /**
   * Extends the leases of deliveries this worker still holds (claimed, maybe
   * waiting behind others to the same host), so no other worker takes them
   * while they wait. Deliveries no longer in flight are left alone.
   */
  renewLeases(ids: string[], leaseUntil: number): Promise<void>;
  /** Gives back claimed deliveries that were never started (on shutdown). */
  release(ids: string[]): Promise<void>;
  /** Called at start-up: makes deliveries left in flight by a dead process claimable now. */
  recoverInFlight(now: number): Promise<number>;
  get(id: string): Promise<DeliveryRecord | undefined>;
  /** Newest first; summaries only, so a listing never reads attempts or bodies. */
  list(filter: { status?: DeliveryStatus; kind?: DeliveryKind; limit: number; beforeId?: string }): Promise<DeliverySummary[]>;
  retryNow(id: string, now: number): Promise<'ok' | 'not_found' | 'delivered'>;
  nextDueAt(): Promise<number | undefined>;
  stats(): Promise<DispatcherStats>;
  purgeExpiredKeys(now: number): Promise<number>;
  /**
   * Deletes up to `limit` delivered or failed deliveries, with their
   * attempts, that were accepted before `createdBefore`, oldest first.
   * Pending and in-flight deliveries are never deleted. Answers how many went.
   */
  purgeFinished(createdBefore: number, limit: number): Promise<number>;
  /** The delivery an unexpired idempotency key stands for, if any. */
  findIdempotent(key: string, now: number): Promise<{ id: string; fingerprint?: string } | undefined>;
  /** Pending plus in-flight deliveries, for the `dispatcher.maxPending` bound. */
  countUnfinished(): Promise<number>;
}
