import Router from '@koa/router';
import type { Context } from 'koa';
import { assertPublishKeyFits, publishOnce } from '../core/publish-once.ts';
import { QueueFullError, type DeliveryRequest } from '../dispatcher/types.ts';
import { readRawBody, keptHeaders } from '../http/body.ts';
import { HttpError } from '../http/errors.ts';
import type { Runtime } from '../runtime.ts';
import { isFormType, splitDispatchRequest } from './dispatch-body.ts';
import { fingerprintOf, ownKey } from './dispatch-idempotency.ts';
import type { Edge } from './edge.ts';
import { USER_AGENT } from '../version.ts';

/**
 * `POST /dispatch`: Hookah's original API. Apps hand over a webhook (and/or a
 * topic event) and get a 202 once it is on disk; the dispatcher delivers it.
 */


type Outcome = 'accepted' | 'duplicate' | 'rejected' | 'unauthorized' | 'too_large' | 'queue_full' | 'error';

function outcomeOf(err: unknown): Outcome {
  if (err instanceof QueueFullError) return 'queue_full';
  const status = err instanceof HttpError ? err.status : ((err as { status?: number }).status ?? 500);
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 413) return 'too_large';
  return status < 500 ? 'rejected' : 'error';
}

/** The request's Content-Encoding, unless absent or identity. */
function contentEncoding(ctx: Context): string | undefined {
  const value = ctx.get('content-encoding').trim();
  return value && value.toLowerCase() !== 'identity' ? value : undefined;
}

export function createDispatchEdge(rt: Runtime): Edge {
  const log = rt.log.child({ module: 'dispatch' });
  const requests = rt.metrics.counter('hookah_dispatch_requests_total', 'POST /dispatch requests by outcome', ['outcome']);
  const { dispatcher: limits } = rt.config;
  const publishKeys = rt.stores.publishKeys;
  const router = new Router();

  async function handle(ctx: Context): Promise<Outcome> {
    const requestEncoding = contentEncoding(ctx);
    if (requestEncoding && isFormType(ctx.get('content-type'))) {
      throw new HttpError(415, `Content-Encoding ${requestEncoding} cannot be used with a form body: Hookah reads its fields; send it unencoded, or as a raw body`);
    }
    const raw = await readRawBody(ctx, rt.config.server.maxBodyBytes);
    const split = splitDispatchRequest(ctx.get('content-type'), raw, ctx.querystring);
    const params = split.controls.parse(
      { maxAttempts: limits.maxAttempts, maxTimeoutMs: limits.maxTimeout, allowNetworks: limits.allowNetworks },
      ctx.get('idempotency-key') || undefined,
    );
    const { payload } = split;
    // Only a raw body is delivered as sent; a bodiless request's query form has nothing encoded.
    const encoding = split.form === 'raw' ? requestEncoding : undefined;

    if (params.topic !== undefined) {
      await rt.auth.authorize(ctx, 'publish', params.topic);
      await rt.auth.verifyInbound?.(ctx, params.topic, raw);
    }
    if (params.url !== undefined) await rt.auth.authorize(ctx, 'publish', params.url);
    const idem =
      params.idempotencyKey !== undefined ? { key: ownKey(ctx, params.idempotencyKey), fingerprint: fingerprintOf(params, split, encoding) } : undefined;
    // Before the topic publish below, so a refused message has had no effect at all.
    if (params.url !== undefined) await rt.dispatcher.assertRoom(idem?.key);
    if (idem !== undefined) {
      // The same key across both kinds of request: each half is refused before the other has an effect.
      if (params.topic !== undefined) await rt.dispatcher.assertKeyFits(idem.key, idem.fingerprint);
      else await assertPublishKeyFits(publishKeys, idem.key, idem.fingerprint);
    }

    let eventId: string | undefined;
    let duplicate = false;
    if (params.topic !== undefined) {
      const headers = keptHeaders(ctx.headers);
      delete headers['content-type'];
      if (payload.contentType) headers['content-type'] = payload.contentType;
      const event = {
        topic: params.topic,
        headers,
        contentType: payload.contentType ?? 'application/octet-stream',
        body: payload.body,
        source: 'dispatch',
        ...(params.event !== undefined ? { type: params.event } : {}),
      };
      ({ eventId, duplicate } = await publishOnce(rt.bus, publishKeys, event, idem && { ...idem, ttlMs: limits.idempotencyTtl }));
    }

    let messageId: string | undefined;
    if (params.url !== undefined) {
      const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...params.headers };
      if (payload.contentType) headers['content-type'] = payload.contentType;
      // A raw body is delivered as sent, so its encoding goes with it.
      if (encoding) headers['content-encoding'] ??= encoding;
      const request: DeliveryRequest = { kind: 'dispatch', url: params.url, method: params.method, headers, body: payload.body };
      if (params.maxAttempts !== undefined) request.maxAttempts = params.maxAttempts;
      if (params.timeoutMs !== undefined) request.timeoutMs = params.timeoutMs;
      if (params.errback !== undefined) request.errback = params.errback;
      if (params.callback !== undefined) request.callback = params.callback;
      if (idem !== undefined) {
        request.idempotencyKey = idem.key;
        request.idempotencyFingerprint = idem.fingerprint;
      }
      if (params.topic !== undefined) request.topic = params.topic;
      if (eventId !== undefined) request.eventId = eventId;
      const queued = await rt.dispatcher.enqueue(request);
      messageId = queued.id;
      duplicate ||= queued.duplicate;
    }

    const statusUrl = messageId !== undefined ? `${rt.publicUrl()}/messages/${encodeURIComponent(messageId)}` : null;
    const body: Record<string, unknown> = { id: messageId ?? eventId ?? null, status_url: statusUrl, duplicate };
    if (eventId !== undefined) body.event_id = eventId;
    ctx.status = 202;
    if (statusUrl) ctx.set('Location', statusUrl);
    ctx.body = body;
    log.debug({ id: messageId, eventId, topic: params.topic, url: params.url, form: split.form, duplicate }, 'dispatch accepted');
    return duplicate ? 'duplicate' : 'accepted';
  }

  router.post('/dispatch', async (ctx) => {
    let outcome: Outcome;
    try {
      outcome = await handle(ctx);
    } catch (err) {
      requests.inc({ outcome: outcomeOf(err) });
      throw err;
    }
    requests.inc({ outcome });
  });

  return { name: 'dispatch', router };
}
