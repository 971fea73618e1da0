import type { Config } from '../../config/schema.ts';
import type { RetentionPolicy } from '../../core/ports.ts';
import { QUEUE_TOPIC_PREFIX, queueTopic } from '../../auth/permissions.ts';
import type { QueueConfig } from './config-schema.ts';

export { queueTopic };

export interface QueueLimits {
  maxMessageCount: number;
  maxMessageSize: number;
  maxQueueSize: number;
  maxAgeMs: number;
}

export function findQueue(config: Config, name: string): QueueConfig | undefined {
  return config.queues?.list.find((q) => q.name === name);
}

/** A queue's own limits where it sets them, else the global `queues.*` ones. */
export function queueLimits(config: Config, queue: QueueConfig): QueueLimits {
  const g = config.queues;
  return {
    maxMessageCount: queue.maxMessageCount ?? g.maxMessageCount,
    maxMessageSize: queue.maxMessageSize ?? g.maxMessageSize,
    maxQueueSize: queue.maxQueueSize ?? g.maxQueueSize,
    maxAgeMs: queue.maxAge ?? g.maxAge ?? config.backlog.maxAge,
  };
}

/**
 * Backlog retention of a configured queue's topic: the store trims it by the
 * queue's count and size limits, which is how messages roll off the front.
 * Read on every append, so a reload's new limits apply to the next message.
 */
export function queueRetention(config: Config, topic: string): RetentionPolicy | undefined {
  if (!topic.startsWith(QUEUE_TOPIC_PREFIX)) return undefined;
  const queue = findQueue(config, topic.slice(QUEUE_TOPIC_PREFIX.length));
  if (!queue) return undefined;
  const l = queueLimits(config, queue);
  return { maxCount: l.maxMessageCount, maxBytes: l.maxQueueSize, maxAgeMs: l.maxAgeMs };
}
