import type { Context } from 'koa';
import { toEnvelope, type StoredEvent } from '../../core/event.ts';
import type { Connection } from './connections.ts';
import type { StreamDeps } from './deps.ts';
import { parseDurationParam, parseIntParam, parseResumeId, parseTopics } from './params.ts';

export const DEFAULT_POLL_LIMIT = 100;
export const MAX_POLL_LIMIT = 1000;

/**
 * `GET /poll?topic=…&since=<id>&timeout=<dur>`: answers at once with what is
 * newer than `since`, else waits (bounded) for the next message. Without
 * `since` only messages published after the request are returned.
 */
export async function servePoll(ctx: Context, deps: StreamDeps): Promise<void> {
  const { rt, registry, metrics } = deps;
  const cfg = rt.config.streams;
  const patterns = parseTopics(ctx.query);
  const requested = parseResumeId(ctx.query, ctx.req.headers);
  const timeoutMs = parseDurationParam(ctx.query, 'timeout', cfg.pollTimeout, cfg.maxPollTimeout);
  const limit = parseIntParam(ctx.query, 'limit', DEFAULT_POLL_LIMIT, 1, MAX_POLL_LIMIT);
  for (const topic of patterns) await rt.auth.authorize(ctx, 'subscribe', topic);

  let wake: (() => void) | undefined;
  const waiter: Connection = { kind: 'poll', end: () => wake?.() };
  registry.add(waiter);
  const arrived: StoredEvent[] = [];
  // Subscribed before reading, so a message published in between is not missed.
  const unsubscribe = rt.bus.subscribe(
    patterns,
    (event) => {
      if (arrived.length >= limit) return; // the rest is read from the log by the next poll
      arrived.push(event);
      // A tick's grace batches messages published together.
      if (arrived.length === 1) setImmediate(() => wake?.());
    },
    'poll',
  );
  try {
    const log = rt.stores.events;
    let messages: StoredEvent[] = [];
    let gap = false;
    let next: string | undefined;
    // One read of the newest id: a message stored between two reads would otherwise be skipped.
    const newest = await deps.newest.get();
    const since = deps.newest.clamp(requested, newest);
    if (since === undefined) {
      next = newest;
    } else if (newest === undefined || log.compareIds(since, newest) >= 0) {
      next = since; // up to date: nothing newer exists on any topic, so no gap either
    } else {
      const read = await log.read({ patterns, afterId: since, limit });
      messages = read.events;
      gap = read.gap;
      // Everything after `since` was dropped: move the cursor past the hole.
      next = messages.length === 0 && gap ? newest : since;
    }
    if (messages.length === 0 && !gap) {
      const newer = () => arrived.filter((e) => next === undefined || log.compareIds(e.id, next) > 0);
      if (newer().length === 0 && !registry.closing) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            ctx.res.off('close', done);
            wake = undefined;
            resolve();
          };
          const timer = setTimeout(done, timeoutMs);
          wake = done;
          // Client went away: stop waiting (the response is then discarded).
          ctx.res.once('close', done);
        });
      }
      messages = newer();
    }
    if (messages.length > 0) next = messages[messages.length - 1]!.id;
    metrics.sent.inc({ type: 'poll' }, messages.length);
    ctx.set('cache-control', 'no-store');
    ctx.body = { messages: messages.map(toEnvelope), next: next ?? null, gap };
  } finally {
    unsubscribe();
    registry.remove(waiter);
  }
}
