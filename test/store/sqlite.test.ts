import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SqliteDeliveryStore } from '../../src/store/sqlite/delivery-store.ts';
import { SqliteEventLog } from '../../src/store/sqlite/event-log.ts';
import { openSqlite } from '../../src/store/sqlite/open.ts';
import { SqliteQueueClients } from '../../src/store/sqlite/queue-clients.ts';
import { SqliteSubscriptionStore } from '../../src/store/sqlite/subscription-store.ts';
import { deliveryStoreContract } from './delivery-store.contract.ts';
import { eventLogContract } from './event-log.contract.ts';
import { queueClientsContract } from './queue-clients.contract.ts';
import { subscriptionStoreContract } from './subscription-store.contract.ts';

/** The storage contracts against the embedded SQLite adapters, each test on its own file. */
function tempDb() {
  const dir = mkdtempSync(join(tmpdir(), 'hookah-store-'));
  const path = join(dir, 'hookah.db');
  const opened = [openSqlite(path)];
  return {
    db: opened[0]!,
    another: () => {
      const db = openSqlite(path);
      opened.push(db);
      return db;
    },
    close() {
      for (const db of opened) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('sqlite adapters', () => {
  eventLogContract(async (retention) => {
    const t = tempDb();
    return { log: new SqliteEventLog(t.db, retention), close: async () => t.close() };
  });

  deliveryStoreContract(async () => {
    const t = tempDb();
    return {
      store: new SqliteDeliveryStore(t.db),
      another: async () => new SqliteDeliveryStore(t.another()),
      close: async () => t.close(),
    };
  });

  subscriptionStoreContract(async () => {
    const t = tempDb();
    return { store: new SqliteSubscriptionStore(t.db), close: async () => t.close() };
  });

  queueClientsContract(async () => {
    const t = tempDb();
    return { store: new SqliteQueueClients(t.db), close: async () => t.close() };
  });

  it('adds the host column to a delivery table from before per-host claims, filled in from each URL', async () => {
    const t = tempDb();
    try {
      const now = Date.now();
      t.db.exec(`CREATE TABLE deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, url TEXT NOT NULL, method TEXT NOT NULL,
        headers TEXT NOT NULL, body BLOB NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL, attempt_count INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL, timeout_ms INTEGER NOT NULL, sign INTEGER NOT NULL, next_attempt_at INTEGER, lease_until INTEGER,
        delivered_at INTEGER, last_error TEXT, errback TEXT, callback TEXT, ref TEXT, topic TEXT, event_id TEXT)`);
      const old = t.db.prepare(
        `INSERT INTO deliveries (id, kind, url, method, headers, body, status, created_at, max_attempts, timeout_ms, sign, next_attempt_at)
         VALUES (?, 'dispatch', ?, 'POST', '{}', x'00', 'pending', ?, 3, 1000, 0, ?)`,
      );
      for (let i = 0; i < 3; i++) old.run(`msg_old${i}`, `http://127.0.0.1:1/${i}`, now, now - 10);
      old.run('msg_other', 'http://127.0.0.1:2/x', now, now - 5);
      const store = new SqliteDeliveryStore(t.db);
      // The one due-order slot goes to a capped host's row, so finding the other needs the new host index.
      const got = await store.claimDue(now, 1, now + 60_000, { cap: 1, held: new Map([['127.0.0.1:1', 1]]) });
      assert.deepEqual(got.map((d) => d.id), ['msg_other']);
      assert.equal(t.db.prepare(`SELECT count(*) AS n FROM deliveries WHERE host = '127.0.0.1:1'`).pluck().get(), 3);
    } finally {
      t.close();
    }
  });
});
