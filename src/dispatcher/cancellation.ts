/**
 * One shutdown signal for many in-flight attempts. An AbortSignal would do,
 * but adding and removing an EventTarget listener per attempt costs more than
 * the rest of the attempt's bookkeeping; a Set of callbacks does not.
 */
export class Cancellation {
  readonly #listeners = new Set<() => void>();
  #cancelled = false;

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Calls `fn` on cancel (at once if already cancelled); returns the way to stop listening. */
  onCancel(fn: () => void): () => void {
    if (this.#cancelled) {
      fn();
      return () => undefined;
    }
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    for (const fn of this.#listeners) fn();
    this.#listeners.clear();
  }
}
