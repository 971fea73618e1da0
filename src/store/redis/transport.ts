import type { StoredEvent } from '../../core/event.ts';
import { isPattern } from '../../core/topic-pattern.ts';
import type { BusTransport } from '../../core/transport.ts';
import type { Logger } from '../../log.ts';
import { closeRedis, type RedisClient } from './connection.ts';
import { decodeNotification, type RedisEventLog } from './event-log.ts';
import type { RedisKeys } from './keys.ts';

/** Per-topic "last delivered id" entries kept for de-duplication (LRU beyond this). */
const MAX_TRACKED_TOPICS = 100_000;
const CATCH_UP_PAGE = 500;
/** Bound on one catch-up (after a long disconnect); beyond it subscribers see a gap. */
const MAX_CATCH_UP_EVENTS = 200_000;

/**
 * Cross-node fan-out over Redis pub/sub.
 *
 * - The event log's append script PUBLISHes every event on `P ch:<topic>` as
 *   part of the same atomic step that assigns its id, so notifications leave
 *   Redis in id order. This node SUBSCRIBEs to the channel of each exact
 *   topic with local subscribers and PSUBSCRIBEs a glob for each wildcard
 *   pattern: a node without subscribers for a topic gets no traffic for it.
 * - Everything received goes through one ordered queue: bodies too large to
 *   travel inline are fetched from the stream without overtaking later
 *   events, and a per-topic "last id" drops the duplicates of overlapping
 *   subscriptions and catch-ups.
 * - Catch-up closes the windows pub/sub cannot see: after a new watch (what
 *   was stored while SUBSCRIBE was on its way) and after a reconnect (what
 *   was stored while the connection was down), the missed events are read
 *   from the log in order before later notifications are passed on.
 */
export class RedisTransport implements BusTransport {
  readonly echoesLocal = true;
  readonly #sub: RedisClient;
  readonly #cmd: RedisClient;
  readonly #log: RedisEventLog;
  readonly #keys: RedisKeys;
  readonly #logger: Logger;
  readonly #watched = new Set<string>();
  readonly #lastByTopic = new Map<string, number>();
  #listener: ((event: StoredEvent) => void) | undefined;
  #queue: Promise<void> = Promise.resolve();
  /** Highest id received; after a reconnect everything newer is read back. */
  #high = 0;
  /** Lowest start of a catch-up that failed, so the next resync also covers it. */
  #retryFrom: number | undefined;
  #wasReady = false;
  #closed = false;
  #resyncTimer: NodeJS.Timeout | undefined;

  constructor(options: { subscriber: RedisClient; command: RedisClient; log: RedisEventLog; keys: RedisKeys; logger: Logger }) {
    this.#sub = options.subscriber;
    this.#cmd = options.command;
    this.#log = options.log;
    this.#keys = options.keys;
    this.#logger = options.logger;
    this.#sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.#enqueue(() => this.#receive(message)));
    this.#sub.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, message: Buffer) => this.#enqueue(() => this.#receive(message)));
    this.#sub.on('ready', () => {
      if (this.#wasReady) this.#resync();
      this.#wasReady = true;
    });
  }

  /** Connects the subscriber connection and starts from the current end of the log. */
  async start(): Promise<void> {
    if (this.#sub.status === 'wait') await this.#sub.connect();
    // Any later 'ready' is a reconnect, which needs a resync.
    this.#wasReady = true;
    this.#high = Number((await this.#cmd.get(this.#keys.seq)) ?? 0);
  }

  async broadcast(): Promise<void> {
    // The append script already published the event, atomically with storing it.
  }

  onRemote(fn: (event: StoredEvent) => void): void {
    this.#listener = fn;
  }

  watch(pattern: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#watched.add(pattern);
    // Sent before SUBSCRIBE: anything stored after this point is either caught up or notified.
    const since = this.#cmd.get(this.#keys.seq);
    const subscribed = this.#subscribe([pattern]);
    since.catch(() => undefined);
    subscribed.catch(() => undefined);
    return this.#enqueue(async () => {
      // If the sequence cannot be read, catching up from the last id seen covers at least as much.
      let from = this.#high;
      try {
        from = Number((await since) ?? 0);
        await subscribed;
        await this.#catchUp([pattern], from);
        // Every watched topic is now complete up to `from`, so a later resync need not look further back.
        if (from > this.#high) this.#high = from;
      } catch (err) {
        this.#retryFrom = Math.min(this.#retryFrom ?? from, from);
        this.#scheduleResync();
        throw err;
      }
    });
  }

  unwatch(pattern: string): void {
    if (!this.#watched.delete(pattern) || this.#closed) return;
    const done = isPattern(pattern) ? this.#sub.punsubscribe(this.#keys.channelGlob(pattern)) : this.#sub.unsubscribe(this.#keys.channel(pattern));
    done.catch(() => undefined); // a lost connection unsubscribes anyway
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#resyncTimer);
    this.#watched.clear();
    await closeRedis(this.#sub);
  }

  #subscribe(patterns: string[]): Promise<unknown> {
    const exact = patterns.filter((p) => !isPattern(p)).map((p) => this.#keys.channel(p));
    const globs = patterns.filter(isPattern).map((p) => this.#keys.channelGlob(p));
    const pending: Promise<unknown>[] = [];
    if (exact.length > 0) pending.push(this.#sub.subscribe(...exact));
    if (globs.length > 0) pending.push(this.#sub.psubscribe(...globs));
    return Promise.all(pending);
  }

  /** Runs `task` after everything received before it; failures are logged, not fatal to the queue. */
  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task);
    this.#queue = run.catch((err) => {
      if (!this.#closed) this.#logger.warn({ err }, 'cross-node event delivery step failed; will catch up on reconnect');
    });
    return run;
  }

  async #receive(message: Buffer): Promise<void> {
    const note = decodeNotification(message);
    if ('event' in note) return this.#deliver(note.event);
    const { id, topic } = note.ref;
    if (this.#isOld(topic, Number(id))) return;
    const event = await this.#log.getFrom(topic, id);
    if (event) this.#deliver(event);
    else this.#logger.warn({ id, topic }, 'event dropped by retention before this node could fetch it');
  }

  #isOld(topic: string, id: number): boolean {
    return id <= (this.#lastByTopic.get(topic) ?? 0);
  }

  #deliver(event: StoredEvent): void {
    const id = Number(event.id);
    if (id > this.#high) this.#high = id;
    if (this.#closed || this.#isOld(event.topic, id)) return;
    // Re-inserted so that Map order is least-recently-delivered first.
    this.#lastByTopic.delete(event.topic);
    this.#lastByTopic.set(event.topic, id);
    if (this.#lastByTopic.size > MAX_TRACKED_TOPICS) this.#lastByTopic.delete(this.#lastByTopic.keys().next().value!);
    this.#listener?.(event);
  }

  async #catchUp(patterns: string[], from: number): Promise<void> {
    if (patterns.length === 0) return;
    let after = String(from);
    let total = 0;
    for (;;) {
      const { events, gap } = await this.#log.read({ patterns, afterId: after, limit: CATCH_UP_PAGE });
      if (gap) this.#logger.warn({ patterns, after }, 'events were dropped by retention before this node could catch up');
      for (const event of events) this.#deliver(event);
      total += events.length;
      if (events.length < CATCH_UP_PAGE) return;
      after = events[events.length - 1]!.id;
      if (total >= MAX_CATCH_UP_EVENTS) {
        this.#logger.error({ patterns, total }, 'catch-up limit reached; local subscribers miss older events (resume with Last-Event-ID to read them)');
        return;
      }
    }
  }

  /** A failed catch-up is retried until it succeeds: an outage must not need a restart. */
  #scheduleResync(): void {
    if (this.#closed || this.#resyncTimer) return;
    this.#resyncTimer = setTimeout(() => {
      this.#resyncTimer = undefined;
      this.#resync();
    }, 1000);
    this.#resyncTimer.unref();
  }

  /** After a reconnect: subscribe again, then read back what was stored while we were away. */
  #resync(): void {
    if (this.#closed) return;
    const patterns = [...this.#watched];
    const subscribed = this.#subscribe(patterns);
    const seq = this.#cmd.get(this.#keys.seq);
    // Nobody awaits these directly; the queued task reports their failure.
    subscribed.catch(() => undefined);
    seq.catch(() => undefined);
    void this.#enqueue(async () => {
      let now: number;
      try {
        await subscribed;
        now = Number((await seq) ?? 0);
      } catch (err) {
        this.#scheduleResync();
        throw err;
      }
      if (now < this.#high) {
        // Redis came back without the data we had seen (no persistence): ids start over.
        this.#logger.error({ was: this.#high, now }, 'redis lost data: the event id sequence went backwards; configure appendonly persistence');
        this.#lastByTopic.clear();
        this.#high = now;
        this.#retryFrom = undefined;
        return;
      }
      const from = Math.min(this.#high, this.#retryFrom ?? this.#high);
      this.#retryFrom = undefined;
      try {
        await this.#catchUp([...this.#watched], from);
      } catch (err) {
        this.#retryFrom = from;
        this.#scheduleResync();
        throw err;
      }
      this.#logger.info({ from }, 'cross-node subscriptions restored');
    });
  }
}
