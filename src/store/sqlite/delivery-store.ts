import { CLAIM_MAX_HOSTS, hostOf, type HostLimit } from '../../dispatcher/host-limit.ts';
import { newMessageId } from '../../dispatcher/message-id.ts';
import type { AttemptResult, DeliveryStore, IdempotencyClaim, Inserted as StoreInserted, NewDelivery, PendingDelivery } from '../../dispatcher/ports.ts';
import type { AttemptRecord, DeliveryKind, DeliveryRecord, DeliveryStatus, DeliverySummary, DispatcherStats } from '../../dispatcher/types.ts';
import { GroupCommit } from './group-commit.ts';
import { addColumn } from './migrate.ts';
import type { SqliteDb } from './open.ts';

interface Row {
  seq: number;
  id: string;
  kind: DeliveryKind;
  url: string;
  method: string;
  headers: string;
  body: Buffer;
  status: DeliveryStatus;
  created_at: number;
  attempt_count: number;
  max_attempts: number;
  timeout_ms: number;
  sign: number;
  next_attempt_at: number | null;
  lease_until: number | null;
  delivered_at: number | null;
  last_error: string | null;
  errback: string | null;
  callback: string | null;
  ref: string | null;
  topic: string | null;
  event_id: string | null;
}

interface AttemptRow {
  n: number;
  started_at: number;
  duration_ms: number;
  status: number | null;
  error: string | null;
  response_excerpt: string | null;
}

type Write =
  | { op: 'insert'; d: NewDelivery; key: IdempotencyClaim | undefined }
  | { op: 'finish'; id: string; attempt: AttemptRecord; result: AttemptResult; followUp: NewDelivery | undefined };
interface Claimable {
  seq: number;
  host: string;
}

type Inserted = StoreInserted & { /** Rowid of a new row. */ seq?: number };

const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

function toPending(r: Row): PendingDelivery {
  return {
    id: r.id,
    kind: r.kind,
    url: r.url,
    method: r.method,
    headers: JSON.parse(r.headers) as Record<string, string>,
    body: r.body,
    attemptCount: r.attempt_count,
    maxAttempts: r.max_attempts,
    timeoutMs: r.timeout_ms,
    sign: r.sign === 1,
    errback: opt(r.errback),
    callback: opt(r.callback),
    ref: opt(r.ref),
    topic: opt(r.topic),
    eventId: opt(r.event_id),
    createdAt: r.created_at,
  };
}

/**
 * The delivery queue in SQLite. `seq` gives a stable order for listing and
 * cursors; `id` is the public message id. Due work is found through the
 * (status, next_attempt_at) index.
 */
export class SqliteDeliveryStore implements DeliveryStore {
  readonly #db: SqliteDb;
  readonly #insert;
  readonly #insertKey;
  readonly #findKey;
  readonly #insertAttempt;
  readonly #claimTx;
  readonly #writes: GroupCommit<Write, Inserted | undefined>;
  readonly #attemptsOf;
  readonly #release;
  readonly #seqById;
  readonly #renew;
  readonly #purgeTx;
  /**
   * Pending plus in-flight rows, counted once and then kept by this store's
   * own committed writes (one process owns the file), so the maxPending check
   * never scans the index on the request path.
   */
  #unfinished: number | undefined;
  /** Delivered and failed rows, counted at the first stats() and then kept like #unfinished. */
  #finished: { delivered: number; failed: number } | undefined;
  readonly #countStatus;
  /**
   * Row keys of the deliveries this process holds leases on, so finishing one
   * updates by rowid instead of looking the text id up in its index twice.
   * Changed only after a commit; an entry leaves when its attempt is recorded
   * or its lease is given back (a crashed attempt may leave one behind).
   */
  readonly #claimedSeq = new Map<string, number>();
  readonly #nextDue;
  /** Where the last host-by-host claim stopped, so the next one starts after it and every host gets its turn. */
  #hostCursor = '';

  constructor(db: SqliteDb) {
    this.#db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        url TEXT NOT NULL,
        method TEXT NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempt_count INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        timeout_ms INTEGER NOT NULL,
        sign INTEGER NOT NULL,
        next_attempt_at INTEGER,
        lease_until INTEGER,
        delivered_at INTEGER,
        last_error TEXT,
        errback TEXT,
        callback TEXT,
        ref TEXT,
        topic TEXT,
        event_id TEXT,
        host TEXT
      );
      CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
      CREATE TABLE IF NOT EXISTS delivery_attempts (
        delivery_seq INTEGER NOT NULL REFERENCES deliveries (seq) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        status INTEGER,
        error TEXT,
        response_excerpt TEXT,
        PRIMARY KEY (delivery_seq, n)
      );
      CREATE TABLE IF NOT EXISTS idempotency_keys (
        key TEXT PRIMARY KEY,
        delivery_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        fingerprint TEXT
      );
    `);
    addColumn(db, 'idempotency_keys', 'fingerprint TEXT');
    addHostColumn(db);
    // Only waiting rows are in it, so the common path (inserted already claimed, then finished) never touches it.
    db.exec(`CREATE INDEX IF NOT EXISTS deliveries_pending_host ON deliveries (host, next_attempt_at) WHERE status = 'pending'`);
    // Positional parameters: binding 19 named ones costs more than the insert's own work.
    this.#insert = db.prepare(
      `INSERT INTO deliveries (id, kind, url, method, headers, body, status, created_at, max_attempts, timeout_ms, sign,
         next_attempt_at, lease_until, errback, callback, ref, topic, event_id, host)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#findKey = db.prepare<[string, number], { delivery_id: string; fingerprint: string | null }>(
      `SELECT delivery_id, fingerprint FROM idempotency_keys WHERE key = ? AND expires_at > ?`,
    );
    this.#insertKey = db.prepare(
      `INSERT INTO idempotency_keys (key, delivery_id, expires_at, fingerprint) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET delivery_id = excluded.delivery_id, expires_at = excluded.expires_at, fingerprint = excluded.fingerprint`,
    );
    this.#insertAttempt = db.prepare(
      `INSERT OR REPLACE INTO delivery_attempts (delivery_seq, n, started_at, duration_ms, status, error, response_excerpt) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#seqById = db.prepare<[string], { seq: number }>(`SELECT seq FROM deliveries WHERE id = ?`);
    this.#renew = db.prepare(`UPDATE deliveries SET lease_until = ? WHERE seq = ? AND status = 'in_flight'`);
    const insertOne = (d: NewDelivery, key?: IdempotencyClaim): Inserted => {
      const now = Date.now();
      if (key) {
        const existing = this.#findKey.get(key.key, now);
        if (existing) {
          const conflict = key.fingerprint !== undefined && existing.fingerprint !== null && existing.fingerprint !== key.fingerprint;
          return { id: existing.delivery_id, duplicate: true, conflict, createdAt: now };
        }
      }
      const id = newMessageId(now);
      const { lastInsertRowid } = this.#insert.run(
        id,
        d.kind,
        d.url,
        d.method,
        JSON.stringify(d.headers),
        d.body,
        d.leaseUntil === undefined ? 'pending' : 'in_flight',
        now,
        d.maxAttempts,
        d.timeoutMs,
        d.sign ? 1 : 0,
        d.nextAttemptAt,
        d.leaseUntil ?? null,
        d.errback ?? null,
        d.callback ?? null,
        d.ref ?? null,
        d.topic ?? null,
        d.eventId ?? null,
        hostOf(d.url),
      );
      if (key) this.#insertKey.run(key.key, id, now + key.ttlMs, key.fingerprint ?? null);
      return { id, duplicate: false, createdAt: now, seq: Number(lastInsertRowid) };
    };
    // One transaction wrapper for every batch, rather than one built per flush.
    const transaction = db.transaction((fn: () => void) => fn());
    const inTransaction = (fn: () => void) => transaction(fn);
    const setDelivered = db.prepare(
      `UPDATE deliveries SET attempt_count = ?, lease_until = NULL, status = 'delivered', delivered_at = ?, next_attempt_at = NULL, last_error = NULL WHERE seq = ?`,
    );
    const setPending = db.prepare(
      `UPDATE deliveries SET attempt_count = ?, lease_until = NULL, status = 'pending', next_attempt_at = ?, last_error = ? WHERE seq = ?`,
    );
    const setFailed = db.prepare(
      `UPDATE deliveries SET attempt_count = ?, lease_until = NULL, status = 'failed', next_attempt_at = NULL, last_error = ? WHERE seq = ?`,
    );
    const finishOne = (id: string, attempt: AttemptRecord, result: AttemptResult, followUp: NewDelivery | undefined): Inserted | undefined => {
      const seq = this.#seqOf(id);
      if (seq !== undefined) recordOne(seq, attempt, result); // else deleted meanwhile: nothing left to record against
      return followUp && insertOne(followUp);
    };
    const recordOne = (seq: number, attempt: AttemptRecord, result: AttemptResult) => {
      this.#insertAttempt.run(
        seq,
        attempt.n,
        attempt.startedAt,
        attempt.durationMs,
        attempt.status ?? null,
        attempt.error ?? null,
        attempt.responseExcerpt ?? null,
      );
      if (result.status === 'delivered') setDelivered.run(attempt.n, result.at, seq);
      else if (result.status === 'pending') setPending.run(attempt.n, result.nextAttemptAt, result.error, seq);
      else setFailed.run(attempt.n, result.error, seq);
    };
    // New messages and finished attempts share one commit per turn of the event loop: a commit costs far more than a row.
    this.#writes = new GroupCommit(inTransaction, (w: Write) =>
      w.op === 'insert' ? insertOne(w.d, w.key) : finishOne(w.id, w.attempt, w.result, w.followUp),
    );
    this.#attemptsOf = db.prepare<[number], AttemptRow>(`SELECT * FROM delivery_attempts WHERE delivery_seq = ? ORDER BY n`);
    this.#release = db.prepare(`UPDATE deliveries SET status = 'pending', lease_until = NULL WHERE id = ? AND status = 'in_flight'`);
    this.#nextDue = db.prepare<[], { at: number | null }>(`SELECT min(next_attempt_at) AS at FROM deliveries WHERE status = 'pending'`);
    const due = db.prepare<[number, number], Claimable>(
      `SELECT seq, host FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?`,
    );
    const expired = db.prepare<[number, number], Claimable>(
      `SELECT seq, host FROM deliveries WHERE status = 'in_flight' AND lease_until <= ? ORDER BY lease_until LIMIT ?`,
    );
    // Both on deliveries_pending_host: a skip over hosts with waiting work, then one host's due rows. Named,
    // because without ANALYZE statistics the planner prefers deliveries_due and sorts every pending row.
    const hostAfter = db.prepare<[string], { host: string }>(
      `SELECT host FROM deliveries INDEXED BY deliveries_pending_host WHERE status = 'pending' AND host > ? ORDER BY host LIMIT 1`,
    );
    const dueOfHost = db.prepare<[string, number, number], Claimable>(
      `SELECT seq, host FROM deliveries INDEXED BY deliveries_pending_host
       WHERE status = 'pending' AND host = ? AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`,
    );
    const rowAt = db.prepare<[number], Row>(`SELECT * FROM deliveries WHERE seq = ?`);
    // Counted on the (status, next_attempt_at) index: cost grows with the waiting work, not the history.
    this.#countStatus = db.prepare<[DeliveryStatus], { n: number }>(`SELECT count(*) AS n FROM deliveries WHERE status = ?`);
    const firstRow = db.prepare<[], { seq: number }>(`SELECT seq FROM deliveries ORDER BY seq LIMIT 1`);
    const lastRow = db.prepare<[], { seq: number }>(`SELECT seq FROM deliveries ORDER BY seq DESC LIMIT 1`);
    const rowFrom = db.prepare<[number], { seq: number; created_at: number }>(`SELECT seq, created_at FROM deliveries WHERE seq >= ? ORDER BY seq LIMIT 1`);
    // Finished rows have no next attempt, so (status, NULL, rowid) in the due index lists them in acceptance order.
    const finishedBelow = db.prepare<[DeliveryStatus, number, number], { seq: number }>(
      `SELECT seq FROM deliveries WHERE status = ? AND next_attempt_at IS NULL AND seq < ? ORDER BY seq LIMIT ?`,
    );
    const remove = db.prepare(`DELETE FROM deliveries WHERE seq = ?`); // attempts go with it (ON DELETE CASCADE)
    /** The first rowid accepted at or after `at`: rowids and acceptance times rise together, so a binary search costs O(log n) seeks. */
    const firstSeqFrom = (at: number): number => {
      const first = firstRow.get();
      const last = lastRow.get();
      if (!first || !last) return 0;
      let lo = first.seq;
      let hi = last.seq;
      let found = last.seq + 1;
      while (lo <= hi) {
        const mid = lo + Math.floor((hi - lo) / 2);
        const row = rowFrom.get(mid)!; // some row at or after mid exists: the last one
        if (row.created_at >= at) {
          found = row.seq;
          hi = mid - 1;
        } else lo = row.seq + 1;
      }
      return found;
    };
    this.#purgeTx = db.transaction((createdBefore: number, limit: number): { delivered: number; failed: number } => {
      const below = firstSeqFrom(createdBefore);
      const rows = [
        ...finishedBelow.all('delivered', below, limit).map((r) => ({ seq: r.seq, status: 'delivered' as const })),
        ...finishedBelow.all('failed', below, limit).map((r) => ({ seq: r.seq, status: 'failed' as const })),
      ]
        .sort((a, b) => a.seq - b.seq)
        .slice(0, limit);
      const removed = { delivered: 0, failed: 0 };
      for (const r of rows) {
        remove.run(r.seq);
        removed[r.status]++;
      }
      return removed;
    });
    const lease = db.prepare(`UPDATE deliveries SET status = 'in_flight', lease_until = ? WHERE seq = ?`);
    const unlease = db.prepare(`UPDATE deliveries SET status = 'pending', lease_until = NULL WHERE seq = ?`);
    this.#claimTx = db.transaction((now: number, limit: number, leaseUntil: number, hosts: HostLimit | undefined): Row[] => {
      const taken = new ClaimBudget(limit, hosts);
      const take = (rows: Claimable[], passOver?: (r: Claimable) => void) => {
        for (const r of rows) {
          if (!taken.admit(r.host)) {
            passOver?.(r);
            continue;
          }
          lease.run(leaseUntil, r.seq);
          taken.seqs.push(r.seq);
        }
      };
      // Keys first, bodies only for what is taken: rows of capped hosts are passed over.
      const scanned = due.all(now, limit);
      take(scanned);
      // Capped hosts' rows filled the window, and more may wait behind them: go host by host.
      if (scanned.length === limit && !taken.full()) {
        const visited = new Set<string>();
        let host = this.#hostCursor;
        while (visited.size < CLAIM_MAX_HOSTS && !taken.full()) {
          const next = hostAfter.get(host)?.host ?? hostAfter.get('')?.host; // wraps round after the last host
          if (next === undefined || visited.has(next)) break;
          visited.add(next);
          host = next;
          const room = taken.room(host);
          if (room > 0) take(dueOfHost.all(host, now, room));
        }
        this.#hostCursor = host;
      }
      // An expired lease of a capped host goes back among the waiting, where the per-host pass finds it.
      if (!taken.full()) take(expired.all(now, limit - taken.seqs.length), (r) => unlease.run(r.seq));
      return taken.seqs.map((seq) => rowAt.get(seq)!);
    });
  }

  async insert(delivery: NewDelivery, idempotency?: IdempotencyClaim): Promise<StoreInserted> {
    const { seq, ...inserted } = (await this.#writes.submit({ op: 'insert', d: delivery, key: idempotency })) as Inserted;
    if (!inserted.duplicate) this.#committedNew(delivery, { ...inserted, seq });
    return inserted;
  }

  #committedNew(delivery: NewDelivery, inserted: Inserted): void {
    if (this.#unfinished !== undefined) this.#unfinished++;
    if (delivery.leaseUntil !== undefined && inserted.seq !== undefined) this.#claimedSeq.set(inserted.id, inserted.seq);
  }

  async claimDue(now: number, limit: number, leaseUntil: number, hosts?: HostLimit): Promise<PendingDelivery[]> {
    const rows = this.#claimTx(now, limit, leaseUntil, hosts);
    for (const r of rows) this.#claimedSeq.set(r.id, r.seq);
    return rows.map(toPending);
  }

  async finishAttempt(id: string, attempt: AttemptRecord, result: AttemptResult, followUp?: NewDelivery) {
    const inserted = (await this.#writes.submit({ op: 'finish', id, attempt, result, followUp })) as Inserted | undefined;
    this.#claimedSeq.delete(id);
    if (result.status !== 'pending') {
      if (this.#unfinished !== undefined) this.#unfinished--;
      if (this.#finished) this.#finished[result.status]++;
    }
    if (!followUp || !inserted) return undefined;
    this.#committedNew(followUp, inserted);
    return { id: inserted.id, createdAt: inserted.createdAt };
  }

  /** The row of a delivery: from memory while this process holds it, else by its id. */
  #seqOf(id: string): number | undefined {
    return this.#claimedSeq.get(id) ?? this.#seqById.get(id)?.seq;
  }

  async renewLeases(ids: string[], leaseUntil: number): Promise<void> {
    this.#db.transaction(() => {
      for (const id of ids) {
        const seq = this.#seqOf(id);
        if (seq !== undefined) this.#renew.run(leaseUntil, seq);
      }
    })();
  }

  async release(ids: string[]): Promise<void> {
    for (const id of ids) this.#claimedSeq.delete(id);
    this.#db.transaction(() => ids.forEach((id) => this.#release.run(id)))();
  }

  /** The SQLite file belongs to one process at a time, so whatever is in flight at start-up is orphaned. */
  async recoverInFlight(now: number): Promise<number> {
    return this.#db
      .prepare(`UPDATE deliveries SET status = 'pending', lease_until = NULL, next_attempt_at = min(coalesce(next_attempt_at, ?), ?) WHERE status = 'in_flight'`)
      .run(now, now).changes;
  }

  async get(id: string): Promise<DeliveryRecord | undefined> {
    const row = this.#db.prepare<[string], Row>(`SELECT * FROM deliveries WHERE id = ?`).get(id);
    return row ? this.#toRecord(row) : undefined;
  }

  async list(filter: { status?: DeliveryStatus; kind?: DeliveryKind; limit: number; beforeId?: string }): Promise<DeliverySummary[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status) (where.push('status = ?'), args.push(filter.status));
    if (filter.kind) (where.push('kind = ?'), args.push(filter.kind));
    if (filter.beforeId) (where.push('seq < (SELECT seq FROM deliveries WHERE id = ?)'), args.push(filter.beforeId));
    // Named columns: a listing has no use for bodies (up to server.maxBodyBytes each) or headers.
    const sql = `SELECT ${SUMMARY_COLUMNS} FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    return this.#db
      .prepare<unknown[], Row>(sql)
      .all(...args, filter.limit)
      .map(toSummary);
  }

  async retryNow(id: string, now: number): Promise<'ok' | 'not_found' | 'delivered'> {
    const row = this.#db.prepare<[string], { status: DeliveryStatus }>(`SELECT status FROM deliveries WHERE id = ?`).get(id);
    if (!row) return 'not_found';
    if (row.status === 'delivered') return 'delivered';
    // A failed message gets a fresh attempt budget on top of what it used.
    this.#db
      .prepare(
        `UPDATE deliveries SET status = CASE WHEN status = 'in_flight' THEN status ELSE 'pending' END, next_attempt_at = ?,
           max_attempts = CASE WHEN status = 'failed' THEN max(max_attempts, attempt_count + 1) ELSE max_attempts END
         WHERE id = ?`,
      )
      .run(now, id);
    if (row.status === 'failed' && this.#unfinished !== undefined) this.#unfinished++;
    if (row.status === 'failed' && this.#finished) this.#finished.failed--;
    return 'ok';
  }

  async nextDueAt(): Promise<number | undefined> {
    return this.#nextDue.get()?.at ?? undefined;
  }

  /**
   * Waiting work is counted on the due index (it grows with the backlog, not
   * the history); finished rows, which /metrics would otherwise count on every
   * scrape, are counted once and then kept by committed writes.
   */
  async stats(): Promise<DispatcherStats> {
    const count = (status: DeliveryStatus) => this.#countStatus.get(status)!.n;
    this.#finished ??= { delivered: count('delivered'), failed: count('failed') };
    return { pending: count('pending'), inFlight: count('in_flight'), ...this.#finished };
  }

  async purgeExpiredKeys(now: number): Promise<number> {
    return this.#db.prepare(`DELETE FROM idempotency_keys WHERE expires_at <= ?`).run(now).changes;
  }

  async findIdempotent(key: string, now: number) {
    const row = this.#findKey.get(key, now);
    return row && { id: row.delivery_id, ...(row.fingerprint !== null ? { fingerprint: row.fingerprint } : {}) };
  }

  async countUnfinished(): Promise<number> {
    this.#unfinished ??= this.#countStatus.get('pending')!.n + this.#countStatus.get('in_flight')!.n;
    return this.#unfinished;
  }

  async purgeFinished(createdBefore: number, limit: number): Promise<number> {
    const removed = this.#purgeTx(createdBefore, limit);
    if (this.#finished) {
      this.#finished.delivered -= removed.delivered;
      this.#finished.failed -= removed.failed;
    }
    return removed.delivered + removed.failed;
  }

  #toRecord(r: Row): DeliveryRecord {
    const attempts = this.#attemptsOf
      .all(r.seq)
      .map(
        (a): AttemptRecord => ({
          n: a.n,
          startedAt: a.started_at,
          durationMs: a.duration_ms,
          status: opt(a.status),
          error: opt(a.error),
          responseExcerpt: opt(a.response_excerpt),
        }),
      );
    return { ...toSummary(r), attempts };
  }
}

const SUMMARY_COLUMNS =
  'id, kind, url, method, status, created_at, attempt_count, max_attempts, timeout_ms, next_attempt_at, delivered_at, last_error, errback, callback, ref, topic, event_id';

function toSummary(r: Omit<Row, 'seq' | 'headers' | 'body' | 'sign' | 'lease_until'>): DeliverySummary {
  return {
    id: r.id,
    kind: r.kind,
    url: r.url,
    method: r.method,
    status: r.status,
    createdAt: r.created_at,
    attemptCount: r.attempt_count,
    maxAttempts: r.max_attempts,
    timeoutMs: r.timeout_ms,
    nextAttemptAt: opt(r.next_attempt_at),
    deliveredAt: opt(r.delivered_at),
    lastError: opt(r.last_error),
    errback: opt(r.errback),
    callback: opt(r.callback),
    ref: opt(r.ref),
    topic: opt(r.topic),
    eventId: opt(r.event_id),
  };
}

/** Counts what one claim takes, in all and per host. */
class ClaimBudget {
  readonly seqs: number[] = [];
  readonly #limit: number;
  readonly #hosts: HostLimit | undefined;
  readonly #taken = new Map<string, number>();

  constructor(limit: number, hosts: HostLimit | undefined) {
    this.#limit = limit;
    this.#hosts = hosts;
  }

  full(): boolean {
    return this.seqs.length >= this.#limit;
  }

  room(host: string): number {
    if (!this.#hosts) return this.#limit - this.seqs.length;
    const used = (this.#hosts.held.get(host) ?? 0) + (this.#taken.get(host) ?? 0);
    return Math.min(this.#hosts.cap - used, this.#limit - this.seqs.length);
  }

  /** True, and counted, when one more delivery to `host` fits. */
  admit(host: string): boolean {
    if (this.room(host) <= 0) return false;
    this.#taken.set(host, (this.#taken.get(host) ?? 0) + 1);
    return true;
  }
}

/**
 * Files from before per-host claims have no host column: add it and fill it
 * in from each row's URL, once.
 */
function addHostColumn(db: SqliteDb): void {
  db.transaction(() => {
    if (!addColumn(db, 'deliveries', 'host TEXT')) return;
    db.function('hookah_host_of', { deterministic: true }, (url: unknown) => hostOf(String(url)));
    // Delivered rows are never claimed again; failed ones may be, after a retry.
    db.exec(`UPDATE deliveries SET host = hookah_host_of(url) WHERE status <> 'delivered'`);
  })();
}
