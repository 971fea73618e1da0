import type Database from 'better-sqlite3';
import type { NewEvent, StoredEvent } from '../../core/event.ts';
import type { EventLog, ReadQuery, ReadResult, RetentionPolicy, TopicInfo } from '../../core/ports.ts';
import { isPattern, matchTopic } from '../../core/topic-pattern.ts';
import type { SqliteDb } from './open.ts';

interface EventRow {
  id: number;
  topic: string;
  received_at: number;
  source: string;
  type: string | null;
  content_type: string;
  headers: string;
  body: Buffer;
}

interface TopicRow {
  topic: string;
  count: number;
  bytes: number;
  last_id: number | null;
  last_at: number | null;
  trimmed_through: number;
}

export type RetentionResolver = (topic: string) => RetentionPolicy;

function toEvent(row: EventRow): StoredEvent {
  const event: StoredEvent = {
    id: String(row.id),
    topic: row.topic,
    receivedAt: row.received_at,
    source: row.source,
    contentType: row.content_type,
    headers: JSON.parse(row.headers) as Record<string, string>,
    body: row.body,
  };
  if (row.type) event.type = row.type;
  return event;
}

/**
 * Backlog in one table with a global integer id, so "after id N" is a single
 * range scan across any set of topics. A per-topic row tracks size for
 * retention and the highest id retention dropped, which is how a resuming
 * reader learns it has a gap.
 */
export class SqliteEventLog implements EventLog {
  readonly #db: SqliteDb;
  readonly #retention: RetentionResolver;
  readonly #insert;
  readonly #upsertTopic;
  readonly #topic;
  readonly #oldestOfTopic;
  readonly #deleteOne;
  readonly #appendTx;
  /** Prepared once per number of exact topics a read names. */
  readonly #readByTopics = new Map<number, Database.Statement<unknown[], EventRow>>();
  readonly #readPage;
  readonly #trimmedSince;
  readonly #dropped;

  constructor(db: SqliteDb, retention: RetentionResolver) {
    this.#db = db;
    this.#retention = retention;
    db.exec(`
      CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        source TEXT NOT NULL,
        type TEXT,
        content_type TEXT NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL
      );
      CREATE INDEX IF NOT EXISTS events_topic_id ON events (topic, id);
      CREATE TABLE IF NOT EXISTS topics (
        topic TEXT PRIMARY KEY,
        count INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        last_id INTEGER,
        last_at INTEGER,
        trimmed_through INTEGER NOT NULL DEFAULT 0
      );
    `);
    this.#insert = db.prepare(
      `INSERT INTO events (topic, received_at, source, type, content_type, headers, body)
       VALUES (@topic, @received_at, @source, @type, @content_type, @headers, @body)`,
    );
    this.#upsertTopic = db.prepare(
      `INSERT INTO topics (topic, count, bytes, last_id, last_at) VALUES (@topic, 1, @bytes, @id, @at)
       ON CONFLICT (topic) DO UPDATE SET count = count + 1, bytes = bytes + @bytes, last_id = @id, last_at = @at`,
    );
    this.#topic = db.prepare<[string], TopicRow>(`SELECT * FROM topics WHERE topic = ?`);
    this.#oldestOfTopic = db.prepare<[string], { id: number; size: number; received_at: number }>(
      `SELECT id, length(body) AS size, received_at FROM events WHERE topic = ? ORDER BY id LIMIT 1`,
    );
    this.#dropped = db.prepare(
      `UPDATE topics SET count = count - 1, bytes = bytes - ?, trimmed_through = max(trimmed_through, ?) WHERE topic = ?`,
    );
    this.#deleteOne = db.prepare(`DELETE FROM events WHERE id = ?`);
    this.#readPage = db.prepare<[number, number], EventRow>(`SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?`);
    this.#trimmedSince = db.prepare<[number], { topic: string }>(`SELECT topic FROM topics WHERE trimmed_through > ?`);
    this.#appendTx = db.transaction((event: NewEvent, at: number): number => {
      const info = this.#insert.run({
        topic: event.topic,
        received_at: at,
        source: event.source,
        type: event.type ?? null,
        content_type: event.contentType,
        headers: JSON.stringify(event.headers),
        body: event.body,
      });
      const id = Number(info.lastInsertRowid);
      this.#upsertTopic.run({ topic: event.topic, bytes: event.body.length, id, at });
      this.#trimTopic(event.topic);
      return id;
    });
  }

  async append(event: NewEvent): Promise<StoredEvent> {
    const at = Date.now();
    const id = this.#appendTx(event, at);
    return { ...event, id: String(id), receivedAt: at };
  }

  /** Must run inside a transaction. */
  #trimTopic(topic: string, now?: number): number {
    const policy = this.#retention(topic);
    let removed = 0;
    for (;;) {
      const t = this.#topic.get(topic);
      if (!t || t.count === 0) break;
      const tooMany = t.count > policy.maxCount;
      const tooBig = t.bytes > policy.maxBytes && t.count > 1;
      // On append (no age check) the common case stops here, without reading the oldest event.
      if (!tooMany && !tooBig && now === undefined) break;
      const oldest = this.#oldestOfTopic.get(topic);
      if (!oldest) break;
      const tooOld = now !== undefined && now - oldest.received_at > policy.maxAgeMs;
      if (!tooMany && !tooBig && !tooOld) break;
      this.#deleteOne.run(oldest.id);
      this.#dropped.run(oldest.size, oldest.id, topic);
      removed++;
    }
    return removed;
  }

  async read(query: ReadQuery): Promise<ReadResult> {
    const after = query.afterId === undefined ? 0 : parseId(query.afterId);
    const exact = query.patterns.filter((p) => !isPattern(p));
    const wild = query.patterns.filter(isPattern);
    let rows: EventRow[];
    if (wild.length === 0) {
      let stmt = this.#readByTopics.get(exact.length);
      if (!stmt) {
        const marks = exact.map(() => '?').join(',');
        stmt = this.#db.prepare<unknown[], EventRow>(`SELECT * FROM events WHERE topic IN (${marks}) AND id > ? ORDER BY id LIMIT ?`);
        if (this.#readByTopics.size < 64) this.#readByTopics.set(exact.length, stmt);
      }
      rows = stmt.all(...exact, after, query.limit);
    } else {
      // Wildcards are matched in JS over a bounded id range scan.
      rows = [];
      let cursor = after;
      const page = this.#readPage;
      while (rows.length < query.limit) {
        const batch = page.all(cursor, 1000);
        if (batch.length === 0) break;
        for (const row of batch) {
          if (query.patterns.some((p) => matchTopic(p, row.topic))) rows.push(row);
          if (rows.length === query.limit) break;
        }
        cursor = batch[batch.length - 1]!.id;
      }
    }
    let gap = false;
    if (query.afterId !== undefined) {
      // Only topics whose retention dropped something after `after` can make a gap.
      gap = this.#trimmedSince.all(after).some((t) => query.patterns.some((p) => matchTopic(p, t.topic)));
    }
    return { events: rows.map(toEvent), gap };
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    const row = this.#db.prepare<[number], EventRow>(`SELECT * FROM events WHERE id = ?`).get(parseId(id));
    return row ? toEvent(row) : undefined;
  }

  async lastId(): Promise<string | undefined> {
    const row = this.#db.prepare<[], { id: number | null }>(`SELECT max(id) AS id FROM events`).get();
    return row?.id ? String(row.id) : undefined;
  }

  async topics(): Promise<TopicInfo[]> {
    return this.#db
      .prepare<[], TopicRow>(`SELECT * FROM topics ORDER BY topic`)
      .all()
      .map((t) => ({
        topic: t.topic,
        count: t.count,
        bytes: t.bytes,
        lastId: t.last_id === null ? undefined : String(t.last_id),
        lastAt: t.last_at ?? undefined,
      }));
  }

  compareIds(a: string, b: string): number {
    return parseId(a) - parseId(b);
  }

  async sweep(now = Date.now()): Promise<number> {
    const topics = this.#db.prepare<[], { topic: string }>(`SELECT topic FROM topics WHERE count > 0`).all();
    let removed = 0;
    const tx = this.#db.transaction((topic: string) => (removed += this.#trimTopic(topic, now)));
    for (const { topic } of topics) tx(topic);
    return removed;
  }
}

/** Ids are decimal integers here; anything else is treated as "before everything". */
function parseId(id: string): number {
  const n = Number(id);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}
