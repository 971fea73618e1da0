import type { Config } from '../config/schema.ts';
import type { EventLog, PublishKeyStore, RetentionPolicy } from '../core/ports.ts';
import { matchTopic } from '../core/topic-pattern.ts';
import { startCheckpointer } from './sqlite/checkpointer.ts';
import { openSqlite, type SqliteDb } from './sqlite/open.ts';
import { SqliteEventLog } from './sqlite/event-log.ts';
import type { SubscriptionStore } from '../hub/ports.ts';
import { SqliteSubscriptionStore } from './sqlite/subscription-store.ts';
import type { ChannelStore, TunnelCluster } from '../edges/tunnel/ports.ts';
import { SqliteChannelStore } from './sqlite/channel-store.ts';
import type { BusTransport } from '../core/transport.ts';
import type { DeliveryStore } from '../dispatcher/ports.ts';
import { createLogger, type Logger } from '../log.ts';
import { SqliteDeliveryStore } from './sqlite/delivery-store.ts';
import { SqlitePublishKeys } from './sqlite/publish-keys.ts';
import type { QueueClientStore } from '../edges/queue/ports.ts';
import { queueRetention } from '../edges/queue/limits.ts';
import { SqliteQueueClients } from './sqlite/queue-clients.ts';
import { openRedisStores } from './redis/open.ts';
import type { BucketStore } from '../auth/rate-limit.ts';
import { RedisBucketStore } from './redis/rate-limit.ts';

/**
 * Every stateful part of Hookah, behind ports. Subsystems that need storage
 * of their own add a port here with an adapter per driver.
 */
export interface Stores {
  driver: 'sqlite' | 'redis';
  events: EventLog;
  /** WebSub hub subscriptions. */
  subscriptions: SubscriptionStore;
  /** Tunnel channels, their offline queues and gateway sessions. */
  channels: ChannelStore;
  /** Which node holds which tunnel client / gateway connection, and messages between nodes; absent on a single node. */
  tunnelCluster?: TunnelCluster;
  /**
   * The embedded database, for SQLite adapters of other subsystems. Only
   * with the sqlite driver: under redis, reading it throws an error naming
   * the missing Redis adapter, so such a subsystem fails at start-up instead
   * of keeping node-local state.
   */
  sqlite: SqliteDb;
  /** The dispatcher's durable delivery queue. */
  deliveries: DeliveryStore;
  /** Idempotency keys of topic publishes (`/dispatch?_topic=…` with an idempotency key). */
  publishKeys: PublishKeyStore;
  /** Cross-node fan-out for the topic bus; absent on a single node (sqlite). */
  transport?: BusTransport;
  /** Webhook-queue clients and read cursors (the messages are topic q/<name>). */
  queueClients: QueueClientStore;
  /** Rate-limit buckets shared by every node; absent on a single node (sqlite: the authorizer keeps them in memory). */
  rateLimits?: BucketStore;
  close(): Promise<void>;
}

export function retentionFor(config: Config): (topic: string) => RetentionPolicy {
  const base: RetentionPolicy = { maxCount: config.backlog.maxCount, maxBytes: config.backlog.maxBytes, maxAgeMs: config.backlog.maxAge };
  return (topic) => {
    const queue = queueRetention(config, topic);
    if (queue) return queue;
    const rule = config.backlog.topics.find((t) => matchTopic(t.pattern, topic));
    if (!rule) return base;
    return {
      maxCount: rule.maxCount ?? base.maxCount,
      maxBytes: rule.maxBytes ?? base.maxBytes,
      maxAgeMs: rule.maxAge ?? base.maxAgeMs,
    };
  };
}

export async function openStores(config: Config, log: Logger = createLogger(config.log.level)): Promise<Stores> {
  if (config.storage.driver === 'redis') {
    const r = await openRedisStores(config, retentionFor(config), log);
    return {
      driver: 'redis',
      get sqlite(): SqliteDb {
        // Name the caller: that is the subsystem still missing its Redis adapter.
        const caller = new Error().stack?.split('\n').find((l) => /\/src\//.test(l) && !/\/src\/store\//.test(l))?.trim();
        throw new Error(
          `a subsystem that only has an SQLite adapter was started with storage.driver redis${caller ? ` (${caller})` : ''}; it needs a Redis adapter (see docs/scale-out.md)`,
        );
      },
      events: r.events,
      deliveries: r.deliveries,
      subscriptions: r.subscriptions,
      publishKeys: r.publishKeys,
      channels: r.channels,
      tunnelCluster: r.tunnelCluster,
      queueClients: r.queueClients,
      rateLimits: new RedisBucketStore(r.redis, r.keys.prefix),
      transport: r.transport,
      close: () => r.close(),
    };
  }
  const db = openSqlite(config.storage.path, config.storage.durability);
  const checkpointer =
    config.storage.path === ':memory:'
      ? undefined
      : startCheckpointer(db, config.storage.path, (err) =>
          log.error({ module: 'storage', err }, 'the WAL checkpoint thread stopped; checkpoints run on the main thread again'),
        );
  return {
    driver: 'sqlite',
    sqlite: db,
    deliveries: new SqliteDeliveryStore(db),
    publishKeys: new SqlitePublishKeys(db),
    events: new SqliteEventLog(db, retentionFor(config)),
    subscriptions: new SqliteSubscriptionStore(db),
    channels: new SqliteChannelStore(db),
    queueClients: new SqliteQueueClients(db),
    async close() {
      await checkpointer?.stop();
      db.close();
    },
  };
}
