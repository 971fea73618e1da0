import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type SqliteDb = Database.Database;

/**
 * Opens (creating if needed) the embedded database. WAL with
 * synchronous=NORMAL survives a process crash (kill -9) without losing a
 * committed transaction; `full` also survives power loss, at a write cost.
 */
export function openSqlite(path: string, durability: 'normal' | 'full' = 'normal'): SqliteDb {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  return db;
}
