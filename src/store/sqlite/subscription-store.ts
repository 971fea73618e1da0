import { randomBytes } from 'node:crypto';
import type {
  HubSubscription,
  NewHubSubscription,
  SubscriptionStore,
  TopicFetchState,
  TopicSubscriptionCount,
} from '../../hub/ports.ts';
import type { SqliteDb } from './open.ts';

interface SubscriptionRow {
  id: string;
  topic: string;
  callback: string;
  secret: string | null;
  lease_seconds: number;
  created_at: number;
  verified_at: number;
  expires_at: number;
}

interface FetchRow {
  etag: string | null;
  last_modified: string | null;
  content_hash: string | null;
  fetched_at: number;
}

function toSubscription(row: SubscriptionRow): HubSubscription {
  const sub: HubSubscription = {
    id: row.id,
    topic: row.topic,
    callback: row.callback,
    leaseSeconds: row.lease_seconds,
    createdAt: row.created_at,
    verifiedAt: row.verified_at,
    expiresAt: row.expires_at,
  };
  if (row.secret !== null) sub.secret = row.secret;
  return sub;
}

/**
 * WebSub subscriptions in the embedded database, so they survive restarts.
 * The (topic, expires_at) index serves the hot path: finding the live
 * subscribers of a topic on every publish.
 */
export class SqliteSubscriptionStore implements SubscriptionStore {
  readonly #db: SqliteDb;
  readonly #upsert;
  readonly #byKey;
  readonly #byId;
  readonly #active;
  readonly #activeAfter;
  readonly #hasActive;

  constructor(db: SqliteDb) {
    this.#db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS websub_subscriptions (
        id TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        callback TEXT NOT NULL,
        secret TEXT,
        lease_seconds INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        verified_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        UNIQUE (topic, callback)
      );
      CREATE INDEX IF NOT EXISTS websub_subscriptions_topic_expiry ON websub_subscriptions (topic, expires_at);
      CREATE INDEX IF NOT EXISTS websub_subscriptions_expiry ON websub_subscriptions (expires_at);
      CREATE TABLE IF NOT EXISTS websub_topics (
        topic TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        content_hash TEXT,
        fetched_at INTEGER NOT NULL
      );
    `);
    this.#upsert = db.prepare<[Record<string, unknown>], SubscriptionRow>(
      `INSERT INTO websub_subscriptions (id, topic, callback, secret, lease_seconds, created_at, verified_at, expires_at)
       VALUES (@id, @topic, @callback, @secret, @lease_seconds, @now, @now, @expires_at)
       ON CONFLICT (topic, callback) DO UPDATE SET
         secret = excluded.secret, lease_seconds = excluded.lease_seconds,
         verified_at = excluded.verified_at, expires_at = excluded.expires_at
       RETURNING *`,
    );
    this.#byKey = db.prepare<[string, string], SubscriptionRow>(`SELECT * FROM websub_subscriptions WHERE topic = ? AND callback = ?`);
    this.#byId = db.prepare<[string], SubscriptionRow>(`SELECT * FROM websub_subscriptions WHERE id = ?`);
    this.#active = db.prepare<[string, number, number], SubscriptionRow>(
      `SELECT * FROM websub_subscriptions WHERE topic = ? AND expires_at > ? ORDER BY id LIMIT ?`,
    );
    this.#activeAfter = db.prepare<[string, number, string, number], SubscriptionRow>(
      `SELECT * FROM websub_subscriptions WHERE topic = ? AND expires_at > ? AND id > ? ORDER BY id LIMIT ?`,
    );
    this.#hasActive = db.prepare<[string, number], { one: number }>(
      `SELECT 1 AS one FROM websub_subscriptions WHERE topic = ? AND expires_at > ? LIMIT 1`,
    );
  }

  async upsert(input: NewHubSubscription, now = Date.now()): Promise<HubSubscription> {
    const row = this.#upsert.get({
      id: `sub_${randomBytes(12).toString('hex')}`,
      topic: input.topic,
      callback: input.callback,
      secret: input.secret ?? null,
      lease_seconds: input.leaseSeconds,
      now,
      expires_at: now + input.leaseSeconds * 1000,
    });
    return toSubscription(row!);
  }

  async get(topic: string, callback: string): Promise<HubSubscription | undefined> {
    const row = this.#byKey.get(topic, callback);
    return row ? toSubscription(row) : undefined;
  }

  async getById(id: string): Promise<HubSubscription | undefined> {
    const row = this.#byId.get(id);
    return row ? toSubscription(row) : undefined;
  }

  async remove(topic: string, callback: string): Promise<boolean> {
    return this.#db.prepare(`DELETE FROM websub_subscriptions WHERE topic = ? AND callback = ?`).run(topic, callback).changes > 0;
  }

  async removeById(id: string): Promise<boolean> {
    return this.#db.prepare(`DELETE FROM websub_subscriptions WHERE id = ?`).run(id).changes > 0;
  }

  async active(topic: string, now: number, limit: number, afterId?: string): Promise<HubSubscription[]> {
    const rows = afterId === undefined ? this.#active.all(topic, now, limit) : this.#activeAfter.all(topic, now, afterId, limit);
    return rows.map(toSubscription);
  }

  async hasActive(topic: string, now: number): Promise<boolean> {
    return this.#hasActive.get(topic, now) !== undefined;
  }

  async list(filter: { topic?: string; limit: number; afterId?: string }): Promise<HubSubscription[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.topic !== undefined) (where.push('topic = ?'), args.push(filter.topic));
    if (filter.afterId !== undefined) (where.push('id > ?'), args.push(filter.afterId));
    const sql = `SELECT * FROM websub_subscriptions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
    return this.#db
      .prepare<unknown[], SubscriptionRow>(sql)
      .all(...args, filter.limit)
      .map(toSubscription);
  }

  async topicCounts(now: number, limit: number): Promise<TopicSubscriptionCount[]> {
    return this.#db
      .prepare<[number, number, number], TopicSubscriptionCount>(
        `SELECT topic, sum(expires_at > ?) AS active, sum(expires_at <= ?) AS expired
         FROM websub_subscriptions GROUP BY topic ORDER BY topic LIMIT ?`,
      )
      .all(now, now, limit);
  }

  async countActive(now: number): Promise<number> {
    const row = this.#db.prepare<[number], { n: number }>(`SELECT count(*) AS n FROM websub_subscriptions WHERE expires_at > ?`).get(now);
    return row?.n ?? 0;
  }

  async sweepExpired(now: number): Promise<number> {
    const removed = this.#db.prepare(`DELETE FROM websub_subscriptions WHERE expires_at <= ?`).run(now).changes;
    // Fetch state is only worth keeping while someone can receive the topic.
    this.#db.prepare(`DELETE FROM websub_topics WHERE topic NOT IN (SELECT topic FROM websub_subscriptions)`).run();
    return removed;
  }

  async getFetchState(topic: string): Promise<TopicFetchState | undefined> {
    const row = this.#db.prepare<[string], FetchRow>(`SELECT * FROM websub_topics WHERE topic = ?`).get(topic);
    if (!row) return undefined;
    const state: TopicFetchState = { fetchedAt: row.fetched_at };
    if (row.etag !== null) state.etag = row.etag;
    if (row.last_modified !== null) state.lastModified = row.last_modified;
    if (row.content_hash !== null) state.contentHash = row.content_hash;
    return state;
  }

  async setFetchState(topic: string, state: TopicFetchState): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO websub_topics (topic, etag, last_modified, content_hash, fetched_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (topic) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
           content_hash = excluded.content_hash, fetched_at = excluded.fetched_at`,
      )
      .run(topic, state.etag ?? null, state.lastModified ?? null, state.contentHash ?? null, state.fetchedAt);
  }
}
