import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashes in the config file. The stored form is
 * `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>` (scrypt is memory-hard, and
 * in node:crypto, so no native add-on is needed). `plain;;<password>` is
 * accepted only to bootstrap a user, as the original webhook queue allowed,
 * and is reported as insecure at start.
 */

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** 2^15 × 8 × 128 B = 32 MiB and tens of milliseconds per guess. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

/** Bounds on parameters read from a config file, so a typo cannot take the server down. */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

export type PasswordHash =
  | { kind: 'scrypt'; params: ScryptParams; salt: Buffer; hash: Buffer }
  | { kind: 'plain'; digest: Buffer };

export function parsePasswordHash(stored: string): PasswordHash {
  if (stored.startsWith('plain;;')) return { kind: 'plain', digest: sha256(stored.slice('plain;;'.length)) };
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') {
    throw new Error('password must be scrypt$N$r$p$salt$hash (from `hookah hash-password`) or plain;;<password>');
  }
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!isPowerOfTwo(N) || N < 2 || N > MAX_N) throw new Error(`scrypt N must be a power of two from 2 to ${MAX_N}`);
  if (!Number.isInteger(r) || r < 1 || r > MAX_R) throw new Error(`scrypt r must be 1-${MAX_R}`);
  if (!Number.isInteger(p) || p < 1 || p > MAX_P) throw new Error(`scrypt p must be 1-${MAX_P}`);
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8) throw new Error('scrypt salt must be at least 8 bytes');
  if (hash.length < 16 || hash.length > 128) throw new Error('scrypt hash must be 16-128 bytes');
  return { kind: 'scrypt', params: { N, r, p }, salt, hash };
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const hash = await derive(password, salt, params, KEY_LENGTH);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  if (stored.kind === 'plain') return timingSafeEqual(sha256(password), stored.digest);
  const candidate = await derive(password, stored.salt, stored.params, stored.hash.length);
  return timingSafeEqual(candidate, stored.hash);
}

/**
 * A hash nobody's password matches, with the cost of the real ones: checking
 * it for an unknown user spends the same time as for a known one, so
 * response time does not reveal which user names exist.
 */
export function decoyHash(like: PasswordHash | undefined): PasswordHash {
  const params = like?.kind === 'scrypt' ? like.params : DEFAULT_SCRYPT;
  return { kind: 'scrypt', params, salt: randomBytes(SALT_LENGTH), hash: randomBytes(KEY_LENGTH) };
}

function derive(password: string, salt: Buffer, { N, r, p }: ScryptParams, length: number): Promise<Buffer> {
  // Node refuses above maxmem (32 MiB by default); allow what the parameters need.
  const options: ScryptOptions = { N, r, p, maxmem: 128 * N * r * p + 2 * 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, length, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
