import type { SubscriberKind, TopicBus } from '../../core/bus.ts';
import type { StoredEvent } from '../../core/event.ts';

/** What a feed writes into: one subscriber connection. */
export interface FeedTarget {
  readonly closed: boolean;
  deliver(event: StoredEvent): void;
  /** The backlog no longer holds everything after `afterId`. */
  gap(afterId: string): void;
  /** True while the connection wants the writer to wait (its socket buffer is full). */
  congested(): boolean;
  /** Resolves once writing may continue, or the connection closed. */
  drained(): Promise<void>;
}

const PAGE = 100;
const MAX_HELD_EVENTS = 10_000;
const MAX_REPLAYED_IDS = 1000;

/**
 * Backlog replay then live delivery for one connection. Unlike
 * `TopicBus.follow`, the replay is paged and waits for the socket to drain
 * between writes, so resuming from far back neither loads the whole backlog
 * into memory nor trips the slow-consumer limit. Live events published during
 * the replay are held (bounded) and de-duplicated by id, so there is no gap and
 * no duplicate at the switch-over; if the held queue overflows it is dropped
 * and the replay simply reads further, since those events are in the log.
 */
export class Feed {
  readonly #bus: TopicBus;
  readonly #kind: SubscriberKind;
  readonly #target: FeedTarget;
  readonly #maxHeldBytes: number;
  #patterns: string[] = [];
  #unsubscribe: (() => void) | undefined;
  #held: StoredEvent[] | undefined;
  #heldBytes = 0;
  #drops = 0;
  #stopped = false;
  /**
   * Ids the replay delivered (the most recent MAX_REPLAYED_IDS). An event can
   * be readable in the log before it is announced live (published on another
   * node, or while this node's publish hooks still run), so it may arrive
   * live after the switch to live; it is dropped then, once.
   */
  #replayed: Set<string> | undefined;

  constructor(bus: TopicBus, kind: SubscriberKind, target: FeedTarget, maxHeldBytes: number) {
    this.#bus = bus;
    this.#kind = kind;
    this.#target = target;
    this.#maxHeldBytes = maxHeldBytes;
  }

  get patterns(): readonly string[] {
    return this.#patterns;
  }

  /** Subscribes; with `afterId`, replays what is newer first. Resolves when live. */
  async start(patterns: string[], afterId?: string): Promise<void> {
    this.#patterns = patterns;
    if (afterId !== undefined) this.#held = [];
    this.#subscribe();
    if (afterId !== undefined) await this.#replay(afterId);
  }

  /** Changes what is followed from now on (live only; no replay). */
  setPatterns(patterns: string[]): void {
    this.#patterns = patterns;
    if (this.#stopped) return;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    // The bus is synchronous, so nothing published can slip between the two calls.
    if (patterns.length > 0) this.#subscribe();
  }

  stop(): void {
    this.#stopped = true;
    this.#held = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #subscribe(): void {
    if (this.#stopped || this.#patterns.length === 0) return;
    this.#unsubscribe = this.#bus.subscribe(this.#patterns, (event) => this.#onLive(event), this.#kind);
  }

  #onLive(event: StoredEvent): void {
    if (this.#stopped || this.#target.closed) return;
    const held = this.#held;
    if (!held) {
      if (this.#replayed?.delete(event.id)) return;
      return this.#target.deliver(event);
    }
    held.push(event);
    this.#heldBytes += event.body.length;
    if (this.#heldBytes > this.#maxHeldBytes || held.length > MAX_HELD_EVENTS) {
      held.length = 0;
      this.#heldBytes = 0;
      this.#drops++;
    }
  }

  #done(): boolean {
    return this.#stopped || this.#target.closed;
  }

  /** Waits while the socket is full; false if the connection went away meanwhile. */
  async #pace(): Promise<boolean> {
    if (this.#target.congested()) await this.#target.drained();
    return !this.#done();
  }

  async #replay(afterId: string): Promise<void> {
    const log = this.#bus.log;
    let cursor = afterId;
    let gapReported = false;
    const replayed = new Set<string>();
    this.#replayed = replayed;
    for (;;) {
      const drops = this.#drops;
      const { events, gap } = await log.read({ patterns: this.#patterns, afterId: cursor, limit: PAGE });
      if (this.#done()) return;
      if (gap && !gapReported) {
        gapReported = true;
        this.#target.gap(cursor);
      }
      for (const event of events) {
        if (!(await this.#pace())) return;
        this.#target.deliver(event);
        cursor = event.id;
        replayed.add(event.id);
        if (replayed.size > MAX_REPLAYED_IDS) replayed.delete(replayed.values().next().value!);
      }
      if (events.length === PAGE || this.#drops !== drops) continue;
      // The log is exhausted; everything since is in the held queue.
      const drained = await this.#drainHeld(cursor);
      if (drained === undefined) return;
      if (drained.live) return;
      cursor = drained.cursor;
    }
  }

  /** Delivers held live events; switches to live when none are left (synchronously, so none is missed). */
  async #drainHeld(after: string): Promise<{ live: boolean; cursor: string } | undefined> {
    const log = this.#bus.log;
    const drops = this.#drops;
    let cursor = after;
    while (this.#held && this.#held.length > 0) {
      const batch = this.#held;
      this.#held = [];
      this.#heldBytes = 0;
      for (const event of batch) {
        if (log.compareIds(event.id, cursor) <= 0) continue;
        if (!(await this.#pace())) return undefined;
        // Held events were dropped while waiting: read them back from the log.
        if (this.#drops !== drops) return { live: false, cursor };
        this.#target.deliver(event);
        cursor = event.id;
      }
    }
    this.#held = undefined;
    this.#heldBytes = 0;
    return { live: true, cursor };
  }
}
