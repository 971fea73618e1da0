import type { SqliteDb } from './open.ts';

/**
 * Adds a column that files written by an earlier version lack (CREATE TABLE
 * IF NOT EXISTS leaves their tables as they were); answers whether it was missing.
 */
export function addColumn(db: SqliteDb, table: string, definition: string): boolean {
  const name = definition.split(' ')[0]!;
  const columns = db.prepare<[], { name: string }>(`PRAGMA table_info(${table})`).all();
  if (columns.some((c) => c.name === name)) return false;
  db.exec(`ALTER TABLE ${table} ADD COLUMN ${definition}`);
  return true;
}
