import { HttpError } from '../../http/errors.ts';
import { STREAM_KINDS, type StreamKind, type StreamMetrics } from './metrics.ts';

/** Why the server ends a connection; transports map it to a close code or final message. */
export type EndCause = 'slow_consumer' | 'shutdown' | 'dead' | 'other';

/** Anything long-lived the streams edge must be able to end on shutdown. */
export interface Connection {
  readonly kind: StreamKind;
  /** Ends the connection; idempotent. Must eventually call `registry.remove`. */
  end(reason: string, cause?: EndCause): void;
}

/**
 * Every open streaming connection, so there is one place that enforces
 * `streams.maxConnections` and one place that ends them all on shutdown.
 */
export class ConnectionRegistry {
  readonly #all = new Set<Connection>();
  readonly #max: number;
  readonly #idle = new Set<() => void>();
  #closing = false;
  metrics?: StreamMetrics;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#all.size;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Throws a 503 HttpError when the server is full or shutting down. */
  check(): void {
    if (this.#closing) {
      this.metrics?.rejected.inc({ reason: 'shutting_down' });
      throw new HttpError(503, 'server is shutting down', { 'retry-after': '5' });
    }
    if (this.#all.size >= this.#max) {
      this.metrics?.rejected.inc({ reason: 'max_connections' });
      throw new HttpError(503, `too many streaming connections (streams.maxConnections is ${this.#max})`, { 'retry-after': '5' });
    }
  }

  add(conn: Connection): void {
    this.check();
    this.#all.add(conn);
  }

  remove(conn: Connection): void {
    if (!this.#all.delete(conn)) return;
    if (this.#all.size === 0) for (const fn of [...this.#idle]) fn();
  }

  counts(): Record<StreamKind, number> {
    const counts = Object.fromEntries(STREAM_KINDS.map((k) => [k, 0])) as Record<StreamKind, number>;
    for (const conn of this.#all) counts[conn.kind]++;
    return counts;
  }

  /** Ends every connection and refuses new ones; resolves when all are gone or after `timeoutMs`. */
  async closeAll(reason: string, timeoutMs: number): Promise<void> {
    this.#closing = true;
    for (const conn of [...this.#all]) conn.end(reason, 'shutdown');
    if (this.#all.size === 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#idle.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      this.#idle.add(done);
    });
  }
}
