import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../../config/schema.ts';
import type { RetentionPolicy } from '../../core/ports.ts';
import type { Logger } from '../../log.ts';
import { RedisChannelStore } from './channel-store.ts';
import { closeRedis, connectRedis, redactUrl, type RedisClient } from './connection.ts';
import { RedisDeliveryStore } from './delivery-store.ts';
import { RedisEventLog } from './event-log.ts';
import { RedisKeys } from './keys.ts';
import { RedisPublishKeys } from './publish-keys.ts';
import { RedisQueueClients } from './queue-clients.ts';
import { RedisSubscriptionStore } from './subscription-store.ts';
import { RedisTransport } from './transport.ts';
import { RedisTunnelCluster } from './tunnel-cluster.ts';

export interface RedisStores {
  redis: RedisClient;
  keys: RedisKeys;
  events: RedisEventLog;
  deliveries: RedisDeliveryStore;
  subscriptions: RedisSubscriptionStore;
  publishKeys: RedisPublishKeys;
  queueClients: RedisQueueClients;
  transport: RedisTransport;
  channels: RedisChannelStore;
  tunnelCluster: RedisTunnelCluster;
  close(): Promise<void>;
}

/**
 * Opens the shared Redis behind every Redis adapter: one command connection
 * (adapters pipeline over it) and one subscriber connection for the bus
 * transport. Waits for Redis to answer, so nodes may start before it.
 */
export async function openRedisStores(
  config: Config,
  retention: (topic: string) => RetentionPolicy,
  log: Logger,
): Promise<RedisStores> {
  const url = config.storage.redisUrl;
  if (!url) throw new Error('storage.driver is redis but storage.redisUrl is not set (use --store redis://host:6379)');
  const node = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const rlog = log.child({ module: 'redis' });
  const redis = await connectRedis({ url, log: rlog, name: `hookah:${node}:cmd`, role: 'command' }, config.storage.redisConnectTimeout);
  let subscriber: RedisClient | undefined;
  let tunnelSubscriber: RedisClient | undefined;
  try {
    const keys = new RedisKeys(config.storage.redisPrefix);
    const events = new RedisEventLog(redis, keys, retention);
    subscriber = await connectRedis({ url, log: rlog, name: `hookah:${node}:sub`, role: 'subscriber' }, config.storage.redisConnectTimeout);
    const transport = new RedisTransport({ subscriber, command: redis, log: events, keys, logger: rlog.child({ component: 'transport' }) });
    await transport.start();
    tunnelSubscriber = await connectRedis({ url, log: rlog, name: `hookah:${node}:tunnel`, role: 'subscriber' }, config.storage.redisConnectTimeout);
    const tunnelCluster = new RedisTunnelCluster({ redis, subscriber: tunnelSubscriber, prefix: keys.prefix, node, log: rlog.child({ component: 'tunnel-cluster' }) });
    await tunnelCluster.start();
    rlog.info({ url: redactUrl(url), prefix: keys.prefix, node }, 'connected to redis');
    return {
      redis,
      keys,
      events,
      deliveries: new RedisDeliveryStore(redis, keys),
      subscriptions: new RedisSubscriptionStore(redis, keys.prefix),
      publishKeys: new RedisPublishKeys(redis, keys.prefix, rlog),
      queueClients: new RedisQueueClients(redis, keys.prefix),
      transport,
      channels: new RedisChannelStore(redis, keys.prefix),
      tunnelCluster,
      async close() {
        await tunnelCluster.close();
        await transport.close();
        await closeRedis(redis);
      },
    };
  } catch (err) {
    if (tunnelSubscriber) await closeRedis(tunnelSubscriber);
    if (subscriber) await closeRedis(subscriber);
    await closeRedis(redis);
    throw err;
  }
}
