import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Inbound webhook signature checks. Each provider's verifier recomputes the
 * signature over the exact raw body and compares in constant time; several
 * secrets may be configured during a rotation and any one of them verifies.
 */

export interface SignedRequest {
  /** Header value by (case-insensitive) name; undefined when absent. */
  header(name: string): string | undefined;
  body: Buffer;
  /** Milliseconds since the epoch, for timestamp tolerance. */
  now: number;
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

export interface Verifier {
  readonly type: string;
  verify(req: SignedRequest): VerifyResult;
}

export const OK: VerifyResult = { ok: true };
export const fail = (reason: string): VerifyResult => ({ ok: false, reason });

export type HmacAlgorithm = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export function hmac(algorithm: HmacAlgorithm, key: string | Buffer, ...parts: (string | Buffer)[]): Buffer {
  const h = createHmac(algorithm, key);
  for (const part of parts) h.update(part);
  return h.digest();
}

/** Constant-time for equal lengths; a length mismatch is no secret (digest sizes are public). */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** True when `given` equals the digest under any of the secrets. */
export function matchesAny(given: Buffer, secrets: readonly (string | Buffer)[], digest: (secret: string | Buffer) => Buffer): boolean {
  let found = false;
  // Every secret is tried even after a match, so timing does not say which one it was.
  for (const secret of secrets) found = safeEqual(given, digest(secret)) || found;
  return found;
}

export function decodeHex(text: string): Buffer | undefined {
  return /^(?:[0-9a-fA-F]{2})+$/.test(text) ? Buffer.from(text, 'hex') : undefined;
}

export function decodeBase64(text: string): Buffer | undefined {
  return /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) ? Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64') : undefined;
}

/** Checks a Unix timestamp (seconds) against the tolerance, both ways (clock skew). */
export function checkTimestamp(raw: string | undefined, now: number, toleranceMs: number, what: string): VerifyResult {
  if (raw === undefined || !/^\d{1,12}$/.test(raw)) return fail(`${what} is missing or not a Unix timestamp`);
  const skew = Math.abs(now - Number(raw) * 1000);
  if (skew > toleranceMs) return fail(`${what} is ${Math.round(skew / 1000)} s away from now, beyond the ${Math.round(toleranceMs / 1000)} s tolerance`);
  return OK;
}
