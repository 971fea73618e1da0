import type { PublishClaim, PublishKeyStore } from '../../core/ports.ts';
import { addColumn } from './migrate.ts';
import type { SqliteDb } from './open.ts';

const PURGE_EVERY_MS = 60_000;

/** The publish keys in SQLite; this process owns the file, so reservations left by a crash are cleared at start. */
export class SqlitePublishKeys implements PublishKeyStore {
  readonly #find;
  readonly #insert;
  readonly #complete;
  readonly #release;
  readonly #purge;
  #purgedAt = 0;

  constructor(db: SqliteDb) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS dispatch_publish_keys (
        key TEXT PRIMARY KEY,
        event_id TEXT,
        expires_at INTEGER NOT NULL,
        fingerprint TEXT
      );
      CREATE INDEX IF NOT EXISTS dispatch_publish_keys_expiry ON dispatch_publish_keys (expires_at);
    `);
    addColumn(db, 'dispatch_publish_keys', 'fingerprint TEXT');
    // Reservations without an event belong to a process that died mid-publish; a retry must be able to publish.
    db.prepare('DELETE FROM dispatch_publish_keys WHERE event_id IS NULL').run();
    this.#find = db.prepare<[string, number], { event_id: string | null; fingerprint: string | null }>(
      'SELECT event_id, fingerprint FROM dispatch_publish_keys WHERE key = ? AND expires_at > ?',
    );
    this.#insert = db.prepare(
      `INSERT INTO dispatch_publish_keys (key, event_id, expires_at, fingerprint) VALUES (?, NULL, ?, ?)
       ON CONFLICT (key) DO UPDATE SET event_id = NULL, expires_at = excluded.expires_at, fingerprint = excluded.fingerprint`,
    );
    this.#complete = db.prepare('UPDATE dispatch_publish_keys SET event_id = ? WHERE key = ?');
    this.#release = db.prepare('DELETE FROM dispatch_publish_keys WHERE key = ? AND event_id IS NULL');
    this.#purge = db.prepare('DELETE FROM dispatch_publish_keys WHERE expires_at <= ?');
  }

  claim(key: string, ttlMs: number, fingerprint?: string, now = Date.now()): PublishClaim {
    if (now - this.#purgedAt > PURGE_EVERY_MS) {
      this.#purgedAt = now;
      this.#purge.run(now);
    }
    // better-sqlite3 is synchronous, so find-then-insert cannot interleave with another claim.
    const row = this.#find.get(key, now);
    if (row) {
      const conflict = fingerprint !== undefined && row.fingerprint !== null && row.fingerprint !== fingerprint;
      return { duplicate: true, eventId: row.event_id, conflict };
    }
    this.#insert.run(key, now + ttlMs, fingerprint ?? null);
    return { duplicate: false };
  }

  fingerprint(key: string, now = Date.now()): string | undefined {
    return this.#find.get(key, now)?.fingerprint ?? undefined;
  }

  complete(key: string, eventId: string): void {
    this.#complete.run(eventId, key);
  }

  release(key: string): void {
    this.#release.run(key);
  }
}
