import { createHash } from 'node:crypto';
import type { TopicBus } from '../../core/bus.ts';
import type { SubscriptionStore, TopicFetchState } from '../../hub/ports.ts';
import type { Logger } from '../../log.ts';
import type { HubHttp } from './http-client.ts';
import type { HubMetrics } from './metrics.ts';
import type { HubTasks } from './tasks.ts';

export interface FetcherDeps {
  store: SubscriptionStore;
  bus: TopicBus;
  http: HubHttp;
  tasks: HubTasks;
  metrics: HubMetrics;
  log: Logger;
  timeoutMs: number;
  maxBytes: number;
}

export type FetchOutcome = 'changed' | 'unchanged' | 'not_modified' | 'no_subscribers' | 'error';

/**
 * Thin pings: the publisher says a topic URL changed, the hub fetches it and
 * publishes the content on the topic bus (source `hub`), where the
 * distributor picks it up like any other event. Fetches are conditional
 * (ETag / Last-Modified remembered per topic) and content that hashes the
 * same as last time is not distributed again.
 */
export class TopicFetcher {
  readonly #d: FetcherDeps;
  /** Topics with a fetch queued but not started: further pings join it. */
  readonly #queued = new Set<string>();

  constructor(deps: FetcherDeps) {
    this.#d = deps;
  }

  /** False when the hub has too much work waiting. */
  request(topic: string): boolean {
    if (this.#queued.has(topic)) return true;
    const run = this.#d.tasks.submit(`fetch\n${topic}`, async (signal) => {
      this.#queued.delete(topic);
      return this.fetchOnce(topic, signal);
    });
    if (!run) return false;
    this.#queued.add(topic);
    run.catch((err: Error) => this.#d.log.error({ err, topic }, 'topic fetch failed'));
    return true;
  }

  async fetchOnce(topic: string, signal: AbortSignal): Promise<FetchOutcome> {
    const outcome = await this.#fetch(topic, signal);
    this.#d.metrics.fetches.inc({ outcome });
    return outcome;
  }

  async #fetch(topic: string, signal: AbortSignal): Promise<FetchOutcome> {
    const { store, http, log } = this.#d;
    if (signal.aborted) return 'error';
    if (!(await store.hasActive(topic, Date.now()))) return 'no_subscribers';
    const previous = await store.getFetchState(topic);
    const headers: Record<string, string> = { accept: '*/*' };
    if (previous?.etag) headers['if-none-match'] = previous.etag;
    if (previous?.lastModified) headers['if-modified-since'] = previous.lastModified;

    let res;
    try {
      res = await http.get(topic, { headers, timeoutMs: this.#d.timeoutMs, maxBytes: this.#d.maxBytes });
    } catch (err) {
      log.warn({ topic, err: (err as Error).message }, 'could not fetch topic');
      return 'error';
    }
    if (res.status === 304) return 'not_modified';
    if (res.status < 200 || res.status > 299 || res.status === 204) {
      log.warn({ topic, status: res.status }, 'topic fetch did not return content; nothing distributed');
      return 'error';
    }
    if (res.truncated) {
      log.warn({ topic, limit: this.#d.maxBytes }, 'topic content exceeds hub.maxFetchBytes; nothing distributed');
      return 'error';
    }
    if (signal.aborted) return 'error';

    const contentType = res.headers['content-type'] ?? '';
    const contentHash = createHash('sha256').update(contentType).update('\n').update(res.body).digest('hex');
    const state: TopicFetchState = { contentHash, fetchedAt: Date.now() };
    if (res.headers.etag) state.etag = res.headers.etag;
    if (res.headers['last-modified']) state.lastModified = res.headers['last-modified'];
    const changed = previous?.contentHash !== contentHash;
    if (changed) await this.#d.bus.publish({ topic, headers: {}, contentType, body: res.body, source: 'hub' });
    await store.setFetchState(topic, state);
    return changed ? 'changed' : 'unchanged';
  }
}
