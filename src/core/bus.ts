import { EventEmitter } from 'node:events';
import type { NewEvent, StoredEvent } from './event.ts';
import type { EventLog } from './ports.ts';
import { isPattern, matchTopic } from './topic-pattern.ts';
import type { BusTransport } from './transport.ts';

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
  readonly #transport: BusTransport | undefined;
  /** Local subscriptions per pattern, so the transport is told only when the first arrives or the last leaves. */
  readonly #watched = new Map<string, number>();
  readonly #unwatchLater = new Set<string>();
  #unwatchTimer: NodeJS.Immediate | undefined;

  /** With a transport (scale-out), events published on other nodes reach this node's subscribers too. */
  constructor(log: EventLog, transport?: BusTransport) {
    this.#log = log;
    this.#transport = transport;
    transport?.onRemote((event) => this.emitLocal(event));
  }

  get log(): EventLog {
    return this.#log;
  }

  /**
   * True when other nodes publish to the same log (scale-out): this node's
   * own publishes (`onPublished`) are then not all there is, so anything
   * that needs the newest id must ask the log.
   */
  get clustered(): boolean {
    return this.#transport !== undefined;
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
    this.#events.emit('published', event);
    if (this.#transport) await this.#transport.broadcast(event);
    // A transport that echoes delivers this event in the cluster-wide order instead.
    if (!this.#transport?.echoesLocal) this.emitLocal(event);
    return event;
  }

  /**
   * Delivers an already-stored event to local listeners. Public so that a
   * scale-out transport can feed events published on other nodes.
   */
  emitLocal(event: StoredEvent): void {
    const exact = this.#exact.get(event.topic);
    if (exact) for (const sub of [...exact]) safeCall(sub.listener, event);
    for (const sub of [...this.#wild]) {
      if (sub.patterns.some((p) => matchTopic(p, event.topic))) safeCall(sub.listener, event);
    }
  }

  subscribe(patterns: string[], listener: Listener, kind: SubscriberKind): () => void {
    const sub: Subscription = { patterns, listener, kind };
    this.#watch(patterns);
    const wild = patterns.some(isPattern);
    if (wild) this.#wild.add(sub);
    else
      for (const topic of patterns) {
        let set = this.#exact.get(topic);
        if (!set) this.#exact.set(topic, (set = new Set()));
        set.add(sub);
      }
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.#unwatch(patterns);
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
    // An event can be readable before it is announced live (another node published it, or this
    // node's publish hooks still run): one the replay delivered is dropped when it arrives live.
    let replayed: Set<string> | undefined;
    const unsubscribe = this.subscribe(
      patterns,
      (event) => {
        if (held) held.push(event);
        else if (!replayed?.delete(event.id)) listener(event);
      },
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
      replayed = new Set(events.slice(-1000).map((e) => e.id));
      const pending = held;
      held = undefined;
      for (const event of pending) if (this.#log.compareIds(event.id, last) > 0) listener(event);
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  /**
   * Resolves once the transport has set up every pattern subscribed so far,
   * catch-up included (at once without a transport). Nobody has to wait for
   * it to avoid losing events (the transport's catch-up covers the setup
   * window); it tells tests and tools that remote delivery is established.
   */
  async ready(): Promise<void> {
    await Promise.all([...this.#settling]);
  }

  readonly #settling = new Set<Promise<void>>();

  #watch(patterns: string[]): void {
    if (!this.#transport) return;
    for (const p of new Set(patterns)) {
      const n = this.#watched.get(p) ?? 0;
      this.#watched.set(p, n + 1);
      // Re-subscribed before the deferred unwatch ran: the transport never stopped receiving it.
      if (this.#unwatchLater.delete(p)) continue;
      if (n > 0) continue;
      // A failed watch is retried by the transport when it reconnects; nothing to do here.
      const settling: Promise<void> = this.#transport.watch(p).then(
        () => void this.#settling.delete(settling),
        () => void this.#settling.delete(settling),
      );
      this.#settling.add(settling);
    }
  }

  #unwatch(patterns: string[]): void {
    if (!this.#transport) return;
    for (const p of new Set(patterns)) {
      const n = (this.#watched.get(p) ?? 1) - 1;
      if (n > 0) {
        this.#watched.set(p, n);
        continue;
      }
      this.#watched.delete(p);
      // Deferred a tick: a subscriber that swaps its subscription (unsubscribe, then
      // subscribe again) must not open a window in which remote events are missed.
      this.#unwatchLater.add(p);
    }
    if (this.#unwatchLater.size > 0 && !this.#unwatchTimer) {
      this.#unwatchTimer = setImmediate(() => {
        this.#unwatchTimer = undefined;
        for (const p of this.#unwatchLater) this.#transport!.unwatch(p);
        this.#unwatchLater.clear();
      });
    }
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
