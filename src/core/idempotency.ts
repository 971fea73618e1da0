import { createHash } from 'node:crypto';

/**
 * A digest of what makes a request the message it is, kept with its
 * idempotency key: a repeat of the key with another digest is a client reusing
 * a key for a new message, which is refused rather than silently dropped.
 */
export function requestFingerprint(
  fields: ReadonlyArray<string | Readonly<Record<string, string>> | undefined>,
  body: Buffer | readonly Buffer[],
): string {
  const canonical = fields.map((f) => (f !== undefined && typeof f === 'object' ? Object.entries(f).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : (f ?? null)));
  const hash = createHash('sha256').update(JSON.stringify(canonical));
  if (Buffer.isBuffer(body)) return hash.update(body).digest('base64url');
  // Each part behind its length, so no two different lists of parts hash alike.
  const length = Buffer.alloc(4);
  for (const part of body) {
    length.writeUInt32BE(part.length);
    hash.update(length).update(part);
  }
  return hash.digest('base64url');
}

/** An idempotency key came back with a different request (its fingerprint differs): answered 422. */
export class IdempotencyConflictError extends Error {
  override name = 'IdempotencyConflictError';
  readonly status = 422;
  readonly expose = true;
  constructor() {
    super('this idempotency key (_id / Idempotency-Key) was already used for a different request within dispatcher.idempotencyTtl; use a new key for a new message');
  }
}
