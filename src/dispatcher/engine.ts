import { EventEmitter } from 'node:events';
import PQueue from 'p-queue';
import type { Agent } from 'undici';
import { IdempotencyConflictError } from '../core/idempotency.ts';
import type { Runtime } from '../runtime.ts';
import { USER_AGENT } from '../version.ts';
import { performAttempt, type HttpResult } from './attempt.ts';
import { Cancellation } from './cancellation.ts';
import type { AttemptResult, DeliveryStore, NewDelivery, PendingDelivery } from './ports.ts';
import { parseRetryAfter, retryDelay } from './schedule.ts';
import { standardWebhookHeaders } from './signing.ts';
import { hostOf } from './host-limit.ts';
import { checkDestination, createGuardedAgent } from './ssrf.ts';
import { QueueFullError, type AttemptRecord, type DeliveryOutcome, type DeliveryRecord, type DeliveryRequest, type Dispatcher, type DispatcherStats } from './types.ts';

/** How stale the unfinished-delivery count may get before assertRoom asks the store again. */
const COUNT_REFRESH_MS = 1000;
/** How long cancelled attempts get to unwind at shutdown before their deliveries are given back. */
const STOP_UNWIND_MS = 1000;
/** What a full queue tells clients to wait before trying again. */
const QUEUE_FULL_RETRY_AFTER_S = 5;
/** Deletions per store call while sweeping: small enough that one batch never holds the event loop for long. */
const PURGE_BATCH = 200;

/**
 * The durable delivery engine. Work lives in the DeliveryStore; this process
 * claims due deliveries in batches (leases), runs them through a global
 * p-queue and a per-host p-queue (so one slow receiver cannot take every
 * slot), and writes each attempt's outcome back. Long waits between attempts
 * are a persisted `next_attempt_at`, never a timer that a crash would lose.
 */
export class DeliveryEngine implements Dispatcher {
  readonly #rt: Runtime;
  readonly #store: DeliveryStore;
  readonly #agent: Agent;
  readonly #global: PQueue;
  readonly #hosts = new Map<string, PQueue>();
  readonly #outcomes = new EventEmitter();
  readonly #claimed = new Set<string>();
  /** Claimed deliveries per destination host, capped at #hostCap so one slow host cannot hold every claim. */
  readonly #heldByHost = new Map<string, number>();
  readonly #hostCap: number;
  readonly #stopping = new AbortController();
  /** Cancelled with #stopping: aborts attempts in flight. */
  readonly #inFlight = new Cancellation();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  /** True when the last claim filled every slot, so more due work may be waiting: refilled when half the slots are free. */
  #backlog = false;
  /** True when due work waits only because its hosts hold their cap of claims: refilled when half of such a host's are done. */
  #hostBacklog = false;
  #pumping = false;
  #sweeping = false;
  /** Set while claims fail (store outage), so the failure is logged once, not every poll. */
  #claimFailingSince: number | undefined;
  /**
   * Unfinished (pending + in-flight) deliveries for the maxPending bound: the
   * store's last count plus what this process added and finished since. Other
   * nodes' work shows up at the next count, so across nodes the bound is
   * approximate by about a second's worth of traffic.
   */
  #countBase = 0;
  #countDelta = 0;
  #countedAt = -Infinity;
  #counting = false;
  #pumpAgain = false;
  #started = false;
  readonly #capacity: number;
  readonly #metrics;

  constructor(rt: Runtime, store: DeliveryStore) {
    this.#rt = rt;
    this.#store = store;
    const cfg = rt.config.dispatcher;
    this.#agent = createGuardedAgent(cfg.allowNetworks, { connections: cfg.perHostConcurrency });
    this.#global = new PQueue({ concurrency: cfg.concurrency });
    // Claim a little ahead of the workers so they never idle between batches.
    this.#capacity = cfg.concurrency * 2;
    // The same lead per host: enough queued to keep its connections busy, no more.
    this.#hostCap = cfg.perHostConcurrency * 2;
    this.#outcomes.setMaxListeners(100);
    const m = rt.metrics;
    const engine = this;
    this.#metrics = {
      attempts: m.counter('hookah_delivery_attempts_total', 'Delivery attempts by kind and outcome', ['kind', 'outcome']),
      finished: m.counter('hookah_deliveries_total', 'Deliveries that reached a final state', ['kind', 'outcome']),
      duration: m.histogram('hookah_delivery_attempt_seconds', 'Duration of one delivery attempt', ['kind'], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
      latency: m.histogram('hookah_delivery_latency_seconds', 'From acceptance to successful delivery', ['kind'], [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300, 3600, 36000]),
      enqueued: m.counter('hookah_deliveries_enqueued_total', 'Deliveries accepted into the queue', ['kind']),
      purged: m.counter('hookah_deliveries_purged_total', 'Delivered and failed deliveries deleted after dispatcher.retention'),
    };
    m.gauge('hookah_delivery_queue', 'Deliveries by state', ['state'], async function () {
      const s = await engine.stats();
      this.set({ state: 'pending' }, s.pending);
      this.set({ state: 'in_flight' }, s.inFlight);
      this.set({ state: 'failed' }, s.failed);
      this.set({ state: 'delivered' }, s.delivered);
    });
  }

  async enqueue(req: DeliveryRequest): Promise<{ id: string; duplicate: boolean }> {
    const delivery = this.#newDelivery(req);
    const key = req.idempotencyKey;
    const result = await this.#store.insert(
      delivery,
      key === undefined
        ? undefined
        : { key, ttlMs: this.#rt.config.dispatcher.idempotencyTtl, ...(req.idempotencyFingerprint !== undefined ? { fingerprint: req.idempotencyFingerprint } : {}) },
    );
    if (result.conflict) throw new IdempotencyConflictError();
    if (!result.duplicate) this.#accepted(delivery, result);
    return { id: result.id, duplicate: result.duplicate };
  }

  /** The row to store for a request, bounded by configuration; throws RangeError for a refused destination. */
  #newDelivery(req: DeliveryRequest): NewDelivery {
    const cfg = this.#rt.config.dispatcher;
    const url = new URL(req.url);
    const refused = checkDestination(url, cfg.allowNetworks);
    if (refused) throw new RangeError(refused);
    const now = Date.now();
    const nextAttemptAt = now + retryDelay(cfg.retrySchedule, 0, cfg.jitter);
    return {
      kind: req.kind,
      url: url.href,
      method: (req.method ?? 'POST').toUpperCase(),
      headers: req.headers,
      body: req.body,
      maxAttempts: Math.min(req.maxAttempts ?? cfg.retrySchedule.length, cfg.maxAttempts),
      timeoutMs: Math.min(req.timeoutMs ?? cfg.timeout, cfg.maxTimeout),
      sign: req.sign ?? true,
      errback: req.errback,
      callback: req.callback,
      ref: req.ref,
      topic: req.topic,
      eventId: req.eventId,
      nextAttemptAt,
      // Work due now is inserted already claimed by this process when it has
      // room, so it starts without another round trip to the store.
      leaseUntil: nextAttemptAt <= now && this.#canTakeMore(url.host) ? now + this.#leaseMs() : undefined,
    };
  }

  /** Bookkeeping once a new delivery is committed: start it if this process claimed it, else wake when it falls due. */
  #accepted(delivery: NewDelivery, stored: { id: string; createdAt: number }): void {
    this.#countDelta++;
    this.#metrics.enqueued.inc({ kind: delivery.kind });
    if (delivery.leaseUntil !== undefined && this.#stopping.signal.aborted) {
      // Claimed as it was stored, but stop() may have given back its claims already: give this one back too.
      this.#store.release([stored.id]).catch((err) => this.#rt.log.warn({ module: 'dispatcher', err, id: stored.id }, 'cannot give back a delivery at shutdown'));
    } else if (delivery.leaseUntil !== undefined) this.#schedule({ ...delivery, id: stored.id, attemptCount: 0, createdAt: stored.createdAt });
    else if (delivery.nextAttemptAt > Date.now()) this.#wakeAt(delivery.nextAttemptAt);
    else if (this.#canTakeMore(hostOf(delivery.url))) this.#kick(); // room came back while it was being stored
    else {
      // No claim round per request while full: finishing attempts pull it in, the poll timer at the latest.
      if (this.#claimed.size >= this.#capacity) this.#backlog = true;
      else this.#hostBacklog = true;
      this.#wakeAt(Date.now() + this.#rt.config.dispatcher.pollInterval);
    }
  }

  async assertRoom(idempotencyKey?: string): Promise<void> {
    if (!this.#counting && Date.now() - this.#countedAt >= COUNT_REFRESH_MS) void this.#refreshCount();
    const limit = this.#rt.config.dispatcher.maxPending;
    if (this.#countBase + this.#countDelta < limit) return;
    // Only when full: a store lookup per request would cost every idempotent sender.
    if (idempotencyKey !== undefined && (await this.#store.findIdempotent(idempotencyKey, Date.now())) !== undefined) return;
    throw new QueueFullError(limit, QUEUE_FULL_RETRY_AFTER_S);
  }

  async assertKeyFits(key: string, fingerprint: string): Promise<void> {
    const held = await this.#store.findIdempotent(key, Date.now());
    if (held?.fingerprint !== undefined && held.fingerprint !== fingerprint) throw new IdempotencyConflictError();
  }

  get(id: string) {
    return this.#store.get(id);
  }

  list(filter: Parameters<Dispatcher['list']>[0]) {
    return this.#store.list(filter);
  }

  async retryNow(id: string): Promise<boolean> {
    const r = await this.#store.retryNow(id, Date.now());
    if (r === 'ok') this.#kick();
    return r === 'ok';
  }

  #canTakeMore(host: string): boolean {
    return (
      this.#started && !this.#stopping.signal.aborted && this.#claimed.size < this.#capacity && (this.#heldByHost.get(host) ?? 0) < this.#hostCap
    );
  }

  #leaseMs(): number {
    const cfg = this.#rt.config.dispatcher;
    return Math.max(cfg.lease, cfg.maxTimeout * (cfg.quickRetries + 2));
  }

  onOutcome(listener: (outcome: DeliveryOutcome) => void): () => void {
    this.#outcomes.on('outcome', listener);
    return () => this.#outcomes.off('outcome', listener);
  }

  stats(): Promise<DispatcherStats> {
    return this.#store.stats();
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#backlog = true;
    void this.#refreshCount();
    void this.#store
      .recoverInFlight(Date.now())
      .then(
        (n) => {
          if (n > 0) this.#rt.log.info({ module: 'dispatcher', recovered: n }, 'resuming deliveries left in flight by a previous run');
        },
        // The store is down at start: claims retry every poll interval, and expired leases are claimable anyway.
        (err: unknown) => this.#rt.log.error({ module: 'dispatcher', err }, 'cannot take back deliveries left in flight; claiming goes on'),
      )
      .finally(() => this.#kick());
    const sweep = setInterval(() => void this.#sweep(), this.#rt.config.dispatcher.sweepInterval);
    sweep.unref();
    // Leases outlive the wait in a host queue: renewed well before they could run out.
    const renew = setInterval(() => void this.#renewLeases(), Math.max(100, Math.floor(this.#leaseMs() / 3)));
    renew.unref();
    this.#stopping.signal.addEventListener('abort', () => {
      clearInterval(sweep);
      clearInterval(renew);
    });
  }

  async stop(timeoutMs: number): Promise<void> {
    if (this.#stopping.signal.aborted) return;
    this.#stopping.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // Work claimed but not started goes back to the store at once.
    this.#global.clear();
    for (const q of this.#hosts.values()) q.clear();
    // Attempts under way get the shutdown timeout to finish and be recorded;
    // what still runs then is cut off and, its outcome unknown, sent again later.
    const idle = (ms: number) => {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([this.#global.onIdle(), new Promise((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
    };
    await idle(timeoutMs);
    this.#inFlight.cancel();
    await idle(STOP_UNWIND_MS);
    // Includes the attempts cut off above: they stay claimed until given back here.
    await this.#store.release([...this.#claimed]);
    await this.#agent.close().catch(() => undefined);
  }

  async #renewLeases(): Promise<void> {
    if (this.#claimed.size === 0) return;
    try {
      await this.#store.renewLeases([...this.#claimed], Date.now() + this.#leaseMs());
    } catch (err) {
      // The store is down; claims and writes say so too. The next tick tries again, well within the lease.
      this.#rt.log.debug({ module: 'dispatcher', err }, 'renewing leases failed');
    }
  }

  /** Recounts unfinished deliveries in the store (assertRoom calls it at most once per COUNT_REFRESH_MS). */
  async #refreshCount(): Promise<void> {
    this.#counting = true;
    const delta = this.#countDelta;
    try {
      this.#countBase = await this.#store.countUnfinished();
      this.#countDelta -= delta; // what changed while counting is not in the count
      this.#countedAt = Date.now();
    } catch {
      // The store is down: the insert that follows fails and says so; keep the last count.
    } finally {
      this.#counting = false;
    }
  }

  /**
   * Forgets expired idempotency keys and finished deliveries past
   * `dispatcher.retention`, in small batches with a turn of the event loop
   * between them so a large first sweep never stalls requests.
   */
  async #sweep(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    const now = Date.now();
    try {
      await this.#store.purgeExpiredKeys(now);
      const keep = this.#rt.config.dispatcher.retention;
      if (keep <= 0) return;
      let removed = 0;
      for (;;) {
        const n = await this.#store.purgeFinished(now - keep, PURGE_BATCH);
        removed += n;
        if (n < PURGE_BATCH || this.#stopping.signal.aborted) break;
        await new Promise((r) => setImmediate(r));
      }
      if (removed > 0) {
        this.#metrics.purged.inc(removed);
        this.#rt.log.debug({ module: 'dispatcher', removed, retentionMs: keep }, 'deleted finished deliveries past retention');
      }
    } catch (err) {
      this.#rt.log.warn({ module: 'dispatcher', err }, 'sweeping finished deliveries failed; will try again');
    } finally {
      this.#sweeping = false;
    }
  }

  /** Claim due work now (coalesced: one pump at a time). */
  #kick(): void {
    if (!this.#started || this.#stopping.signal.aborted) return;
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    this.#hostBacklog = false;
    let full = false;
    try {
      do {
        this.#pumpAgain = false;
        const room = this.#capacity - this.#claimed.size;
        if (room <= 0) {
          full = true;
          break;
        }
        const now = Date.now();
        const batch = await this.#store.claimDue(now, room, now + this.#leaseMs(), { cap: this.#hostCap, held: this.#heldByHost });
        for (const d of batch) this.#schedule(d);
        full = batch.length === room;
      } while ((this.#pumpAgain || full) && !this.#stopping.signal.aborted);
      if (this.#claimFailingSince !== undefined) {
        this.#rt.log.info({ module: 'dispatcher', outageMs: Date.now() - this.#claimFailingSince }, 'claiming deliveries works again');
        this.#claimFailingSince = undefined;
      }
    } catch (err) {
      // Once per outage: the pump retries every poll interval, and a log line each time would bury everything else.
      if (this.#claimFailingSince === undefined) {
        this.#claimFailingSince = Date.now();
        this.#rt.log.error({ module: 'dispatcher', err }, 'claiming deliveries failed; retrying every poll interval until the store answers');
      }
    } finally {
      this.#pumping = false;
    }
    // Backlog left behind: finishing attempts pull more (see #schedule), the poll timer at the latest.
    this.#backlog = full;
    if (full) this.#wakeAt(Date.now() + this.#rt.config.dispatcher.pollInterval);
    else {
      const next = await this.#store.nextDueAt().catch(() => undefined);
      // Due now yet not claimed: its hosts are at their cap, and finishing attempts there pull more.
      const capped = next !== undefined && next <= Date.now() && [...this.#heldByHost.values()].some((n) => n >= this.#hostCap);
      if (capped) this.#hostBacklog = true;
      this.#wakeAt(next !== undefined && !capped ? next : Date.now() + this.#rt.config.dispatcher.pollInterval);
    }
  }

  /**
   * Arms the single wake-up timer for `at` unless an earlier one is set. The
   * poll interval caps every wait: another node (Redis) may add work.
   */
  #wakeAt(at: number): void {
    if (!this.#started || this.#stopping.signal.aborted) return;
    const capped = Math.min(at, Date.now() + this.#rt.config.dispatcher.pollInterval);
    if (this.#timer && this.#timerAt <= capped) return;
    clearTimeout(this.#timer);
    this.#timerAt = capped;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#kick();
    }, Math.max(0, capped - Date.now()));
    this.#timer.unref();
  }

  #schedule(d: PendingDelivery): void {
    // Claimed again by this very process (its lease ran out while it waited here): it is already queued.
    if (this.#claimed.has(d.id)) return;
    this.#claimed.add(d.id);
    const host = hostOf(d.url);
    this.#heldByHost.set(host, (this.#heldByHost.get(host) ?? 0) + 1);
    let hostQueue = this.#hosts.get(host);
    if (!hostQueue) {
      hostQueue = new PQueue({ concurrency: this.#rt.config.dispatcher.perHostConcurrency });
      hostQueue.on('idle', () => {
        if (hostQueue!.size === 0 && hostQueue!.pending === 0) this.#hosts.delete(host);
      });
      this.#hosts.set(host, hostQueue);
    }
    void hostQueue
      .add(() => this.#global.add(() => this.#attempt(d)))
      .catch((err) => this.#rt.log.error({ module: 'dispatcher', err, id: d.id }, 'delivery attempt crashed'))
      .finally(() => {
        // While stopping, keep it: stop() gives back whatever is still in flight (a recorded one is left as it is).
        if (this.#stopping.signal.aborted) return;
        this.#claimed.delete(d.id);
        const held = (this.#heldByHost.get(host) ?? 1) - 1;
        if (held > 0) this.#heldByHost.set(host, held);
        else this.#heldByHost.delete(host);
        // Refill in batches rather than one claim per finished attempt: when half the slots are free, or half of a capped host's.
        const halfFree = this.#claimed.size <= this.#capacity / 2;
        const hostHalfDone = held === Math.floor(this.#hostCap / 2);
        if ((this.#backlog && halfFree) || ((this.#backlog || this.#hostBacklog) && hostHalfDone)) this.#kick();
      });
  }

  async #attempt(d: PendingDelivery): Promise<void> {
    if (this.#stopping.signal.aborted) return;
    const cfg = this.#rt.config.dispatcher;
    const n = d.attemptCount + 1;
    const startedAt = Date.now();
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...d.headers };
    if (d.sign && cfg.signingSecret) Object.assign(headers, standardWebhookHeaders(cfg.signingSecret, d.id, d.body, startedAt));
    headers['x-hookah-attempt'] = String(n);

    let result: HttpResult | undefined;
    let error: string | undefined;
    const keepBytes = d.callback ? this.#rt.config.server.maxBodyBytes : cfg.responseExcerptBytes;
    const url = new URL(d.url);
    const refused = checkDestination(url, cfg.allowNetworks);
    if (refused) error = refused;
    else
      try {
        result = await performAttempt({
          url,
          method: d.method,
          headers,
          body: d.body,
          timeoutMs: d.timeoutMs,
          keepBytes,
          quickRetries: cfg.quickRetries,
          agent: this.#agent,
          cancel: this.#inFlight,
        });
      } catch (err) {
        error = (err as Error).message;
      }
    const finishedAt = Date.now();
    if (this.#stopping.signal.aborted && !result) return; // left in flight; resumed on next start

    const attempt: AttemptRecord = { n, startedAt, durationMs: finishedAt - startedAt };
    if (result) {
      attempt.status = result.status;
      if (cfg.responseExcerptBytes > 0 && result.body.length > 0) {
        attempt.responseExcerpt = result.body.subarray(0, cfg.responseExcerptBytes).toString('utf8');
      }
    }
    if (error) attempt.error = error;
    const outcome = this.#decide(d, n, result, error, refused !== undefined, finishedAt);
    // The errback or callback goes into the store in the same write as the
    // outcome, so a crash between the two cannot lose it.
    const followUp =
      outcome.status === 'delivered' && d.callback && result
        ? this.#followUp('callback', d.callback, d, callbackReport(d, result))
        : outcome.status === 'failed' && d.errback
          ? this.#followUp('errback', d.errback, d, errbackReport(d, n, outcome.error, result))
          : undefined;
    const followed = await this.#store.finishAttempt(d.id, attempt, outcome, followUp);
    if (outcome.status !== 'pending') this.#countDelta--;
    if (followUp && followed) this.#accepted(followUp, followed);

    const label = outcome.status === 'delivered' ? 'delivered' : result ? `http_${Math.floor(result.status / 100)}xx` : 'error';
    this.#metrics.attempts.inc({ kind: d.kind, outcome: label });
    this.#metrics.duration.observe({ kind: d.kind }, attempt.durationMs / 1000);
    if (outcome.status === 'delivered') {
      this.#metrics.finished.inc({ kind: d.kind, outcome: 'delivered' });
      this.#metrics.latency.observe({ kind: d.kind }, (finishedAt - d.createdAt) / 1000);
    } else if (outcome.status === 'failed') {
      this.#metrics.finished.inc({ kind: d.kind, outcome: 'failed' });
      this.#rt.log.warn({ module: 'dispatcher', id: d.id, url: d.url, attempts: n, error: outcome.error }, 'delivery failed for good');
    }

    if (outcome.status === 'pending') this.#wakeAt(outcome.nextAttemptAt);
    if (this.#outcomes.listenerCount('outcome') > 0) {
      this.#outcomes.emit('outcome', { record: toRecord(d, attempt, outcome), attempt, final: outcome.status !== 'pending' } satisfies DeliveryOutcome);
    }
  }

  #decide(d: PendingDelivery, n: number, result: HttpResult | undefined, error: string | undefined, blocked: boolean, now: number): AttemptResult {
    const cfg = this.#rt.config.dispatcher;
    if (result && result.status >= 200 && result.status < 300) return { status: 'delivered', at: now };
    let reason = error ?? `destination answered ${result!.status}`;
    if (blocked || (error && /refused to connect to .*only public addresses/.test(error))) return { status: 'failed', error: reason };
    if (result?.status === 410) return { status: 'failed', error: 'destination answered 410 Gone: it asked not to receive this again' };
    if (result && result.status >= 300 && result.status < 400) {
      reason = `destination answered ${result.status} redirect to ${result.headers.location ?? '(no location)'}; redirects are not followed`;
    }
    if (n >= d.maxAttempts) return { status: 'failed', error: `${reason} (gave up after ${n} attempt${n === 1 ? '' : 's'})` };
    let delay = retryDelay(cfg.retrySchedule, n, cfg.jitter);
    if (result && (result.status === 429 || result.status === 503)) {
      const after = parseRetryAfter(result.headers['retry-after'], now);
      if (after !== undefined) delay = Math.max(delay, Math.min(after, cfg.maxRetryAfter));
    }
    return { status: 'pending', nextAttemptAt: now + delay, error: reason };
  }

  /** Errbacks and callbacks are deliveries too: durable, retried, visible in the admin API. */
  #followUp(kind: 'callback' | 'errback', url: string, d: PendingDelivery, report: unknown): NewDelivery | undefined {
    try {
      return this.#newDelivery({
        kind,
        url,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify(report)),
        ref: d.id,
      });
    } catch (err) {
      // Checked at ingest too; only a narrowed allow-list since then gets here.
      this.#rt.log.error({ module: 'dispatcher', err, id: d.id, url }, `cannot send ${kind}`);
      return undefined;
    }
  }
}

/** The record as it stands after this attempt, built without a store read; `attempts` holds only this attempt. */
function toRecord(d: PendingDelivery, attempt: AttemptRecord, outcome: AttemptResult): DeliveryRecord {
  return {
    id: d.id,
    kind: d.kind,
    url: d.url,
    method: d.method,
    status: outcome.status,
    createdAt: d.createdAt,
    attemptCount: attempt.n,
    maxAttempts: d.maxAttempts,
    timeoutMs: d.timeoutMs,
    nextAttemptAt: outcome.status === 'pending' ? outcome.nextAttemptAt : undefined,
    deliveredAt: outcome.status === 'delivered' ? outcome.at : undefined,
    lastError: outcome.status === 'delivered' ? undefined : outcome.error,
    errback: d.errback,
    callback: d.callback,
    ref: d.ref,
    topic: d.topic,
    eventId: d.eventId,
    attempts: [attempt],
  };
}

function bodyField(body: Buffer, contentType: string | undefined): { body: string; body_encoding: 'utf8' | 'base64' } {
  const text = body.toString('utf8');
  const textual = !contentType || /^(text\/|application\/([\w.+-]*json|xml|x-www-form-urlencoded|javascript))/i.test(contentType);
  return textual && Buffer.from(text, 'utf8').equals(body) ? { body: text, body_encoding: 'utf8' } : { body: body.toString('base64'), body_encoding: 'base64' };
}

function callbackReport(d: PendingDelivery, r: HttpResult) {
  return {
    message_id: d.id,
    url: d.url,
    status: r.status,
    headers: r.headers,
    ...bodyField(r.body, r.headers['content-type']),
    body_truncated: r.truncated,
  };
}

function errbackReport(d: PendingDelivery, attempts: number, error: string, last?: HttpResult) {
  return {
    message_id: d.id,
    url: d.url,
    kind: d.kind,
    status: 'failed',
    attempts,
    error,
    last_response: last ? { status: last.status, ...bodyField(last.body, last.headers['content-type']) } : null,
    created_at: new Date(d.createdAt).toISOString(),
    failed_at: new Date().toISOString(),
  };
}

export function createDispatcher(rt: Runtime): Dispatcher {
  // The store comes with the storage driver (SQLite file or shared Redis).
  return new DeliveryEngine(rt, rt.stores.deliveries);
}
