/**
 * Group commit: work items submitted in the same turn of the event loop run
 * in one SQLite transaction, and each caller's promise settles after that
 * transaction commits. A commit is the expensive part of a small write, so
 * under load this turns N commits into one without delaying a lone writer.
 */
export class GroupCommit<I, O> {
  #pending: Array<{ item: I; resolve: (o: O) => void; reject: (e: unknown) => void }> = [];
  #scheduled = false;

  constructor(
    private readonly runInTransaction: (fn: () => void) => void,
    private readonly apply: (item: I) => O,
    private readonly maxBatch = 500,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#pending.length >= this.maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    const results: O[] = [];
    try {
      this.runInTransaction(() => {
        for (const { item } of batch) results.push(this.apply(item));
      });
    } catch {
      // One bad item must not fail the others: retry each in its own transaction.
      for (const entry of batch) {
        try {
          let out!: O;
          this.runInTransaction(() => (out = this.apply(entry.item)));
          entry.resolve(out);
        } catch (err) {
          entry.reject(err);
        }
      }
      return;
    }
    batch.forEach((entry, i) => entry.resolve(results[i]!));
  }
}
