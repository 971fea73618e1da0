import { createHash } from 'node:crypto';

/**
 * A digest of what makes a request the message it is, kept with its
 * idempotency key: a repeat of the key with another digest is a client reusing
 * a key for a new message, which is refused rather than silently dropped.
 */
export function requestFingerprint(fields: ReadonlyArray<string | Readonly<Record<string, string>> | undefined>, body: Buffer): string {
  const canonical = fields.map((f) => (f !== undefined && typeof f === 'object' ? Object.entries(f).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : (f ?? null)));
  return createHash('sha256').update(JSON.stringify(canonical)).update(body).digest('base64url');
}
