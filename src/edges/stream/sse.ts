import type { Context } from 'koa';
import type { StreamDeps } from './deps.ts';
import { sseFraming, sseRetry } from './framing.ts';
import { openHttpSubscriber } from './http-subscriber.ts';
import { parseIntParam, parseResumeId, parseTopics } from './params.ts';

/** Default reconnect delay hinted to EventSource clients (`retry:`). */
export const DEFAULT_RETRY_MS = 3000;

/**
 * Server-Sent Events: `id:` on every event (so the browser resumes with
 * Last-Event-ID), `event:` from the event's type, the envelope as `data:`.
 * A resume the backlog can no longer fully cover gets an `event: gap` first.
 */
export async function serveSse(ctx: Context, deps: StreamDeps): Promise<void> {
  const patterns = parseTopics(ctx.query);
  const afterId = parseResumeId(ctx.query, ctx.req.headers);
  const retry = parseIntParam(ctx.query, 'retry', DEFAULT_RETRY_MS, 100, 600_000);
  for (const topic of patterns) await deps.rt.auth.authorize(ctx, 'subscribe', topic);
  await openHttpSubscriber(ctx, deps, {
    kind: 'sse',
    framing: sseFraming,
    contentType: 'text/event-stream; charset=utf-8',
    patterns,
    afterId,
    preamble: sseRetry(retry),
  });
}
