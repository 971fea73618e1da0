import type { Config } from '../../config/schema.ts';

/**
 * Which subscriptions the hub accepts, and for how long. Patterns are
 * unanchored regular expressions (anchor them with ^…$ to match whole URLs).
 */
export class HubPolicy {
  readonly #topics: RegExp[];
  readonly #callbacks: RegExp[];
  readonly minLease: number;
  readonly maxLease: number;
  readonly defaultLease: number;

  constructor(hub: Config['hub']) {
    this.#topics = hub.allowTopics.map((p) => compile(p, 'hub.allowTopics'));
    this.#callbacks = hub.allowCallbacks.map((p) => compile(p, 'hub.allowCallbacks'));
    // Leases are configured as durations but travel in whole seconds, never zero: a lease always ends.
    this.minLease = Math.max(1, Math.ceil(hub.minLease / 1000));
    this.maxLease = Math.max(1, Math.floor(hub.maxLease / 1000));
    if (this.minLease > this.maxLease) throw new Error('invalid configuration: hub.minLease is longer than hub.maxLease');
    this.defaultLease = this.#clamp(Math.round(hub.defaultLease / 1000));
  }

  /** Why a subscription to `topic` by `callback` is refused, or undefined when allowed. */
  deniedReason(topic: string, callback: string): string | undefined {
    if (this.#topics.length > 0 && !this.#topics.some((re) => re.test(topic))) return 'topic is not allowed on this hub';
    if (this.#callbacks.length > 0 && !this.#callbacks.some((re) => re.test(callback))) return 'callback is not allowed on this hub';
    return undefined;
  }

  /** The lease the hub grants for a requested one (seconds), within [minLease, maxLease]. */
  leaseSeconds(requested: number | undefined): number {
    return requested === undefined ? this.defaultLease : this.#clamp(requested);
  }

  #clamp(seconds: number): number {
    return Math.min(this.maxLease, Math.max(this.minLease, seconds));
  }
}

function compile(pattern: string, key: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new Error(`invalid configuration: ${key} has an invalid regular expression ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
}
