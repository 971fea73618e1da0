import { randomBytes } from 'node:crypto';
import type { HubHttp } from './http-client.ts';

export interface IntentCheck {
  mode: 'subscribe' | 'unsubscribe';
  callback: string;
  topic: string;
  /** Sent (and required by the spec) for subscribe only. */
  leaseSeconds?: number;
  verifyToken?: string;
}

export type IntentResult = { ok: true } | { ok: false; reason: string };

/** Room for a subscriber's error page in the log; a correct echo is far shorter. */
const EXTRA_BODY_BYTES = 1024;

/**
 * Appends hub.* parameters to the callback, keeping the callback's own query
 * string byte for byte (the subscriber may route on it).
 */
export function callbackWith(callback: string, params: [string, string][]): string {
  const base = callback.split('#')[0]!;
  const sep = !base.includes('?') ? '?' : /[?&]$/.test(base) ? '' : '&';
  return base + sep + params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
}

/**
 * Verification of intent: a GET to the callback with a fresh, single-use
 * challenge. Only a 2xx whose body is exactly the challenge confirms it;
 * anything else (other status, other body, redirect, timeout) is a refusal.
 * One attempt: a subscriber whose callback is down simply subscribes again.
 */
export async function verifyIntent(http: HubHttp, check: IntentCheck, timeoutMs: number): Promise<IntentResult> {
  const challenge = randomBytes(24).toString('base64url');
  const params: [string, string][] = [
    ['hub.mode', check.mode],
    ['hub.topic', check.topic],
    ['hub.challenge', challenge],
  ];
  if (check.mode === 'subscribe' && check.leaseSeconds !== undefined) params.push(['hub.lease_seconds', String(check.leaseSeconds)]);
  if (check.verifyToken !== undefined) params.push(['hub.verify_token', check.verifyToken]);
  const expected = Buffer.from(challenge, 'utf8');
  let res;
  try {
    res = await http.get(callbackWith(check.callback, params), { timeoutMs, maxBytes: expected.length + EXTRA_BODY_BYTES });
  } catch (err) {
    return { ok: false, reason: `callback unreachable: ${(err as Error).message}` };
  }
  if (res.status < 200 || res.status > 299) return { ok: false, reason: `callback answered HTTP ${res.status}` };
  if (!res.body.equals(expected)) return { ok: false, reason: 'callback did not echo hub.challenge exactly' };
  return { ok: true };
}

/** Tells the subscriber its subscription was refused. Best effort: the answer is not checked. */
export async function notifyDenied(http: HubHttp, callback: string, topic: string, reason: string, timeoutMs: number): Promise<void> {
  const url = callbackWith(callback, [
    ['hub.mode', 'denied'],
    ['hub.topic', topic],
    ['hub.reason', reason],
  ]);
  await http.get(url, { timeoutMs, maxBytes: EXTRA_BODY_BYTES });
}
