import type { Context } from 'koa';
import type { StreamDeps } from './deps.ts';
import { Feed } from './feed.ts';
import { httpTransport } from './http-transport.ts';
import type { StreamKind } from './metrics.ts';
import { Outbound, type Framing } from './outbound.ts';

export interface HttpSubscription {
  kind: Extract<StreamKind, 'stream' | 'sse'>;
  framing: Framing;
  contentType: string;
  patterns: string[];
  afterId: string | undefined;
  /** Written right after the headers (e.g. the SSE `retry:` hint). */
  preamble?: string;
}

/**
 * Turns the request into a long-lived streaming response. Everything that can
 * fail with a status code (validation, auth, the connection cap) must have
 * happened before this, because the 200 goes out here.
 */
export async function openHttpSubscriber(ctx: Context, deps: StreamDeps, sub: HttpSubscription): Promise<void> {
  const { rt, registry, metrics, log } = deps;
  const afterId = await deps.newest.resumeFrom(sub.afterId);
  // Checked with no await between here and registering the connection below.
  registry.check();
  if (ctx.method === 'HEAD') {
    // No body can follow a HEAD response, so there is nothing to stream.
    ctx.status = 200;
    ctx.type = sub.contentType;
    ctx.set('cache-control', 'no-cache, no-transform');
    return;
  }
  ctx.respond = false;
  const res = ctx.res;
  res.writeHead(200, {
    'content-type': sub.contentType,
    'cache-control': 'no-cache, no-transform',
    // Tells nginx-style proxies not to buffer the stream.
    'x-accel-buffering': 'no',
  });
  if (sub.preamble) res.write(sub.preamble);
  else res.flushHeaders();
  res.socket?.setNoDelay(true);

  const out = new Outbound(httpTransport(res), sub.framing, {
    kind: sub.kind,
    maxBufferBytes: rt.config.streams.maxBufferBytes,
    keepAliveMs: rt.config.streams.keepAlive,
    registry,
    metrics,
    log,
  });
  const feed = new Feed(rt.bus, sub.kind, out, rt.config.streams.maxBufferBytes);
  out.onGone(() => feed.stop());
  try {
    await feed.start(sub.patterns, afterId);
  } catch (err) {
    log.error({ err, topics: sub.patterns }, 'stream replay failed');
    out.end('internal error while replaying the backlog');
  }
}
