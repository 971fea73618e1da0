import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { startSink, type Sink } from '../helpers/sink.ts';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { waitFor } from '../helpers/wait.ts';
import type { DeliveryRecord } from '../../src/dispatcher/types.ts';
import { checkDestination, createGuardedAgent } from '../../src/dispatcher/ssrf.ts';
import { DeliveryEngine } from '../../src/dispatcher/engine.ts';
import type { DeliveryStore } from '../../src/dispatcher/ports.ts';
import { createLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { SqliteDeliveryStore } from '../../src/store/sqlite/delivery-store.ts';
import { openSqlite } from '../../src/store/sqlite/open.ts';

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const SECRET = 'whsec_' + Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');

async function settled(h: TestHookah, id: string, timeoutMs = 8000): Promise<DeliveryRecord> {
  return waitFor(async () => {
    const r = await h.runtime.dispatcher.get(id);
    return r && (r.status === 'delivered' || r.status === 'failed') ? r : undefined;
  }, `delivery ${id} to finish`, timeoutMs);
}

describe('delivery engine', () => {
  let h: TestHookah;
  let sink: Sink;
  before(async () => {
    h = await startTestHookah({ dispatcher: { signingSecret: SECRET, retrySchedule: [0, 30, 60, 90], timeout: 2000, perHostConcurrency: 2, concurrency: 8 } });
    sink = await startSink();
  });
  after(async () => {
    await h.close();
    await sink.close();
  });

  it('delivers the body byte-exact with its headers', async () => {
    const body = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    const before = sink.requests.length;
    const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: `${sink.url}/exact`, headers: { 'content-type': 'application/octet-stream', 'x-custom': 'yes' }, body });
    const record = await settled(h, id);
    assert.equal(record.status, 'delivered');
    const got = sink.requests.slice(before).find((r) => r.url === '/exact')!;
    assert.equal(got.method, 'POST');
    assert.deepEqual(got.body, body);
    assert.equal(got.headers['content-type'], 'application/octet-stream');
    assert.equal(got.headers['x-custom'], 'yes');
    assert.equal(got.headers['x-hookah-attempt'], '1');
    assert.equal(record.attempts.length, 1);
    assert.equal(record.attempts[0]!.status, 200);
    assert.equal(record.attempts[0]!.responseExcerpt, 'ok');
  });

  it('signs with Standard Webhooks headers that the standardwebhooks library verifies', async () => {
    const payload = json({ hello: 'world', n: 1 });
    const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: `${sink.url}/signed`, headers: { 'content-type': 'application/json' }, body: payload });
    await settled(h, id);
    const got = sink.requests.find((r) => r.url === '/signed')!;
    assert.equal(got.headers['webhook-id'], id);
    const verified = new Webhook(SECRET).verify(got.body.toString(), got.headers as Record<string, string>);
    assert.deepEqual(verified, { hello: 'world', n: 1 });
    const tampered = { ...got.headers, 'webhook-id': 'msg_other' } as unknown as Record<string, string>;
    assert.throws(() => new Webhook(SECRET).verify(got.body.toString(), tampered));
  });

  it('retries failures on the schedule until the destination answers 2xx', async () => {
    const failing = await startSink();
    let calls = 0;
    failing.handle((_r, res) => {
      calls++;
      res.statusCode = calls <= 2 ? 500 : 200;
      res.end(calls <= 2 ? 'boom' : 'fine');
    });
    try {
      const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: failing.url, headers: {}, body: json({ a: 1 }) });
      const record = await settled(h, id);
      assert.equal(record.status, 'delivered');
      assert.deepEqual(record.attempts.map((a) => a.status), [500, 500, 200]);
      assert.equal(record.attempts[0]!.responseExcerpt, 'boom');
      assert.deepEqual(failing.requests.map((r) => r.headers['x-hookah-attempt']), ['1', '2', '3']);
    } finally {
      await failing.close();
    }
  });

  it('gives up after the last attempt and POSTs the errback report', async () => {
    const failing = await startSink((_r, res) => {
      res.statusCode = 502;
      res.end('bad gateway');
    });
    const errback = await startSink();
    try {
      const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: failing.url, headers: {}, body: json({}), maxAttempts: 3, errback: `${errback.url}/eb` });
      const record = await settled(h, id);
      assert.equal(record.status, 'failed');
      assert.equal(record.attemptCount, 3);
      assert.match(record.lastError!, /502.*gave up after 3 attempts/);
      const [report] = await errback.waitForRequests(1);
      const body = JSON.parse(report!.body.toString());
      assert.equal(body.message_id, id);
      assert.equal(body.status, 'failed');
      assert.equal(body.attempts, 3);
      assert.equal(body.last_response.status, 502);
      assert.equal(body.last_response.body, 'bad gateway');
      const failed = await h.runtime.dispatcher.list({ status: 'failed', limit: 50 });
      assert.ok(failed.some((r) => r.id === id));
    } finally {
      await failing.close();
      await errback.close();
    }
  });

  it('stops at once on 410 Gone and records why', async () => {
    const gone = await startSink((_r, res) => {
      res.statusCode = 410;
      res.end();
    });
    try {
      const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: gone.url, headers: {}, body: json({}) });
      const record = await settled(h, id);
      assert.equal(record.status, 'failed');
      assert.equal(record.attemptCount, 1);
      assert.match(record.lastError!, /410 Gone/);
      assert.equal(gone.requests.length, 1);
    } finally {
      await gone.close();
    }
  });

  for (const status of [429, 503]) {
    it(`honours Retry-After on ${status}`, async () => {
      let calls = 0;
      const busy = await startSink((_r, res) => {
        calls++;
        if (calls === 1) {
          res.writeHead(status, { 'retry-after': '1' });
          res.end();
        } else res.end('ok');
      });
      try {
        const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: busy.url, headers: {}, body: json({}) });
        const record = await settled(h, id, 10_000);
        assert.equal(record.status, 'delivered');
        const [first, second] = busy.requests;
        // The schedule says 30 ms; Retry-After says 1 s, and wins.
        assert.ok(second!.at - first!.at >= 950, `second attempt came ${second!.at - first!.at} ms after the first`);
      } finally {
        await busy.close();
      }
    });
  }

  it('does not follow redirects', async () => {
    const redirect = await startSink((_r, res) => {
      res.writeHead(302, { location: `${sink.url}/elsewhere` });
      res.end();
    });
    try {
      const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: redirect.url, headers: {}, body: json({}), maxAttempts: 1 });
      const record = await settled(h, id);
      assert.equal(record.status, 'failed');
      assert.match(record.lastError!, /302 redirect.*not followed/);
      assert.ok(!sink.requests.some((r) => r.url === '/elsewhere'));
    } finally {
      await redirect.close();
    }
  });

  it('times out a hanging destination per attempt', async () => {
    const hang = await startSink(() => undefined);
    try {
      const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: hang.url, headers: {}, body: json({}), maxAttempts: 1, timeoutMs: 200 });
      const record = await settled(h, id);
      assert.equal(record.status, 'failed');
      assert.match(record.attempts[0]!.error!, /timed out after 200 ms/);
    } finally {
      await hang.close();
    }
  });

  it('retries connection errors and reports them', async () => {
    const gone = await startSink();
    const url = gone.url;
    await gone.close();
    const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url, headers: {}, body: json({}), maxAttempts: 2 });
    const record = await settled(h, id);
    assert.equal(record.status, 'failed');
    assert.match(record.attempts[0]!.error!, /ECONNREFUSED/);
  });

  it('POSTs the destination response to the callback', async () => {
    const api = await startSink((_r, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-reply': 'r1' });
      res.end('{"created":true}');
    });
    const cb = await startSink();
    try {
      const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: api.url, headers: {}, body: json({}), callback: cb.url });
      const [report] = await cb.waitForRequests(1);
      const body = JSON.parse(report!.body.toString());
      assert.equal(body.message_id, id);
      assert.equal(body.status, 201);
      assert.equal(body.headers['x-reply'], 'r1');
      assert.equal(body.body, '{"created":true}');
      assert.equal(body.body_encoding, 'utf8');
    } finally {
      await api.close();
      await cb.close();
    }
  });

  it('delivers an idempotency key only once', async () => {
    const before = sink.requests.filter((r) => r.url === '/idem').length;
    const a = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: `${sink.url}/idem`, headers: {}, body: json({}), idempotencyKey: 'k-1' });
    const b = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: `${sink.url}/idem`, headers: {}, body: json({}), idempotencyKey: 'k-1' });
    assert.equal(a.id, b.id);
    assert.equal(b.duplicate, true);
    await settled(h, a.id);
    assert.equal(sink.requests.filter((r) => r.url === '/idem').length - before, 1);
  });

  it('keeps one slow host from starving the others', async () => {
    const release: Array<() => void> = [];
    const slow = await startSink((_r, res) => void release.push(() => res.end('late')));
    try {
      // Three times what the engine claims ahead (2 × concurrency 8): before per-host claim caps, these filled every claim.
      const slowIds = [];
      for (let i = 0; i < 48; i++) slowIds.push((await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: slow.url, headers: {}, body: json({ i }) })).id);
      await waitFor(() => slow.requests.length >= 2, 'the slow host to hold its two slots');
      const stats = await h.runtime.dispatcher.stats();
      assert.equal(stats.inFlight, 4, 'the slow host holds 2 × perHostConcurrency claims, no more');
      const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: `${sink.url}/fast`, headers: {}, body: json({}) });
      const record = await settled(h, id);
      assert.equal(record.status, 'delivered');
      // perHostConcurrency is 2: the slow host never had more than two requests open.
      assert.equal(slow.requests.length, 2);
      while (release.length || slow.requests.length < 48) {
        release.shift()?.();
        await waitFor(() => release.length > 0 || slow.requests.length >= 48, 'next slow request');
      }
      release.forEach((r) => r());
      for (const sid of slowIds) assert.equal((await settled(h, sid)).status, 'delivered');
    } finally {
      release.forEach((r) => r());
      await slow.close();
    }
  });

  it('resends a failed message on retryNow', async () => {
    let ok = false;
    const flaky = await startSink((_r, res) => {
      res.statusCode = ok ? 200 : 500;
      res.end();
    });
    try {
      const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: flaky.url, headers: {}, body: json({}), maxAttempts: 1 });
      assert.equal((await settled(h, id)).status, 'failed');
      ok = true;
      assert.equal(await h.runtime.dispatcher.retryNow(id), true);
      const record = await waitFor(async () => {
        const r = await h.runtime.dispatcher.get(id);
        return r?.status === 'delivered' ? r : undefined;
      }, 'the resend to be delivered');
      assert.equal(record.attemptCount, 2);
      assert.equal(await h.runtime.dispatcher.retryNow(id), false);
      assert.equal(await h.runtime.dispatcher.retryNow('msg_unknown'), false);
    } finally {
      await flaky.close();
    }
  });
});

describe('SSRF guard', () => {
  it('refuses literal non-global destinations at enqueue unless allow-listed', async () => {
    const h = await startTestHookah({ dispatcher: { allowNetworks: ['192.168.7.0/24'] } });
    try {
      for (const url of ['http://127.0.0.1/', 'http://10.1.2.3/', 'http://169.254.169.254/latest', 'http://100.64.0.1/', 'http://[::1]/', 'http://[fd00::1]/', 'http://localhost:8080/', 'http://localhost./', 'http://api.localhost./', 'http://0.0.0.0/', 'ftp://example.com/']) {
        await assert.rejects(h.runtime.dispatcher.enqueue({ kind: 'dispatch', url, headers: {}, body: Buffer.alloc(0) }), RangeError, url);
      }
      // An allow-listed range passes the check (checked directly: nothing may ever connect off loopback).
      assert.equal(checkDestination(new URL('http://192.168.7.9/'), ['192.168.7.0/24']), undefined);
      assert.match(checkDestination(new URL('http://192.168.8.9/'), ['192.168.7.0/24'])!, /private address/);
    } finally {
      await h.close();
    }
  });

  it('checks the resolved address at connect time, so DNS names cannot sneak past', async () => {
    const sink = await startSink();
    const port = new URL(sink.url).port;
    const blocked = createGuardedAgent([]);
    const allowed = createGuardedAgent(['127.0.0.0/8']);
    try {
      await assert.rejects(request(`http://localhost:${port}/`, { dispatcher: blocked }), (err: Error & { cause?: Error }) => /loopback address/.test(`${err.message} ${err.cause?.message ?? ''}`));
      const res = await request(`http://localhost:${port}/`, { dispatcher: allowed });
      assert.equal(res.statusCode, 200);
      await res.body.text();
      assert.equal(sink.requests.length, 1);
    } finally {
      await blocked.close();
      await allowed.close();
      await sink.close();
    }
  });
});

describe('store outage', () => {
  let h: TestHookah;
  before(async () => {
    h = await startTestHookah();
  });
  after(async () => {
    await h.close();
  });

  it('logs a failing claim once per outage, and its end, not once per poll', async () => {
    const lines: { msg: string }[] = [];
    const log = createLogger(
      'info',
      new Writable({
        write(chunk, _enc, done) {
          for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { msg: string });
          done();
        },
      }),
    );
    // A store of its own (not the server's, whose in-flight work this engine's start-up would take back),
    // real except that its first claims fail as during an outage.
    let failures = 5;
    const db = openSqlite(join(h.dir, 'outage.db'));
    const real = new SqliteDeliveryStore(db);
    const flaky = new Proxy(real, {
      get(target, key) {
        if (key === 'claimDue') {
          return async (...args: Parameters<DeliveryStore['claimDue']>) => {
            if (failures > 0) {
              failures--;
              throw new Error('store unreachable');
            }
            return target.claimDue(...args);
          };
        }
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    // Its own metrics registry: the server's engine has registered the same names.
    const engine = new DeliveryEngine({ ...h.runtime, log, metrics: new Metrics() }, flaky);
    engine.start();
    try {
      await waitFor(() => lines.some((l) => l.msg === 'claiming deliveries works again'), 'claims to work again');
      assert.equal(failures, 0, 'every failing claim was retried on the poll interval');
      assert.equal(lines.filter((l) => l.msg.startsWith('claiming deliveries failed')).length, 1);
    } finally {
      await engine.stop(1000);
      db.close();
    }
  });
});

describe('leases', () => {
  let h: TestHookah;
  let sink: Sink;
  before(async () => {
    // Lease = max(lease, maxTimeout × (quickRetries + 2)) = 1 s, while the last of four claimed
    // deliveries waits about 1.2 s behind the others for the one connection to its host.
    h = await startTestHookah({ dispatcher: { concurrency: 2, perHostConcurrency: 1, timeout: '500ms', maxTimeout: '500ms', quickRetries: 0, lease: '1s' } });
    sink = await startSink(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 400)); // a slow receiver, part of the scenario
      res.end('ok');
    });
  });
  after(async () => {
    await h.close();
    await sink.close();
  });

  it('a delivery waiting behind others to its host keeps its lease and is sent once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: `${sink.url}/lease/${i}`, headers: {}, body: Buffer.from(String(i)) })).id);
    for (const id of ids) assert.equal((await settled(h, id, 15_000)).status, 'delivered');
    await waitFor(async () => {
      const s = await h.runtime.dispatcher.stats();
      return s.pending === 0 && s.inFlight === 0;
    }, 'the queue to drain');
    const paths = sink.requests.map((r) => r.url).filter((u) => u.startsWith('/lease/'));
    assert.deepEqual([...paths].sort(), ids.map((_, i) => `/lease/${i}`).sort(), 'each delivery reached the sink exactly once');
  });
});

describe('claims per host', () => {
  it('finds due work of other hosts behind a capped host\'s backlog in the store', async () => {
    const release: Array<() => void> = [];
    const slow = await startSink((_r, res) => void release.push(() => res.end('late')));
    const fast = await startSink();
    // Claims 4 at a time (2 × concurrency), at most 2 per host: the backlog below fills the first claim's window.
    const h = await startTestHookah({ dispatcher: { concurrency: 2, perHostConcurrency: 1, pollInterval: '50ms' } });
    try {
      const store = h.runtime.stores.deliveries;
      const row = (url: string) => ({ kind: 'dispatch' as const, url, method: 'POST', headers: {}, body: Buffer.from('x'), maxAttempts: 1, timeoutMs: 5000, sign: false, nextAttemptAt: Date.now() });
      for (let i = 0; i < 30; i++) await store.insert(row(`${slow.url}/s${i}`));
      const { id } = await store.insert(row(`${fast.url}/behind`));
      assert.equal((await settled(h, id)).status, 'delivered');
      assert.equal(slow.requests.length, 1, 'the slow host kept its one connection');
      assert.equal((await h.runtime.dispatcher.stats()).inFlight, 2, 'and its two claims');
    } finally {
      await h.close(); // gives the slow host's claims back
      release.forEach((r) => r());
      await slow.close();
      await fast.close();
    }
  });
});

describe('claim rounds', () => {
  it('sending to a host at its cap costs no claim round per message, and its backlog still drains as it answers', async () => {
    const release: Array<() => void> = [];
    const slow = await startSink((_r, res) => void release.push(() => res.end('ok')));
    const h = await startTestHookah({ dispatcher: { concurrency: 4, perHostConcurrency: 2 } });
    const db = openSqlite(join(h.dir, 'rounds.db'));
    const real = new SqliteDeliveryStore(db);
    let claims = 0;
    const counting = new Proxy(real, {
      get(target, key) {
        const value = Reflect.get(target, key) as unknown;
        if (key === 'claimDue') return (...args: Parameters<DeliveryStore['claimDue']>) => (claims++, target.claimDue(...args));
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const engine = new DeliveryEngine({ ...h.runtime, metrics: new Metrics() }, counting);
    engine.start();
    try {
      await waitFor(() => claims >= 1, 'the start-up claim');
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push((await engine.enqueue({ kind: 'dispatch', url: `${slow.url}/r${i}`, headers: {}, body: Buffer.from('x') })).id);
      await waitFor(() => release.length === 2, 'the two open requests');
      // The first four are taken as they are stored (2 × perHostConcurrency), the rest wait for the host.
      assert.ok(claims <= 3, `${claims} claim rounds for 40 messages to a capped host`);
      while (slow.requests.length < 40 || release.length > 0) {
        release.shift()?.();
        await waitFor(() => release.length > 0 || slow.requests.length >= 40, 'the next request to the slow host');
      }
      await waitFor(async () => (await real.stats()).delivered === 40, 'all 40 delivered');
      assert.ok(claims < 40, `a claim round when half the host's claims are done, not one per answer (${claims})`);
    } finally {
      release.forEach((r) => r());
      await engine.stop(1000);
      db.close();
      await h.close();
      await slow.close();
    }
  });
});

describe('claims behind hanging hosts', () => {
  it('keeps claiming for a fast host while hanging hosts hold most of the slots', async () => {
    const hold: Array<() => void> = [];
    const hanging = await Promise.all([0, 1, 2].map(() => startSink((_r, res) => void hold.push(() => res.end('ok')))));
    const fast = await startSink();
    // Claims 8 at a time, 2 per host: the three hanging hosts take 6 and keep them.
    const h = await startTestHookah({ dispatcher: { concurrency: 4, perHostConcurrency: 1, pollInterval: '200ms' } });
    const db = openSqlite(join(h.dir, 'hanging.db'));
    const store = new SqliteDeliveryStore(db);
    const row = (url: string, at: number) => ({ kind: 'dispatch' as const, url, method: 'POST', headers: {}, body: Buffer.from('x'), maxAttempts: 1, timeoutMs: 30_000, sign: false, nextAttemptAt: at });
    let at = Date.now() - 10_000;
    for (const s of hanging) for (let i = 0; i < 2; i++) await store.insert(row(`${s.url}/h${i}`, at++));
    for (let i = 0; i < 10; i++) await store.insert(row(`${fast.url}/f${i}`, at++));
    const engine = new DeliveryEngine({ ...h.runtime, metrics: new Metrics() }, store);
    engine.start();
    try {
      await fast.waitForRequests(10, 5000);
      assert.equal(hold.length, 3, 'while each hanging host still has its one request open');
    } finally {
      hold.forEach((r) => r());
      await engine.stop(1000);
      db.close();
      await h.close();
      for (const s of [...hanging, fast]) await s.close();
    }
  });
});

describe('graceful stop', () => {
  let sink: Sink;
  before(async () => {
    sink = await startSink(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 300)); // an answer still on its way when the stop begins
      res.end('ok');
    });
  });
  after(async () => {
    await sink.close();
  });

  /** Stops a fresh server, with `timeoutMs` to drain, during an attempt the sink answers after 300 ms; answers the record then. */
  async function stopDuringAttempt(path: string, timeoutMs: number): Promise<DeliveryRecord | undefined> {
    const h = await startTestHookah();
    try {
      const { id } = await h.runtime.dispatcher.enqueue({ kind: 'dispatch', url: `${sink.url}${path}`, headers: {}, body: Buffer.from('x') });
      await waitFor(() => sink.requests.some((r) => r.url === path), 'the attempt to reach the sink');
      await h.runtime.dispatcher.stop(timeoutMs);
      return await h.runtime.dispatcher.get(id);
    } finally {
      await h.close();
    }
  }

  it('lets an attempt under way finish and records it, within the timeout', async () => {
    const record = await stopDuringAttempt('/drain', 5000);
    assert.equal(record?.status, 'delivered');
    assert.equal(record?.attempts.length, 1);
  });

  it('past the timeout, cuts the attempt off and gives the delivery back, unrecorded, for the next start', async () => {
    const record = await stopDuringAttempt('/cut', 10);
    assert.equal(record?.status, 'pending', 'given back, not left in flight');
    assert.equal(record?.attempts.length, 0);
  });
});
