import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Correlation ids route a third party's callback back to the session that
 * dispatched the request, without a lookup table: `<session>.<nonce>.<mac>`,
 * where the MAC is keyed with the session's stored token hash (never sent
 * anywhere). Knowing one callback URL does not let anyone mint another.
 */

const RE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22})$/;

function mac(key: string, session: string, nonce: string): Buffer {
  return createHmac('sha256', key).update(`${session}.${nonce}`).digest().subarray(0, 16);
}

export function newCorrelationId(session: string, key: string): string {
  const nonce = randomBytes(12).toString('base64url');
  return `${session}.${nonce}.${mac(key, session, nonce).toString('base64url')}`;
}

/** The session a correlation id claims to belong to, before its MAC is checked. */
export function correlationSession(id: string): string | undefined {
  return RE.exec(id)?.[1];
}

export function correlationValid(id: string, key: string): boolean {
  const m = RE.exec(id);
  if (!m) return false;
  const expected = mac(key, m[1]!, m[2]!);
  const given = Buffer.from(m[3]!, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
