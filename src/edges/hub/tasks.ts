import PQueue from 'p-queue';

/**
 * The hub's background work (verifications, denial notices, topic fetches):
 * bounded in concurrency and in how much may wait, and serialised per key so
 * that a subscribe followed by an unsubscribe of the same callback is
 * verified, and takes effect, in the order it arrived.
 */
export class HubTasks {
  readonly #queue: PQueue;
  readonly #chains = new Map<string, Promise<unknown>>();
  readonly #maxPending: number;
  readonly #abort = new AbortController();
  #pending = 0;

  constructor(concurrency: number, maxPending: number) {
    this.#queue = new PQueue({ concurrency });
    this.#maxPending = maxPending;
  }

  /** Aborted on close: jobs stop their I/O and must not write anything after it. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get pending(): number {
    return this.#pending;
  }

  /**
   * Runs `job` after every earlier job of the same key. Returns undefined
   * (and runs nothing) when too much is waiting already or the hub is closing.
   */
  submit<T>(key: string, job: (signal: AbortSignal) => Promise<T>): Promise<T> | undefined {
    if (this.#abort.signal.aborted || this.#pending >= this.#maxPending) return undefined;
    this.#pending++;
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const run = previous
      .catch(() => {})
      .then(() => this.#queue.add(() => job(this.#abort.signal)))
      .finally(() => {
        this.#pending--;
        if (this.#chains.get(key) === run) this.#chains.delete(key);
      });
    this.#chains.set(key, run);
    return run as Promise<T>;
  }

  /** Aborts running jobs and waits (bounded) for every job to notice. */
  async close(timeoutMs: number): Promise<void> {
    this.#abort.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#chains.values()]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }
}
