import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
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
});
