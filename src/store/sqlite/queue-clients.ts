import type { ClientState, QueueClient, QueueClientStore } from '../../edges/queue/ports.ts';
import type { SqliteDb } from './open.ts';

interface Row {
  user: string;
  client: string;
  queue: string;
  cursor: string;
  state: ClientState;
  reason: string | null;
  created_at: number;
}

const toClient = (r: Row): QueueClient => ({
  user: r.user,
  client: r.client,
  queue: r.queue,
  cursor: r.cursor,
  state: r.state,
  reason: r.reason,
  createdAt: r.created_at,
});

/** Webhook-queue clients and their read cursors, so both survive a restart. */
export class SqliteQueueClients implements QueueClientStore {
  readonly #db: SqliteDb;

  constructor(db: SqliteDb) {
    this.#db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS queue_clients (
        user TEXT NOT NULL,
        client TEXT NOT NULL,
        queue TEXT NOT NULL,
        cursor TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'ok',
        reason TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user, client)
      );
      CREATE INDEX IF NOT EXISTS queue_clients_queue ON queue_clients (queue);
    `);
  }

  async get(user: string, client: string): Promise<QueueClient | undefined> {
    const row = this.#db.prepare<[string, string], Row>('SELECT * FROM queue_clients WHERE user = ? AND client = ?').get(user, client);
    return row ? toClient(row) : undefined;
  }

  async put(c: QueueClient): Promise<void> {
    this.#db
      .prepare(
        `INSERT OR REPLACE INTO queue_clients (user, client, queue, cursor, state, reason, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(c.user, c.client, c.queue, c.cursor, c.state, c.reason, c.createdAt);
  }

  async remove(user: string, client: string): Promise<boolean> {
    return this.#db.prepare('DELETE FROM queue_clients WHERE user = ? AND client = ?').run(user, client).changes > 0;
  }

  async countForUser(user: string): Promise<number> {
    return this.#db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM queue_clients WHERE user = ?').get(user)!.n;
  }

  async advanceFrom(user: string, client: string, from: string, to: string): Promise<boolean> {
    return (
      this.#db
        .prepare(`UPDATE queue_clients SET cursor = ? WHERE user = ? AND client = ? AND state = 'ok' AND cursor = ?`)
        .run(to, user, client, from).changes > 0
    );
  }

  async advance(user: string, client: string, cursor: string): Promise<void> {
    this.#db
      .prepare(`UPDATE queue_clients SET cursor = ?, state = 'ok', reason = NULL WHERE user = ? AND client = ? AND state != 'disconnected'`)
      .run(cursor, user, client);
  }

  async flagRefresh(queue: string, reason: string): Promise<number> {
    return this.#db.prepare(`UPDATE queue_clients SET state = 'refresh', reason = ? WHERE queue = ? AND state = 'ok'`).run(reason, queue).changes;
  }

  async disconnect(user: string, client: string, reason: string): Promise<void> {
    this.#db.prepare(`UPDATE queue_clients SET state = 'disconnected', reason = ? WHERE user = ? AND client = ?`).run(reason, user, client);
  }

  async connected(): Promise<Pick<QueueClient, 'user' | 'client' | 'queue'>[]> {
    return this.#db
      .prepare<[], Pick<QueueClient, 'user' | 'client' | 'queue'>>(`SELECT user, client, queue FROM queue_clients WHERE state != 'disconnected'`)
      .all();
  }
}
