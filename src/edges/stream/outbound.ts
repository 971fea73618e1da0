import type { StoredEvent } from '../../core/event.ts';
import type { Logger } from '../../log.ts';
import type { Connection, ConnectionRegistry, EndCause } from './connections.ts';
import type { FeedTarget } from './feed.ts';
import type { StreamKind, StreamMetrics } from './metrics.ts';


/** The byte pipe under one subscriber: an HTTP response or a WebSocket. */
export interface Transport {
  write(chunk: string | Buffer): void;
  /** Bytes accepted but not yet handed to the kernel. */
  buffered(): number;
  /** True while writers should wait (the socket asked for a drain). */
  congested(): boolean;
  /** Resolves on drain or close. */
  drained(): Promise<void>;
  /** Sends what is queued if it can within a short grace period, then closes for good. */
  end(cause: EndCause, reason: string): void;
  /** Called once the underlying connection is gone, whoever closed it. */
  onClose(fn: () => void): void;
  /** Called every keep-alive period; WebSockets ping here and drop peers that never pong. */
  heartbeat?(): void;
}

export interface GapNotice {
  gap: true;
  since: string;
  reason: string;
}

export interface SlowConsumerWarning {
  warning: 'slow consumer';
  reason: string;
  buffered_bytes: number;
  limit_bytes: number;
}

/** How one wire format frames messages. Control frames are optional per format. */
export interface Framing {
  event(event: StoredEvent): string | Buffer;
  gap?(notice: GapNotice): string | Buffer;
  warning?(warning: SlowConsumerWarning): string | Buffer;
  /** Written every keep-alive period, so proxies and clients can tell the stream is alive. */
  keepAlive?: string | Buffer;
}

export interface OutboundOptions {
  kind: StreamKind;
  maxBufferBytes: number;
  keepAliveMs: number;
  registry: ConnectionRegistry;
  metrics: StreamMetrics;
  log: Logger;
}

/**
 * One subscriber connection with the slow-consumer policy every streaming
 * type shares: a message is only queued while less than `maxBufferBytes` are
 * still waiting to be sent; when a message arrives and more than that is
 * queued, the consumer gets a final warning and is disconnected. So memory per
 * connection stays bounded by the limit plus one message.
 */
export class Outbound implements Connection, FeedTarget {
  readonly kind: StreamKind;
  readonly #t: Transport;
  readonly #framing: Framing;
  readonly #opts: OutboundOptions;
  readonly #timer: NodeJS.Timeout;
  readonly #cleanup: (() => void)[] = [];
  #closed = false;

  constructor(transport: Transport, framing: Framing, opts: OutboundOptions) {
    this.kind = opts.kind;
    this.#t = transport;
    this.#framing = framing;
    this.#opts = opts;
    opts.registry.add(this);
    this.#timer = setInterval(() => this.#tick(), opts.keepAliveMs);
    this.#timer.unref();
    transport.onClose(() => this.#gone());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs when the connection goes away (e.g. unsubscribe from the bus). */
  onGone(fn: () => void): void {
    if (this.#closed) fn();
    else this.#cleanup.push(fn);
  }

  deliver(event: StoredEvent): void {
    if (this.#closed) return;
    const queued = this.#t.buffered();
    if (queued > this.#opts.maxBufferBytes) return this.#overflow(queued);
    this.#t.write(this.#framing.event(event));
    this.#opts.metrics.sent.inc({ type: this.kind });
  }

  /** Writes a control frame (not an event), e.g. a protocol reply. */
  writeRaw(chunk: string | Buffer): void {
    if (this.#closed) return;
    this.#t.write(chunk);
  }

  gap(since: string): void {
    if (this.#closed || !this.#framing.gap) return;
    this.#t.write(
      this.#framing.gap({ gap: true, since, reason: `events after ${since} were dropped by backlog retention before they could be replayed` }),
    );
  }

  congested(): boolean {
    return this.#t.congested();
  }

  drained(): Promise<void> {
    return this.#closed ? Promise.resolve() : this.#t.drained();
  }

  end(reason: string, cause: EndCause = 'other'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#t.end(cause, reason);
    this.#release();
  }

  #overflow(queued: number): void {
    const limit = this.#opts.maxBufferBytes;
    const reason = `slow consumer: more than ${limit} bytes (streams.maxBufferBytes) were waiting to be sent`;
    this.#opts.metrics.slowConsumers.inc({ type: this.kind });
    this.#opts.log.warn({ type: this.kind, buffered: queued, limit }, 'disconnecting slow consumer');
    // The warning is queued behind what the client has not read yet; a client
    // that is merely slow will still see it before the connection ends.
    if (this.#framing.warning) this.#t.write(this.#framing.warning({ warning: 'slow consumer', reason, buffered_bytes: queued, limit_bytes: limit }));
    this.end(reason, 'slow_consumer');
  }

  #tick(): void {
    if (this.#closed) return;
    const queued = this.#t.buffered();
    if (queued > this.#opts.maxBufferBytes) return this.#overflow(queued);
    this.#t.heartbeat?.();
    if (this.#framing.keepAlive !== undefined) this.#t.write(this.#framing.keepAlive);
  }

  #gone(): void {
    this.#closed = true;
    this.#release();
  }

  #release(): void {
    clearInterval(this.#timer);
    const fns = this.#cleanup.splice(0);
    for (const fn of fns) fn();
    this.#opts.registry.remove(this);
  }
}
