import { EventEmitter } from 'node:events';
import type { NewEvent, StoredEvent } from './event.ts';
import type { EventLog } from './ports.ts';
import { isPattern, matchTopic } from './topic-pattern.ts';

export type Listener = (event: StoredEvent) => void;

/** Who is listening, for metrics and the dashboard (Nchan-style subscriber types). */
export type SubscriberKind = 'stream' | 'sse' | 'websocket' | 'poll' | 'websub' | 'tunnel' | 'queue' | 'internal';

interface Subscription {
  patterns: string[];
  listener: Listener;
  kind: SubscriberKind;
}

/**
 * Hooks that must finish before a publish is acknowledged, e.g. enqueuing
 * durable push deliveries. Unlike listeners they are awaited.
 */
export type PublishHook = (event: StoredEvent) => Promise<void> | void;

export interface FollowOptions {
  kind: SubscriberKind;
  /** Resume after this id out of the backlog; omit to receive only new events. */
  afterId?: string;
  /** Cap on backlog events replayed before going live. */
  replayLimit?: number;
  /** Told when the replay could not cover everything since `afterId`. */
  onGap?: () => void;
}

/**
 * The one topic bus: every ingress publishes here and every kind of
 * subscriber reads from here. Publishing appends to the durable log first, so
 * an event is never delivered live without also being replayable.
 */
export class TopicBus {
  readonly #log: EventLog;
  readonly #exact = new Map<string, Set<Subscription>>();
  readonly #wild = new Set<Subscription>();
  readonly #hooks: PublishHook[] = [];
  readonly #events = new EventEmitter();

  constructor(log: EventLog) {
    this.#log = log;
  }

  get log(): EventLog {
    return this.#log;
  }

  addPublishHook(hook: PublishHook): void {
    this.#hooks.push(hook);
  }

  /** Fires after every publish; for metrics, not for delivery. */
  onPublished(fn: (event: StoredEvent) => void): void {
    this.#events.on('published', fn);
  }

  async publish(input: NewEvent): Promise<StoredEvent> {
    const event = await this.#log.append(input);
    for (const hook of this.#hooks) await hook(event);
    this.emitLocal(event);
    return event;
  }

  /**
   * Delivers an already-stored event to local listeners. Public so that a
   * scale-out transport can feed events published on other nodes.
   */
  emitLocal(event: StoredEvent): void {
    this.#events.emit('published', event);
    const exact = this.#exact.get(event.topic);
    if (exact) for (const sub of [...exact]) safeCall(sub.listener, event);
    for (const sub of [...this.#wild]) {
      if (sub.patterns.some((p) => matchTopic(p, event.topic))) safeCall(sub.listener, event);
    }
  }

  subscribe(patterns: string[], listener: Listener, kind: SubscriberKind): () => void {
    const sub: Subscription = { patterns, listener, kind };
    const wild = patterns.some(isPattern);
    if (wild) this.#wild.add(sub);
    else
      for (const topic of patterns) {
        let set = this.#exact.get(topic);
        if (!set) this.#exact.set(topic, (set = new Set()));
        set.add(sub);
      }
    return () => {
      if (wild) this.#wild.delete(sub);
      else
        for (const topic of patterns) {
          const set = this.#exact.get(topic);
          if (!set) continue;
          set.delete(sub);
          if (set.size === 0) this.#exact.delete(topic);
        }
    };
  }

  /**
   * Subscribe, optionally replaying the backlog after `afterId` first, with no
   * gap and no duplicate between replay and live events: live events are held
   * while the replay runs, then only those newer than the replay are passed on.
   */
  async follow(patterns: string[], listener: Listener, options: FollowOptions): Promise<() => void> {
    if (options.afterId === undefined) return this.subscribe(patterns, listener, options.kind);
    let held: StoredEvent[] | undefined = [];
    const unsubscribe = this.subscribe(
      patterns,
      (event) => (held ? held.push(event) : listener(event)),
      options.kind,
    );
    try {
      const limit = options.replayLimit ?? 10_000;
      const { events, gap } = await this.#log.read({ patterns, afterId: options.afterId, limit });
      if (gap || events.length === limit) options.onGap?.();
      let last = options.afterId;
      for (const event of events) {
        listener(event);
        last = event.id;
      }
      const pending = held;
      held = undefined;
      for (const event of pending) if (this.#log.compareIds(event.id, last) > 0) listener(event);
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  /** Subscriber counts by kind, optionally only those that would receive `topic`. */
  subscriberCounts(topic?: string): Record<string, number> {
    const counts: Record<string, number> = {};
    const add = (sub: Subscription) => (counts[sub.kind] = (counts[sub.kind] ?? 0) + 1);
    const seen = new Set<Subscription>();
    for (const [name, set] of this.#exact) {
      if (topic !== undefined && name !== topic) continue;
      for (const sub of set) if (!seen.has(sub)) (seen.add(sub), add(sub));
    }
    for (const sub of this.#wild) {
      if (topic === undefined || sub.patterns.some((p) => matchTopic(p, topic))) add(sub);
    }
    return counts;
  }
}

function safeCall(listener: Listener, event: StoredEvent): void {
  try {
    listener(event);
  } catch (err) {
    // One broken subscriber must not stop the others from receiving the event.
    process.emitWarning(`topic bus listener threw: ${(err as Error).message}`);
  }
}
