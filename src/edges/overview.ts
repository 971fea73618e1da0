import type { TopicInfo } from '../core/ports.ts';
import type { Runtime } from '../runtime.ts';
import type { OverviewJson, OverviewTopicJson } from '../openapi/schemas.ts';
import { VERSION } from '../version.ts';
import { TopicRates } from './topic-rates.ts';

export const DEFAULT_OVERVIEW_TOPICS = 200;
export const MAX_OVERVIEW_TOPICS = 2000;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The dashboard's summary, gathered from the core only: the bus (subscribers,
 * publish rates), the backlog, the dispatcher, the hub's subscription store,
 * the tunnel's channel store and gauges other subsystems registered. It also
 * registers the bus and backlog gauges, which no edge owns.
 */
export class Overview {
  readonly #rt: Runtime;
  readonly #rates = new TopicRates();
  readonly #startedAt = Date.now();

  constructor(rt: Runtime) {
    this.#rt = rt;
    rt.bus.onPublished((event) => this.#rates.record(event.topic));
    const m = rt.metrics;
    m.gauge('hookah_build_info', 'Always 1; the labels say which version runs on which storage', ['version', 'storage']).set(
      { version: VERSION, storage: rt.stores.driver },
      1,
    );
    m.gauge('hookah_bus_subscribers', 'Live subscribers on the topic bus of this node, by kind', ['kind'], function () {
      this.reset();
      for (const [kind, n] of Object.entries(rt.bus.subscriberCounts())) this.set({ kind }, n);
    });
    // One backlog scan per scrape feeds all three gauges.
    let scan: Promise<TopicInfo[]> | undefined;
    const topics = () =>
      (scan ??= rt.stores.events.topics().finally(() => setImmediate(() => (scan = undefined))));
    m.gauge('hookah_backlog_topics', 'Topics with messages in the backlog', [], async function () {
      this.set((await topics()).length);
    });
    m.gauge('hookah_backlog_messages', 'Messages held in the backlog, all topics', [], async function () {
      this.set((await topics()).reduce((n, t) => n + t.count, 0));
    });
    m.gauge('hookah_backlog_bytes', 'Body bytes held in the backlog, all topics', [], async function () {
      this.set((await topics()).reduce((n, t) => n + t.bytes, 0));
    });
  }

  /** Topics most recently active first, at most `limit` of them. */
  async snapshot(limit = DEFAULT_OVERVIEW_TOPICS): Promise<OverviewJson> {
    const rt = this.#rt;
    const now = Date.now();
    const [stats, backlog, websubTopics, websubActive, channels, tunnelClients, gatewayConnections] = await Promise.all([
      rt.dispatcher.stats(),
      rt.stores.events.topics(),
      optional(() => rt.stores.subscriptions.topicCounts(now, MAX_OVERVIEW_TOPICS)),
      optional(() => rt.stores.subscriptions.countActive(now)),
      optional(() => rt.stores.channels.count()),
      this.#gaugeValue('hookah_tunnel_clients'),
      this.#gaugeValue('hookah_gateway_connections'),
    ]);

    const websubByTopic = new Map((websubTopics ?? []).map((t) => [t.topic, t.active]));
    const rows = new Map<string, OverviewTopicJson>();
    const row = (info: Partial<TopicInfo> & { topic: string }): OverviewTopicJson => {
      const rate = this.#rates.get(info.topic, now);
      const subscribers = rt.bus.subscriberCounts(info.topic);
      const websub = websubByTopic.get(info.topic);
      if (websub) subscribers.websub = websub;
      return {
        topic: info.topic,
        count: info.count ?? 0,
        bytes: info.bytes ?? 0,
        last_id: info.lastId ?? null,
        last_at: info.lastAt === undefined ? null : iso(info.lastAt),
        published: rate.total,
        rate_1m: rate.perSecond1m,
        rate_5m: rate.perSecond5m,
        subscribers,
      };
    };
    for (const t of backlog) rows.set(t.topic, row(t));
    // WebSub topics that have had no message yet still have subscribers worth showing.
    for (const topic of websubByTopic.keys()) if (!rows.has(topic)) rows.set(topic, row({ topic }));

    const sorted = [...rows.values()].sort(
      (a, b) => b.rate_5m - a.rate_5m || (b.last_at ?? '').localeCompare(a.last_at ?? '') || a.topic.localeCompare(b.topic),
    );

    const subscribers = rt.bus.subscriberCounts();
    if (websubActive) subscribers.websub = websubActive;

    return {
      generated_at: iso(now),
      server: {
        version: VERSION,
        storage: rt.stores.driver,
        started_at: iso(this.#startedAt),
        uptime_seconds: Math.floor((now - this.#startedAt) / 1000),
        auth_enabled: rt.auth.enabled,
        public_url: rt.publicUrl(),
      },
      deliveries: { pending: stats.pending, in_flight: stats.inFlight, delivered: stats.delivered, failed: stats.failed },
      subscribers,
      websub: { active_subscriptions: websubActive ?? null },
      tunnel: { channels: channels ?? null, clients: tunnelClients, gateway_connections: gatewayConnections },
      topics: sorted.slice(0, limit),
      topics_total: sorted.length,
      topics_truncated: sorted.length > limit,
    };
  }

  /**
   * A gauge another subsystem registered (tunnel clients live in the tunnel
   * edge, which the overview may not reach): read through the shared
   * registry, null when that subsystem is not running.
   */
  async #gaugeValue(name: string): Promise<number | null> {
    const metric = this.#rt.metrics.registry.getSingleMetric(name);
    if (!metric) return null;
    const { values } = await metric.get();
    if (values.length === 0) return 0;
    return values.reduce((n, v) => n + v.value, 0);
  }
}

/** A store without an adapter for the current driver throws; the overview shows "unknown" instead of failing. */
async function optional<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch {
    return undefined;
  }
}
