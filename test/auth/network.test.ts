import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestHookah } from '../helpers/hookah.ts';
import { basic, bearer, call, fastHash } from './support.ts';

const TOKEN_A = 'hk_rate_limit_token_a_0123456789';
const TOKEN_B = 'hk_rate_limit_token_b_0123456789';

describe('IP allow-lists', () => {
  const inbound = [
    { pattern: 'partners/#', allowIps: ['192.0.2.0/24', '2001:db8::/32'], public: true },
    { pattern: 'local/#', allowIps: ['127.0.0.1'], public: true },
  ];
  const hook = (base: string, topic: string, xff?: string) =>
    call(base, `/hook/${topic}`, { method: 'POST', body: 'x', headers: xff ? { 'x-forwarded-for': xff } : {} });

  it('without a trusted proxy: the peer address counts and X-Forwarded-For is ignored', async () => {
    const h = await startTestHookah({ auth: { inbound } });
    try {
      assert.equal((await hook(h.url, 'local/a')).status, 200);
      const refused = await hook(h.url, 'partners/a');
      assert.equal(refused.status, 403);
      assert.match(refused.json().error, /source address 127\.0\.0\.1 may not publish to partners\/a/);
      assert.equal((await hook(h.url, 'partners/a', '192.0.2.10')).status, 403, 'a client cannot claim an address');
      assert.equal((await h.runtime.stores.events.read({ patterns: ['partners/#'], limit: 10 })).events.length, 0);
    } finally {
      await h.close();
    }
  });

  it('behind a trusted proxy: the forwarded client address counts', async () => {
    const h = await startTestHookah({ server: { trustedProxies: ['127.0.0.0/8'] }, auth: { inbound } });
    try {
      assert.equal((await hook(h.url, 'partners/a', '192.0.2.10')).status, 200);
      assert.equal((await hook(h.url, 'partners/a', '2001:db8::5')).status, 200);
      assert.equal((await hook(h.url, 'partners/a', '203.0.113.1')).status, 403);
      // The left-most entry is whatever the client sent; only the proxy's own hop is believed.
      assert.equal((await hook(h.url, 'partners/a', '192.0.2.10, 203.0.113.1')).status, 403);
      assert.equal((await hook(h.url, 'local/a', '203.0.113.1')).status, 403, 'the proxy itself is not the client');
    } finally {
      await h.close();
    }
  });
});

describe('rate limits on ingest', () => {
  it('per source IP: 429 with Retry-After once the burst is spent, reads unaffected', async () => {
    const h = await startTestHookah({ rateLimit: { perIp: { rate: 0.01, burst: 2 } }, queues: { list: [{ name: 'jobs' }] } });
    try {
      const publish = () => call(h.url, '/dispatch?_topic=t', { method: 'POST', body: 'x' });
      assert.equal((await publish()).status, 202);
      assert.equal((await publish()).status, 202);
      const limited = await publish();
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1, `Retry-After: ${limited.headers.get('retry-after')}`);
      assert.match(limited.json().error, /too many requests from 127\.0\.0\.1/);
      assert.equal((await call(h.url, '/hook/t', { method: 'POST', body: 'x' })).status, 429, 'every ingest edge shares the bucket');
      const queued = await call(h.url, '/q/jobs', { method: 'POST', body: 'x' });
      assert.equal(queued.status, 429);
      assert.equal(queued.json().refresh, false);
      assert.ok(queued.headers.get('retry-after'));
      assert.equal((await call(h.url, '/topics/t/messages')).status, 200);
      assert.equal((await h.runtime.stores.events.read({ patterns: ['t'], limit: 10 })).events.length, 2);
    } finally {
      await h.close();
    }
  });

  it('charges a request publishing to a topic and a URL once', async () => {
    const h = await startTestHookah({ rateLimit: { perIp: { rate: 0.01, burst: 1 } } });
    try {
      const r = await call(h.url, `/dispatch?_topic=t&_url=${encodeURIComponent('http://127.0.0.1:9/x')}`, { method: 'POST', body: 'x' });
      assert.equal(r.status, 202, r.text);
    } finally {
      await h.close();
    }
  });

  it('per token: one credential is limited, another is not', async () => {
    const h = await startTestHookah({
      auth: {
        users: [
          { name: 'a', tokens: [TOKEN_A], publish: ['#'] },
          { name: 'b', tokens: [TOKEN_B], publish: ['#'] },
        ],
      },
      rateLimit: { perToken: { rate: 0.01, burst: 1 } },
    });
    try {
      const publish = (token: string) => call(h.url, '/hook/t', { method: 'POST', body: 'x', auth: bearer(token) });
      assert.equal((await publish(TOKEN_A)).status, 200);
      const limited = await publish(TOKEN_A);
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      assert.equal((await publish(TOKEN_B)).status, 200);
    } finally {
      await h.close();
    }
  });

  it('throttles failed logins per IP before hashing any more passwords', async () => {
    const h = await startTestHookah({
      auth: { users: [{ name: 'a', password: await fastHash('right-pass'), read: ['#'] }] },
      rateLimit: { authFailures: { rate: 0.01, burst: 2 } },
    });
    try {
      const get = (password: string) => call(h.url, '/topics', { auth: basic('a', password) });
      assert.equal((await get('wrong1')).status, 401);
      assert.equal((await get('wrong2')).status, 401);
      const limited = await get('wrong3');
      assert.equal(limited.status, 429);
      assert.ok(limited.headers.get('retry-after'));
      assert.equal((await get('right-pass')).status, 429, 'even the right password waits while the IP is throttled');
    } finally {
      await h.close();
    }
  });
});
