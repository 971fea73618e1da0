import type { Logger } from '../log.ts';
import type { BucketScope, BucketSettings, BucketStore, Buckets, Take, TokenBuckets } from './rate-limit.ts';

/**
 * Buckets kept in a store every node shares (Redis), so a client's requests
 * spread over N nodes draw on one budget.
 *
 * When the store does not answer (down, or slower than STORE_TIMEOUT_MS) a
 * decision falls back to this node's own in-memory buckets with the same
 * settings: neither fail-open (a Redis outage would switch off brute-force
 * protection) nor fail-closed (a webhook server must not refuse all ingest
 * because a limiter is unavailable). Limits are then per node, as without
 * Redis, until the store answers again.
 */

/** Longest a decision waits for the shared store before using the node's own bucket. */
export const STORE_TIMEOUT_MS = 2000;
/** While the store is unavailable, at most one warning per this interval. */
const WARN_EVERY_MS = 60_000;

/** Tells the operator the shared store is failing, without a log line per request. */
export class FallbackReporter {
  readonly #log: Logger;
  readonly #onFallback: (scope: BucketScope) => void;
  readonly #now: () => number;
  #down = false;
  #warnedAt = -Infinity;
  #unreported = 0;

  constructor(log: Logger, onFallback: (scope: BucketScope) => void = () => {}, now: () => number = Date.now) {
    this.#log = log;
    this.#onFallback = onFallback;
    this.#now = now;
  }

  get down(): boolean {
    return this.#down;
  }

  failed(scope: BucketScope, err: unknown): void {
    this.#onFallback(scope);
    this.#unreported++;
    const now = this.#now();
    if (this.#down && now - this.#warnedAt < WARN_EVERY_MS) return;
    this.#log.warn(
      { err: (err as Error)?.message ?? String(err), decisions: this.#unreported },
      "shared rate-limit buckets unavailable: using this node's own buckets (limits are per node until redis answers)",
    );
    this.#down = true;
    this.#warnedAt = now;
    this.#unreported = 0;
  }

  ok(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#log.info({ fallbackDecisions: this.#unreported }, 'shared rate-limit buckets available again');
    this.#unreported = 0;
  }
}

export class SharedBuckets implements Buckets {
  readonly #store: BucketStore;
  readonly #scope: BucketScope;
  readonly #settings: BucketSettings;
  readonly #local: TokenBuckets;
  readonly #reporter: FallbackReporter;
  readonly #timeoutMs: number;

  /** `local` holds the settings, and the buckets used while the store is unavailable. */
  constructor(store: BucketStore, scope: BucketScope, local: TokenBuckets, reporter: FallbackReporter, timeoutMs = STORE_TIMEOUT_MS) {
    this.#store = store;
    this.#scope = scope;
    this.#settings = local.settings;
    this.#local = local;
    this.#reporter = reporter;
    this.#timeoutMs = timeoutMs;
  }

  take(key: string): Promise<Take> {
    return this.#decide(key, 1);
  }

  check(key: string): Promise<Take> {
    return this.#decide(key, 0);
  }

  async #decide(key: string, cost: 0 | 1): Promise<Take> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      });
      const result = await Promise.race([this.#store.take(this.#scope, key, this.#settings, cost), timeout]);
      this.#reporter.ok();
      return result;
    } catch (err) {
      this.#reporter.failed(this.#scope, err);
      return cost === 1 ? this.#local.take(key) : this.#local.check(key);
    } finally {
      clearTimeout(timer);
    }
  }
}
