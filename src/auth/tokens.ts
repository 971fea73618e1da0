import { createHash, randomBytes } from 'node:crypto';

/**
 * API (Bearer) tokens. The config stores `sha256:<hex>` of the token so that a
 * leaked config file does not leak usable tokens; a bare token is accepted
 * too. Tokens are high-entropy random strings, so a fast hash is enough (no
 * scrypt needed) and lookups by hash do not leak anything useful through
 * timing.
 */

const HASHED = /^sha256:([0-9a-fA-F]{64})$/;
export const MIN_PLAIN_TOKEN_LENGTH = 16;

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The hex digest a configured token entry stands for. */
export function configuredTokenDigest(entry: string): string {
  const m = HASHED.exec(entry);
  if (m) return m[1]!.toLowerCase();
  if (entry.length < MIN_PLAIN_TOKEN_LENGTH) {
    throw new Error(`a plain token must be at least ${MIN_PLAIN_TOKEN_LENGTH} characters (or give sha256:<hex>)`);
  }
  return tokenDigest(entry);
}

export function isHashedTokenEntry(entry: string): boolean {
  return HASHED.test(entry);
}

export function generateToken(): string {
  return `hk_${randomBytes(32).toString('base64url')}`;
}
