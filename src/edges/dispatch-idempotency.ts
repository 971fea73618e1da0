import type { Context } from 'koa';
import { identityOf } from '../auth/identity.ts';
import { requestFingerprint } from '../core/idempotency.ts';
import type { SplitRequest } from './dispatch-body.ts';
import type { ControlParams } from './dispatch-params.ts';

/**
 * Idempotency keys are per user: another user's key of the same name must
 * neither return their message nor swallow this one. A user's keys are
 * prefixed with a control character, which keys sent by clients cannot hold;
 * anonymous keys (an open server) stay as they are.
 */
export function ownKey(ctx: Context, key: string): string {
  const user = identityOf(ctx).name;
  return user === '' ? key : `\x1f${user}\x1f${key}`;
}

/**
 * What an idempotency key stands for: the whole request, both halves (topic
 * and destination), but not what a client may vary between two encodings of
 * the same form (the multipart boundary).
 */
export function fingerprintOf(params: ControlParams, split: SplitRequest, encoding: string | undefined): string {
  const { payload } = split;
  return requestFingerprint(
    [
      params.method,
      params.url,
      params.topic,
      params.event,
      split.parts ? 'multipart/form-data' : payload.contentType,
      encoding,
      params.headers,
      params.errback,
      params.callback,
      String(params.maxAttempts ?? ''),
      String(params.timeoutMs ?? ''),
    ],
    split.parts ?? payload.body,
  );
}
