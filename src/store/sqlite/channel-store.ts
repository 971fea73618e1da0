import {
  queueFull,
  type ChannelKind,
  type ChannelPage,
  type ChannelRecord,
  type ChannelStore,
  type EnqueueResult,
  type ForwardedRequest,
  type HeaderMap,
  type QueueBounds,
  type QueuedRequest,
} from '../../edges/tunnel/ports.ts';
import type { SqliteDb } from './open.ts';

interface ChannelRow {
  id: string;
  kind: ChannelKind;
  token_hash: string;
  created_at: number;
  last_used_at: number;
  cursor: string | null;
  queue_count: number;
  queue_bytes: number;
}

interface QueueRow {
  id: number;
  channel: string;
  received_at: number;
  method: string;
  path: string;
  query: string;
  headers: string;
  body: Buffer;
}

function toChannel(row: ChannelRow): ChannelRecord {
  const record: ChannelRecord = {
    id: row.id,
    kind: row.kind,
    tokenHash: row.token_hash,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
  if (row.cursor !== null) record.cursor = row.cursor;
  return record;
}

function toQueued(row: QueueRow): QueuedRequest {
  return {
    id: String(row.id),
    channel: row.channel,
    receivedAt: row.received_at,
    request: {
      method: row.method,
      path: row.path,
      query: row.query,
      headers: JSON.parse(row.headers) as HeaderMap,
      body: row.body,
    },
  };
}

/**
 * Tunnel channels, gateway sessions and the tunnel's offline queue in the
 * embedded database. Queue size is kept on the channel row so the bounds are
 * checked without scanning the queue; deleting a channel cascades to its queue.
 */
export class SqliteChannelStore implements ChannelStore {
  readonly #db: SqliteDb;
  readonly #insert;
  readonly #get;
  readonly #touch;
  readonly #setCursor;
  readonly #remove;
  readonly #count;
  readonly #stale;
  readonly #list;
  readonly #countKind;
  readonly #totalBytes;
  readonly #enqueue;
  readonly #bump;
  readonly #peek;
  readonly #ackTx;

  constructor(db: SqliteDb) {
    this.#db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS tunnel_channels (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER NOT NULL,
        cursor TEXT,
        queue_count INTEGER NOT NULL DEFAULT 0,
        queue_bytes INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS tunnel_channels_last_used ON tunnel_channels (last_used_at);
      CREATE TABLE IF NOT EXISTS tunnel_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL REFERENCES tunnel_channels (id) ON DELETE CASCADE,
        received_at INTEGER NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        query TEXT NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL
      );
      CREATE INDEX IF NOT EXISTS tunnel_queue_channel ON tunnel_queue (channel, id);
    `);
    this.#insert = db.prepare<[Record<string, unknown>], ChannelRow>(
      `INSERT INTO tunnel_channels (id, kind, token_hash, created_at, last_used_at, cursor)
       VALUES (@id, @kind, @token_hash, @now, @now, @cursor) RETURNING *`,
    );
    this.#get = db.prepare<[string], ChannelRow>(`SELECT * FROM tunnel_channels WHERE id = ?`);
    this.#touch = db.prepare<[number, string]>(`UPDATE tunnel_channels SET last_used_at = max(last_used_at, ?) WHERE id = ?`);
    this.#setCursor = db.prepare<[string, string]>(`UPDATE tunnel_channels SET cursor = ? WHERE id = ?`);
    this.#remove = db.prepare<[string]>(`DELETE FROM tunnel_channels WHERE id = ?`);
    this.#count = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM tunnel_channels`);
    this.#stale = db.prepare<[string, number], { id: string }>(
      `SELECT id FROM tunnel_channels WHERE kind = ? AND last_used_at < ? ORDER BY last_used_at LIMIT 1000`,
    );
    this.#list = db.prepare<[string, number], ChannelRow>(`SELECT * FROM tunnel_channels WHERE kind = ? ORDER BY last_used_at DESC, id LIMIT ?`);
    this.#countKind = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM tunnel_channels WHERE kind = ?`);
    this.#totalBytes = db.prepare<[], { n: number | null }>(`SELECT sum(queue_bytes) AS n FROM tunnel_channels`);
    this.#enqueue = db.prepare<[Record<string, unknown>]>(
      `INSERT INTO tunnel_queue (channel, received_at, method, path, query, headers, body)
       VALUES (@channel, @received_at, @method, @path, @query, @headers, @body)`,
    );
    this.#bump = db.prepare<[number, number, string]>(
      `UPDATE tunnel_channels SET queue_count = queue_count + ?, queue_bytes = queue_bytes + ? WHERE id = ?`,
    );
    this.#peek = db.prepare<[string], QueueRow>(`SELECT * FROM tunnel_queue WHERE channel = ? ORDER BY id LIMIT 1`);
    const findQueued = db.prepare<[number, string], { size: number }>(`SELECT length(body) AS size FROM tunnel_queue WHERE id = ? AND channel = ?`);
    const deleteQueued = db.prepare<[number]>(`DELETE FROM tunnel_queue WHERE id = ?`);
    this.#ackTx = db.transaction((channel: string, id: number): boolean => {
      const row = findQueued.get(id, channel);
      if (!row) return false;
      deleteQueued.run(id);
      this.#bump.run(-1, -row.size, channel);
      return true;
    });
  }

  async create(record: { id: string; kind: ChannelKind; tokenHash: string; cursor?: string }, now = Date.now()): Promise<ChannelRecord> {
    const row = this.#insert.get({ id: record.id, kind: record.kind, token_hash: record.tokenHash, now, cursor: record.cursor ?? null });
    return toChannel(row!);
  }

  async get(id: string): Promise<ChannelRecord | undefined> {
    const row = this.#get.get(id);
    return row ? toChannel(row) : undefined;
  }

  async touch(id: string, now = Date.now()): Promise<void> {
    this.#touch.run(now, id);
  }

  async setCursor(id: string, cursor: string): Promise<void> {
    this.#setCursor.run(cursor, id);
  }

  async remove(id: string): Promise<boolean> {
    return this.#remove.run(id).changes > 0;
  }

  async count(): Promise<number> {
    return this.#count.get()!.n;
  }

  async list(kind: ChannelKind, limit: number): Promise<ChannelPage> {
    const read = this.#db.transaction(() => ({
      channels: this.#list.all(kind, limit).map((row) => ({ ...toChannel(row), queued: row.queue_count, queuedBytes: row.queue_bytes })),
      total: this.#countKind.get(kind)!.n,
    }));
    return read();
  }

  async expire(kind: ChannelKind, before: number, keep: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    const tx = this.#db.transaction(() => {
      for (const { id } of this.#stale.all(kind, before)) {
        if (keep.has(id)) continue;
        this.#remove.run(id);
        removed.push(id);
      }
    });
    tx();
    return removed;
  }

  async enqueue(channel: string, request: ForwardedRequest, bounds: QueueBounds, now = Date.now()): Promise<EnqueueResult> {
    const size = request.body.length;
    const tx = this.#db.transaction((): EnqueueResult => {
      const row = this.#get.get(channel);
      if (!row) return queueFull('missing', bounds);
      if (row.queue_count + 1 > bounds.maxCount) return queueFull('count', bounds);
      if (row.queue_bytes + size > bounds.maxBytes) return queueFull('bytes', bounds);
      const total = this.#totalBytes.get()?.n ?? 0;
      if (total + size > bounds.maxTotalBytes) return queueFull('total', bounds);
      const info = this.#enqueue.run({
        channel,
        received_at: now,
        method: request.method,
        path: request.path,
        query: request.query,
        headers: JSON.stringify(request.headers),
        body: request.body,
      });
      this.#bump.run(1, size, channel);
      return { id: String(info.lastInsertRowid) };
    });
    return tx();
  }

  async peek(channel: string): Promise<QueuedRequest | undefined> {
    const row = this.#peek.get(channel);
    return row ? toQueued(row) : undefined;
  }

  async ack(channel: string, id: string): Promise<boolean> {
    const n = Number(id);
    if (!Number.isSafeInteger(n)) return false;
    return this.#ackTx(channel, n);
  }

  async queueStats(channel: string): Promise<{ count: number; bytes: number }> {
    const row = this.#get.get(channel);
    return { count: row?.queue_count ?? 0, bytes: row?.queue_bytes ?? 0 };
  }
}
