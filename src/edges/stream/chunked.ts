import type { Context } from 'koa';
import { badRequest } from '../../http/errors.ts';
import type { StreamDeps } from './deps.ts';
import { lengthDelimitedFraming, ndjsonFraming } from './framing.ts';
import { openHttpSubscriber } from './http-subscriber.ts';
import { parseResumeId, parseTopics, queryValue } from './params.ts';
import { serveSse } from './sse.ts';

export const NDJSON = 'application/x-ndjson';

/**
 * `GET /stream?topic=…`: the Twitter-style chunked stream, one envelope per
 * CRLF-terminated line (or length-prefixed with `delimited=length`). A client
 * asking for `text/event-stream` gets Server-Sent Events from the same URL.
 */
export async function serveStream(ctx: Context, deps: StreamDeps): Promise<void> {
  if (wantsEventStream(ctx)) return serveSse(ctx, deps);
  const patterns = parseTopics(ctx.query);
  const delimited = queryValue(ctx.query, 'delimited');
  if (delimited !== undefined && delimited !== 'length') throw badRequest(`'delimited' must be 'length', got '${delimited.slice(0, 40)}'`);
  const afterId = parseResumeId(ctx.query, ctx.req.headers);
  for (const topic of patterns) await deps.rt.auth.authorize(ctx, 'subscribe', topic);
  await openHttpSubscriber(ctx, deps, {
    kind: 'stream',
    framing: delimited === 'length' ? lengthDelimitedFraming : ndjsonFraming,
    contentType: NDJSON,
    patterns,
    afterId,
  });
}

function wantsEventStream(ctx: Context): boolean {
  return /\btext\/event-stream\b/i.test(ctx.get('accept'));
}
