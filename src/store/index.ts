import type { Config } from '../config/schema.ts';
import type { EventLog, RetentionPolicy } from '../core/ports.ts';
import { matchTopic } from '../core/topic-pattern.ts';
import { openSqlite, type SqliteDb } from './sqlite/open.ts';
import { SqliteEventLog } from './sqlite/event-log.ts';

/**
 * Every stateful part of Hookah, behind ports. Subsystems that need storage
 * of their own add a port here with an adapter per driver.
 */
export interface Stores {
  driver: 'sqlite' | 'redis';
  events: EventLog;
  /** The embedded database, for SQLite adapters of other subsystems. */
  sqlite: SqliteDb;
  close(): Promise<void>;
}

export function retentionFor(config: Config): (topic: string) => RetentionPolicy {
  const base: RetentionPolicy = { maxCount: config.backlog.maxCount, maxBytes: config.backlog.maxBytes, maxAgeMs: config.backlog.maxAge };
  return (topic) => {
    const rule = config.backlog.topics.find((t) => matchTopic(t.pattern, topic));
    if (!rule) return base;
    return {
      maxCount: rule.maxCount ?? base.maxCount,
      maxBytes: rule.maxBytes ?? base.maxBytes,
      maxAgeMs: rule.maxAge ?? base.maxAgeMs,
    };
  };
}

export async function openStores(config: Config): Promise<Stores> {
  if (config.storage.driver === 'redis') {
    throw new Error('the redis storage driver is not available in this build yet; use the embedded sqlite driver');
  }
  const db = openSqlite(config.storage.path, config.storage.durability);
  return {
    driver: 'sqlite',
    sqlite: db,
    events: new SqliteEventLog(db, retentionFor(config)),
    async close() {
      db.close();
    },
  };
}
