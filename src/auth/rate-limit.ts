/**
 * Token buckets keyed by source IP or credential. Memory is bounded: the Map
 * keeps insertion order, every use re-inserts its key, so the first entries
 * are the least recently used and go first when the cap is reached.
 */

export interface BucketSettings {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size: how many requests may arrive at once. */
  burst: number;
}

export type Take = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  readonly #settings: BucketSettings;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(settings: BucketSettings, maxKeys: number, now: () => number = Date.now) {
    this.#settings = settings;
    this.#maxKeys = maxKeys;
    this.#now = now;
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

  /** Takes one token, or says how long until one is available. */
  take(key: string): Take {
    const bucket = this.#refilled(key);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / this.#settings.rate) * 1000) };
  }

  /** Like take, but leaves the bucket as it is (to refuse work before doing it). */
  check(key: string): Take {
    const bucket = this.#refilled(key);
    if (bucket.tokens >= 1) return { ok: true };
    return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / this.#settings.rate) * 1000) };
  }

  get size(): number {
    return this.#buckets.size;
  }
}
