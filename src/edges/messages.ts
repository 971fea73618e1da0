import Router from '@koa/router';
import type { AttemptRecord, DeliveryKind, DeliveryRecord, DeliveryStatus, DeliverySummary } from '../dispatcher/types.ts';
import { HttpError, badRequest } from '../http/errors.ts';
import { limitParam } from '../http/query.ts';
import type { Runtime } from '../runtime.ts';
import type { Edge } from './edge.ts';

/**
 * Admin view of the delivery queue: one message with its attempts, lists by
 * status, and "resend now". JSON keys are snake_case like the rest of the
 * HTTP API.
 */

const STATUSES: readonly DeliveryStatus[] = ['pending', 'in_flight', 'delivered', 'failed'];
const KINDS: readonly DeliveryKind[] = ['dispatch', 'websub', 'errback', 'callback', 'tunnel', 'gateway'];
const MAX_LIMIT = 500;
const DEFAULT_LIMIT = 50;
const MAX_ID_LENGTH = 128;

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

function attemptJson(a: AttemptRecord) {
  return {
    n: a.n,
    started_at: iso(a.startedAt),
    duration_ms: a.durationMs,
    status: a.status ?? null,
    error: a.error ?? null,
    response_excerpt: a.responseExcerpt ?? null,
  };
}

/** The list omits attempts (up to 100 per message, each with a response excerpt) to stay small. */
function summaryJson(r: DeliverySummary) {
  return {
    id: r.id,
    kind: r.kind,
    url: r.url,
    method: r.method,
    status: r.status,
    created_at: iso(r.createdAt),
    attempt_count: r.attemptCount,
    max_attempts: r.maxAttempts,
    timeout_ms: r.timeoutMs,
    next_attempt_at: r.status === 'pending' || r.status === 'in_flight' ? iso(r.nextAttemptAt) : null,
    delivered_at: iso(r.deliveredAt),
    last_error: r.lastError ?? null,
    errback: r.errback ?? null,
    callback: r.callback ?? null,
    topic: r.topic ?? null,
    event_id: r.eventId ?? null,
    ref: r.ref ?? null,
  };
}

export function messageJson(r: DeliveryRecord) {
  return { ...summaryJson(r), attempts: r.attempts.map(attemptJson) };
}

function messageId(raw: string | undefined): string {
  if (!raw || raw.length > MAX_ID_LENGTH) throw badRequest(`message id must be 1-${MAX_ID_LENGTH} characters`);
  return raw;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw badRequest(`${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

export function createMessagesEdge(rt: Runtime): Edge {
  const router = new Router();

  router.get('/messages', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin');
    const q = ctx.query;
    const status = oneOf('status', q.status, STATUSES);
    const kind = oneOf('kind', q.kind, KINDS);
    const limit = limitParam(q.limit, DEFAULT_LIMIT, MAX_LIMIT);
    let beforeId: string | undefined;
    if (q.before !== undefined) {
      if (typeof q.before !== 'string') throw badRequest('before must be given once');
      beforeId = messageId(q.before);
    }
    const records = await rt.dispatcher.list({ limit, ...(status ? { status } : {}), ...(kind ? { kind } : {}), ...(beforeId ? { beforeId } : {}) });
    const last = records.at(-1);
    ctx.body = { messages: records.map(summaryJson), next: records.length === limit && last ? last.id : null };
  });

  router.get('/messages/:id', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin');
    const id = messageId(ctx.params.id);
    const record = await rt.dispatcher.get(id);
    if (!record) throw new HttpError(404, `no message with id ${id}`);
    ctx.body = messageJson(record);
  });

  router.post('/messages/:id/retry', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin');
    const id = messageId(ctx.params.id);
    const record = await rt.dispatcher.get(id);
    if (!record) throw new HttpError(404, `no message with id ${id}`);
    if (record.status === 'delivered') throw new HttpError(409, `message ${id} was already delivered`);
    if (!(await rt.dispatcher.retryNow(id))) {
      // It was delivered (or removed) between the read and the retry.
      const now = await rt.dispatcher.get(id);
      if (!now) throw new HttpError(404, `no message with id ${id}`);
      throw new HttpError(409, `message ${id} was already delivered`);
    }
    ctx.status = 202;
    ctx.body = { id, status: 'pending' };
  });

  return { name: 'messages', router };
}
