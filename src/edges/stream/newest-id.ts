import type { TopicBus } from '../../core/bus.ts';

/**
 * The newest event id the bus has seen, kept in memory so that a poll that is
 * already up to date (the common case) waits without querying the store.
 */
export class NewestId {
  readonly #bus: TopicBus;
  #id: string | undefined;
  #known = false;

  constructor(bus: TopicBus) {
    this.#bus = bus;
    bus.onPublished((event) => {
      if (this.#id === undefined || bus.log.compareIds(event.id, this.#id) > 0) this.#id = event.id;
      this.#known = true;
    });
  }

  async get(): Promise<string | undefined> {
    // Other nodes publish to the same log; only the log knows the newest id.
    if (this.#bus.clustered) return this.#bus.log.lastId();
    if (!this.#known) {
      const id = await this.#bus.log.lastId();
      // A publish may have landed while the store answered; it is newer.
      if (!this.#known) {
        this.#id = id;
        this.#known = true;
      }
    }
    return this.#id;
  }

  /**
   * Where a resume should really start. An id newer than anything stored (the
   * store was reset, or the id came from another server) would otherwise hide
   * every new message whose id is lower; such a reader starts from now instead.
   */
  async resumeFrom(afterId: string | undefined): Promise<string | undefined> {
    return this.clamp(afterId, await this.get());
  }

  /** `resumeFrom` against a newest id the caller already read (so both come from one moment). */
  clamp(afterId: string | undefined, newest: string | undefined): string | undefined {
    if (afterId === undefined || newest === undefined) return undefined;
    return this.#bus.log.compareIds(afterId, newest) > 0 ? newest : afterId;
  }

}
