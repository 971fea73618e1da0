import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { startCheckpointer } from '../../src/store/sqlite/checkpointer.ts';
import { openSqlite, type SqliteDb } from '../../src/store/sqlite/open.ts';
import { waitFor } from '../helpers/wait.ts';

/** Pages written to the log reach the database file only by a checkpoint. */
function fill(db: SqliteDb, rows: number): void {
  db.exec('CREATE TABLE IF NOT EXISTS t (v BLOB)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  const blob = Buffer.alloc(1024, 7);
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(blob);
  })();
}

describe('WAL checkpoint thread', () => {
  let dir: string;
  let path: string;
  let db: SqliteDb;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hookah-ckpt-'));
    path = join(dir, 'hookah.db');
    db = openSqlite(path);
  });
  afterEach(() => {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('folds the log into the database file before the main connection would checkpoint', async () => {
    const errors: Error[] = [];
    const ckpt = startCheckpointer(db, path, (err) => errors.push(err));
    try {
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 4000);
      const before = statSync(path).size;
      fill(db, 4000); // ~4 MiB: past SQLite's default 1000 pages, short of the main connection's 4000
      await waitFor(() => statSync(path).size > before + 3_000_000, 'the checkpoint thread to copy the log into the database file');
      assert.deepEqual(errors, []);
    } finally {
      await ckpt.stop();
    }
  });

  it('keeps the log bounded under commits that never pause', async () => {
    const ckpt = startCheckpointer(db, path, (err) => assert.fail(err));
    try {
      db.exec('CREATE TABLE t (v BLOB)');
      const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
      const commit = db.transaction(() => {
        for (let i = 0; i < 20; i++) insert.run(Buffer.alloc(600, i));
      });
      // ~60 MB of rows, one commit per turn of the event loop, as a busy server does. A passive
      // checkpoint never completes under such load, so the log would hold all of it.
      let largest = 0;
      for (let i = 0; i < 5000; i++) {
        commit();
        if (i % 100 === 0) largest = Math.max(largest, statSync(`${path}-wal`).size);
        await new Promise((r) => setImmediate(r));
      }
      largest = Math.max(largest, statSync(`${path}-wal`).size);
      assert.ok(largest < 40 * 1024 * 1024, `the log grew to ${(largest / 1024 / 1024).toFixed(1)} MiB`);
    } finally {
      await ckpt.stop();
    }
  });

  it('hands checkpoints back to the main connection when the thread dies', async () => {
    const errors: Error[] = [];
    const ckpt = startCheckpointer(db, path, (err) => errors.push(err));
    await ckpt.thread.terminate();
    await waitFor(() => errors.length > 0, 'the failure to be reported');
    assert.match(errors[0]!.message, /checkpoint thread exited/);
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    await ckpt.stop(); // already stopped: resolves at once
  });

  it('stops cleanly, and the database closes with an empty log', async () => {
    const ckpt = startCheckpointer(db, path, (err) => assert.fail(err));
    fill(db, 500);
    await ckpt.stop();
    db.close();
    // The last connection to close checkpoints the rest and removes the log.
    assert.equal(existsSync(`${path}-wal`), false);
    const reopened = openSqlite(path);
    assert.deepEqual(reopened.prepare('SELECT count(*) AS n FROM t').get(), { n: 500 });
    reopened.close();
  });
});
