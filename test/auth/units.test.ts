import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientIp, IpRanges } from '../../src/auth/client-ip.ts';
import { parseCredentials } from '../../src/auth/credentials.ts';
import { hashPassword, parsePasswordHash, verifyPassword } from '../../src/auth/password.ts';
import { patternCovers, permits } from '../../src/auth/permissions.ts';
import { TokenBuckets } from '../../src/auth/rate-limit.ts';
import { configuredTokenDigest, tokenDigest } from '../../src/auth/tokens.ts';
import { FAST } from './support.ts';

describe('password hashes', () => {
  it('round-trips the documented scrypt$N$r$p$salt$hash format', async () => {
    const stored = await hashPassword('correct horse', FAST);
    assert.match(stored, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    const parsed = parsePasswordHash(stored);
    assert.equal(await verifyPassword('correct horse', parsed), true);
    assert.equal(await verifyPassword('correct horsE', parsed), false);
    assert.equal(await verifyPassword('', parsed), false);
  });

  it('salts every hash', async () => {
    assert.notEqual(await hashPassword('same', FAST), await hashPassword('same', FAST));
  });

  it('accepts plain;; for bootstrapping', async () => {
    const parsed = parsePasswordHash('plain;;insecure');
    assert.equal(parsed.kind, 'plain');
    assert.equal(await verifyPassword('insecure', parsed), true);
    assert.equal(await verifyPassword('insecure2', parsed), false);
  });

  it('rejects malformed hashes and absurd scrypt parameters', () => {
    assert.throws(() => parsePasswordHash('sha512;salt;abc'), /scrypt\$N\$r\$p/);
    assert.throws(() => parsePasswordHash('scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA=='), /power of two/);
    assert.throws(() => parsePasswordHash(`scrypt$${2 ** 24}$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==`), /power of two from 2/);
    assert.throws(() => parsePasswordHash('scrypt$1024$64$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA=='), /r must be/);
  });
});

describe('tokens', () => {
  it('stores sha256:<hex> or a long plain token', () => {
    const t = 'hk_abcdefghijklmnopqrstuvwxyz';
    assert.equal(configuredTokenDigest(t), tokenDigest(t));
    assert.equal(configuredTokenDigest(`sha256:${tokenDigest(t).toUpperCase()}`), tokenDigest(t));
    assert.throws(() => configuredTokenDigest('short'), /at least 16/);
  });
});

describe('permission patterns', () => {
  it('covers topics and narrower patterns, never wider ones', () => {
    assert.equal(patternCovers('orders/#', 'orders/created'), true);
    assert.equal(patternCovers('orders/#', 'orders/+/eu'), true);
    assert.equal(patternCovers('orders/#', 'orders/#'), true);
    assert.equal(patternCovers('orders/+', 'orders/created'), true);
    assert.equal(patternCovers('orders/+', 'orders/#'), false);
    assert.equal(patternCovers('orders/+', 'orders/a/b'), false);
    assert.equal(patternCovers('orders/created', 'orders/+'), false);
    assert.equal(patternCovers('orders/#', '*'), false);
    assert.equal(patternCovers('#', '*'), true);
    assert.equal(patternCovers('*', 'anything/at/all'), true);
    assert.equal(patternCovers('billing', 'billing/x'), false);
  });

  it('matches dispatch URLs by catch-all or URL prefix at a path boundary', () => {
    const set = { publish: ['https://api.example.com/hooks/'], subscribe: [], read: [] };
    assert.equal(permits(set, 'publish', 'https://api.example.com/hooks/a'), true);
    assert.equal(permits(set, 'publish', 'https://api.example.com/hooksx'), false);
    assert.equal(permits(set, 'publish', 'https://evil.example.com/hooks/a'), false);
    assert.equal(permits({ publish: ['https://api.example.com'], subscribe: [], read: [] }, 'publish', 'https://api.example.com.evil.net/'), false);
    assert.equal(permits({ publish: ['*'], subscribe: [], read: [] }, 'publish', 'http://x/y'), true);
    assert.equal(permits({ publish: ['orders/#'], subscribe: [], read: [] }, 'publish', 'http://x/y'), false);
  });

  it('asks for any grant when no resource is named', () => {
    assert.equal(permits({ publish: [], subscribe: ['a'], read: [] }, 'subscribe', undefined), true);
    assert.equal(permits({ publish: [], subscribe: [], read: [] }, 'subscribe', undefined), false);
  });
});

describe('client address behind proxies', () => {
  const trusted = new IpRanges(['10.0.0.0/8', '::1/128']);

  it('ignores X-Forwarded-For from an untrusted peer', () => {
    assert.equal(clientIp('203.0.113.9', '1.2.3.4', trusted), '203.0.113.9');
  });

  it('walks trusted hops from the right', () => {
    assert.equal(clientIp('10.0.0.1', '1.2.3.4', trusted), '1.2.3.4');
    assert.equal(clientIp('10.0.0.1', 'spoofed, 198.51.100.7, 10.0.0.2', trusted), '198.51.100.7');
    assert.equal(clientIp('::ffff:10.0.0.1', '198.51.100.7', trusted), '198.51.100.7');
  });

  it('does not fall back to the proxy address on a garbled hop', () => {
    assert.equal(clientIp('10.0.0.1', 'not-an-ip', trusted), 'not-an-ip');
  });

  it('matches single addresses, CIDRs and IPv4-mapped peers', () => {
    const allow = new IpRanges(['192.0.2.1', '198.51.100.0/24']);
    assert.equal(allow.has('192.0.2.1'), true);
    assert.equal(allow.has('::ffff:192.0.2.1'), true);
    assert.equal(allow.has('192.0.2.2'), false);
    assert.equal(allow.has('198.51.100.200'), true);
    assert.equal(allow.has('garbage'), false);
  });
});

describe('credentials', () => {
  it('parses Basic, Bearer and access_token, and flags junk', () => {
    assert.deepEqual(parseCredentials(`Basic ${Buffer.from('a:b:c').toString('base64')}`, undefined), { kind: 'basic', user: 'a', password: 'b:c' });
    assert.deepEqual(parseCredentials('Bearer tok', 'other'), { kind: 'bearer', token: 'tok' });
    assert.deepEqual(parseCredentials(undefined, 'qtok'), { kind: 'bearer', token: 'qtok' });
    assert.equal(parseCredentials('Digest x', undefined).kind, 'malformed');
    assert.equal(parseCredentials('Basic !!!', undefined).kind, 'malformed');
    assert.equal(parseCredentials(undefined, undefined).kind, 'none');
  });
});

describe('token buckets', () => {
  it('allows a burst, then refills at the rate and says when to retry', () => {
    let now = 0;
    const b = new TokenBuckets({ rate: 2, burst: 3 }, 100, () => now);
    for (let i = 0; i < 3; i++) assert.deepEqual(b.take('k'), { ok: true });
    const refused = b.take('k');
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.retryAfterMs, 500);
    assert.equal(b.take('other').ok, true);
    now = 500;
    assert.equal(b.take('k').ok, true);
    assert.equal(b.take('k').ok, false);
  });

  it('keeps at most maxKeys buckets', () => {
    const b = new TokenBuckets({ rate: 1, burst: 1 }, 10);
    for (let i = 0; i < 100; i++) b.take(`k${i}`);
    assert.equal(b.size, 10);
  });
});
