/**
 * The dispatcher's contract with the rest of Hookah. Edges (dispatch, hub,
 * tunnel, …) only enqueue and inspect; the engine owns retries and HTTP.
 */

/** Why a delivery exists; used for metrics, admin filters and follow-up behaviour. */
export type DeliveryKind = 'dispatch' | 'websub' | 'errback' | 'callback' | 'tunnel' | 'gateway';

export interface DeliveryRequest {
  kind: DeliveryKind;
  url: string;
  /** Default POST. */
  method?: string;
  /** Sent as-is (content-type included). Hop-by-hop headers are dropped by the engine. */
  headers: Record<string, string>;
  body: Buffer;
  /** Overrides within configured bounds (dispatcher.maxAttempts, dispatcher.maxTimeout). */
  maxAttempts?: number;
  timeoutMs?: number;
  /** POSTed a JSON report when the delivery finally fails. */
  errback?: string;
  /** POSTed the destination's response (status, headers, body) after it answers 2xx. */
  callback?: string;
  /** A repeat with the same key within dispatcher.idempotencyTtl returns the first message. */
  idempotencyKey?: string;
  /**
   * What the key stands for (requestFingerprint of the caller's request, not
   * of what Hookah adds to it); a repeat of the key with another one throws
   * IdempotencyConflictError. Without one the key never conflicts.
   */
  idempotencyFingerprint?: string;
  /** Add Standard Webhooks headers when a signing secret is configured. Default true. */
  sign?: boolean;
  /** Free-form owner reference, e.g. a WebSub subscription id; reported back in outcomes. */
  ref?: string;
  topic?: string;
  eventId?: string;
}

/**
 * More deliveries are waiting than `dispatcher.maxPending` allows. Carries
 * what an HTTP edge needs to answer 503 with Retry-After (see http/errors.ts).
 */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
  readonly status = 503;
  readonly expose = true;
  readonly headers: Record<string, string>;
  constructor(limit: number, retryAfterSeconds: number) {
    super(`the delivery queue is full (${limit} messages waiting, dispatcher.maxPending); retry later`);
    this.headers = { 'Retry-After': String(retryAfterSeconds) };
  }
}

export type DeliveryStatus = 'pending' | 'in_flight' | 'delivered' | 'failed';

export interface AttemptRecord {
  n: number;
  startedAt: number;
  durationMs: number;
  /** HTTP status, absent when no response arrived. */
  status?: number;
  error?: string;
  /** First dispatcher.responseExcerptBytes of the response body, as UTF-8 text. */
  responseExcerpt?: string;
}

/** A delivery as listings show it: its state without the attempts. */
export interface DeliverySummary {
  id: string;
  kind: DeliveryKind;
  url: string;
  method: string;
  status: DeliveryStatus;
  createdAt: number;
  attemptCount: number;
  maxAttempts: number;
  timeoutMs: number;
  nextAttemptAt?: number;
  deliveredAt?: number;
  /** Why it failed for good, or the last attempt's error while retrying. */
  lastError?: string;
  errback?: string;
  callback?: string;
  ref?: string;
  topic?: string;
  eventId?: string;
}

export interface DeliveryRecord extends DeliverySummary {
  attempts: AttemptRecord[];
}

/** Told after every finished attempt; e.g. the hub ends a subscription on 410. */
export interface DeliveryOutcome {
  /** The record as it stands after this attempt; its `attempts` holds only this attempt. */
  record: DeliveryRecord;
  attempt: AttemptRecord;
  final: boolean;
}

export interface DispatcherStats {
  pending: number;
  inFlight: number;
  delivered: number;
  failed: number;
}

export interface Dispatcher {
  /**
   * Throws QueueFullError when `dispatcher.maxPending` deliveries are waiting.
   * Edges taking new work from clients (`/dispatch`, gateway dispatches) call
   * it before they have any effect, so a refused request changed nothing;
   * enqueue itself never refuses: WebSub fan-out, errbacks and callbacks
   * follow from work already accepted. Concurrent requests may overshoot the
   * bound by the few that pass the check together. A repeat of a stored
   * message (same idempotency key) is let through: it adds nothing, and its
   * sender gets the answer it missed.
   */
  assertRoom(idempotencyKey?: string): Promise<void>;
  /**
   * Throws IdempotencyConflictError when `key` already stands for a request
   * with another fingerprint, for callers that must know before a side effect
   * (a topic publish) that enqueue would refuse the key.
   */
  assertKeyFits(key: string, fingerprint: string): Promise<void>;
  enqueue(request: DeliveryRequest): Promise<{ id: string; duplicate: boolean }>;
  get(id: string): Promise<DeliveryRecord | undefined>;
  list(filter: { status?: DeliveryStatus; kind?: DeliveryKind; limit: number; beforeId?: string }): Promise<DeliverySummary[]>;
  /** Puts a failed or waiting message back to be attempted now. False when unknown or already delivered. */
  retryNow(id: string): Promise<boolean>;
  onOutcome(listener: (outcome: DeliveryOutcome) => void): () => void;
  stats(): Promise<DispatcherStats>;
  start(): void;
  /** Stops claiming work, gives unstarted work back, lets attempts under way finish for up to `timeoutMs`, then cuts off and gives back the rest. */
  stop(timeoutMs: number): Promise<void>;
}
