/**
 * Token buckets keyed by source IP or credential. The authorizer sees them
 * through `Buckets`; `TokenBuckets` keeps them in this process's memory (the
 * default, and all a single node needs), `SharedBuckets`
 * (rate-limit-shared.ts) keeps them in a `BucketStore` every node shares, so
 * N nodes behind a load balancer enforce one budget, not N.
 */

export interface BucketSettings {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size: how many requests may arrive at once. */
  burst: number;
}

export type Take = { ok: true } | { ok: false; retryAfterMs: number };

/** One scope of buckets (per IP, per token, failed logins). */
export interface Buckets {
  /** Takes one token, or says how long until one is available. */
  take(key: string): Take | Promise<Take>;
  /** Like take, but leaves the bucket as it is (to refuse work before doing it). */
  check(key: string): Take | Promise<Take>;
}

/** Which limit a bucket belongs to; also the `scope` label of `hookah_rate_limited_total`. */
export type BucketScope = 'ip' | 'token' | 'auth_failure';

/**
 * Buckets several nodes share (a port: the Redis adapter is
 * src/store/redis/rate-limit.ts). `cost` 1 takes a token, 0 only looks.
 * Rejects when the store cannot be reached; the caller decides what then.
 */
export interface BucketStore {
  take(scope: BucketScope, key: string, settings: BucketSettings, cost: 0 | 1): Promise<Take>;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Buckets in this process's memory. Memory is bounded: the Map keeps
 * insertion order, every use re-inserts its key, so the first entries are the
 * least recently used and go first when the cap is reached.
 */
export class TokenBuckets implements Buckets {
  readonly #settings: BucketSettings;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(settings: BucketSettings, maxKeys: number, now: () => number = Date.now) {
    this.#settings = settings;
    this.#maxKeys = maxKeys;
    this.#now = now;
  }

  get settings(): BucketSettings {
    return this.#settings;
  }

  #refilled(key: string): Bucket {
    const now = this.#now();
    const { rate, burst } = this.#settings;
    const old = this.#buckets.get(key);
    const bucket = old ? { tokens: Math.min(burst, old.tokens + ((now - old.at) / 1000) * rate), at: now } : { tokens: burst, at: now };
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    while (this.#buckets.size > this.#maxKeys) {
      const oldest = this.#buckets.keys().next().value as string;
      this.#buckets.delete(oldest);
    }
    return bucket;
  }

  take(key: string): Take {
    const bucket = this.#refilled(key);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / this.#settings.rate) * 1000) };
  }

  check(key: string): Take {
    const bucket = this.#refilled(key);
    if (bucket.tokens >= 1) return { ok: true };
    return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / this.#settings.rate) * 1000) };
  }

  get size(): number {
    return this.#buckets.size;
  }
}
