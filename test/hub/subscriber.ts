import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * A WebSub subscriber on loopback that records and checks what a conformance
 * suite checks: the verification request's parameters, the content
 * notification's exact body, Content-Type, Link headers and X-Hub-Signature.
 */

export interface VerificationRequest {
  path: string;
  /** The callback's own query parameters plus the hub's. */
  query: URLSearchParams;
  /** The raw query string, to check the callback's own part was kept verbatim. */
  rawQuery: string;
  mode: string;
  topic: string | null;
  challenge: string | null;
  leaseSeconds: number | undefined;
  reason: string | null;
}

export interface Notification {
  path: string;
  rawQuery: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  contentType: string | undefined;
  links: { hub?: string; self?: string };
  signature: string | undefined;
}

/** How the callback answers a verification GET. */
export type VerifyBehaviour = 'echo' | 'wrong-echo' | 'refuse' | ((v: VerificationRequest) => { status: number; body: string });

export interface TestSubscriber {
  /** A callback URL on this subscriber; `query` is kept to check the hub preserves it. */
  callback(path?: string, query?: string): string;
  verifications: VerificationRequest[];
  denials: VerificationRequest[];
  notifications: Notification[];
  verifyWith(behaviour: VerifyBehaviour): void;
  /** Status answered to content notifications (default 200). */
  notifyStatus(status: number): void;
  waitForVerifications(n: number, timeoutMs?: number): Promise<VerificationRequest[]>;
  waitForDenials(n: number, timeoutMs?: number): Promise<VerificationRequest[]>;
  waitForNotifications(n: number, timeoutMs?: number): Promise<Notification[]>;
  sink: Sink;
  close(): Promise<void>;
}

export function parseLinks(header: string | undefined): { hub?: string; self?: string } {
  const out: { hub?: string; self?: string } = {};
  if (!header) return out;
  for (const m of header.matchAll(/<([^>]*)>\s*;\s*rel="?([^",;]+)"?/g)) {
    const rel = m[2]!;
    if (rel === 'hub' || rel === 'self') out[rel] = m[1]!;
  }
  return out;
}

/** Checks `X-Hub-Signature: <alg>=<hex>` over the exact body, as a subscriber must. */
export function verifyHubSignature(header: string | undefined, body: Buffer, secret: string): boolean {
  if (!header) return false;
  const [alg, hex] = header.split('=', 2) as [string, string | undefined];
  if (!['sha1', 'sha256', 'sha384', 'sha512'].includes(alg) || !hex) return false;
  const expected = createHmac(alg, secret).update(body).digest();
  const given = Buffer.from(hex, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function startSubscriber(): Promise<TestSubscriber> {
  const verifications: VerificationRequest[] = [];
  const denials: VerificationRequest[] = [];
  const notifications: Notification[] = [];
  let behaviour: VerifyBehaviour = 'echo';
  let notifyStatus = 200;

  const sink = await startSink((req, res) => {
    const [path, rawQuery = ''] = req.url.split(/\?(.*)/s) as [string, string?];
    if (req.method === 'GET') {
      const query = new URLSearchParams(rawQuery);
      const lease = query.get('hub.lease_seconds');
      const v: VerificationRequest = {
        path,
        query,
        rawQuery,
        mode: query.get('hub.mode') ?? '',
        topic: query.get('hub.topic'),
        challenge: query.get('hub.challenge'),
        leaseSeconds: lease === null ? undefined : Number(lease),
        reason: query.get('hub.reason'),
      };
      if (v.mode === 'denied') {
        denials.push(v);
        res.end('ok');
        return;
      }
      verifications.push(v);
      let answer: { status: number; body: string };
      if (behaviour === 'echo') answer = { status: 200, body: v.challenge ?? '' };
      else if (behaviour === 'wrong-echo') answer = { status: 200, body: `${v.challenge ?? ''}x` };
      else if (behaviour === 'refuse') answer = { status: 404, body: 'not subscribed here' };
      else answer = behaviour(v);
      res.statusCode = answer.status;
      res.setHeader('content-type', 'text/plain');
      res.end(answer.body);
      return;
    }
    const link = req.headers.link;
    notifications.push({
      path,
      rawQuery,
      headers: req.headers,
      body: req.body,
      contentType: req.headers['content-type'],
      links: parseLinks(Array.isArray(link) ? link.join(', ') : link),
      signature: req.headers['x-hub-signature'] as string | undefined,
    });
    res.statusCode = notifyStatus;
    res.end();
  });

  const waitLength = <T>(list: T[], n: number, what: string, timeoutMs = 8000) =>
    waitFor(() => (list.length >= n ? list.slice(0, n) : undefined), `${n} ${what} (got ${list.length})`, timeoutMs);

  return {
    callback: (path = '/callback', query) => `${sink.url}${path}${query ? `?${query}` : ''}`,
    verifications,
    denials,
    notifications,
    verifyWith: (b) => void (behaviour = b),
    notifyStatus: (s) => void (notifyStatus = s),
    waitForVerifications: (n, t) => waitLength(verifications, n, 'verification requests', t),
    waitForDenials: (n, t) => waitLength(denials, n, 'denial notices', t),
    waitForNotifications: (n, t) => waitLength(notifications, n, 'content notifications', t),
    sink,
    close: () => sink.close(),
  };
}

/** POSTs hub.* parameters form-encoded, the way WebSub subscribers and publishers do. */
export async function postForm(url: string, params: Record<string, string | string[]>): Promise<{ status: number; body: string; type: string | null }> {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}
