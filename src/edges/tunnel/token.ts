import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Channel (and gateway session) credentials: a random id that goes into URLs
 * and a random token that proves ownership. Only the token's hash is stored,
 * and it is compared in constant time.
 */

export const CHANNEL_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function newChannelId(): string {
  return randomUUID();
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function tokenMatches(presented: string | undefined, storedHash: string): boolean {
  if (!presented || presented.length > 512) return false;
  const a = Buffer.from(hashToken(presented), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The channel token from `X-Hookah-Channel-Token`, `?token=` or
 * `Authorization: Bearer`, in that order, so that a deployment with its own
 * access control can keep Authorization for the user's credential.
 */
export function presentedToken(req: IncomingMessage): string | undefined {
  const header = req.headers['x-hookah-channel-token'];
  if (typeof header === 'string' && header) return header;
  const query = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  if (query) return query;
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return m?.[1];
}
