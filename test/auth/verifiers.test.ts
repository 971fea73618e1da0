import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sign as githubSign } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { parseConfig } from '../../src/config/load.ts';
import { startHookah } from '../../src/server.ts';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { basic, call, fastHash } from './support.ts';

/**
 * Every provider verifier with a valid, a tampered, an expired (where the
 * scheme has a timestamp) and a missing signature, through /hook/<topic>.
 * Signatures come from the providers' own libraries where the package list
 * has one (GitHub, Stripe, Standard Webhooks); Slack, Shopify and the generic
 * forms are signed with node:crypto exactly as their documentation describes.
 */

const GITHUB_SECRET = "It's a Secret to Everybody";
const STRIPE_SECRET = 'whsec_test_stripe_secret';
const SLACK_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const SHOPIFY_SECRET = 'shpss_shopify_secret';
const SW_SECRET = `whsec_${Buffer.from('standard-webhooks-key-0123456789').toString('base64')}`;
const HMAC_SECRET = 'generic-secret';
const nowSec = () => Math.floor(Date.now() / 1000);
const stripe = new Stripe('sk_test_not_used');

const PAYLOAD = JSON.stringify({ id: 'evt_1', amount: 4200, note: 'ünïcödé' });

describe('inbound webhook verifiers', () => {
  let h: TestHookah;

  before(async () => {
    h = await startTestHookah({
      auth: {
        verifiers: {
          gh: { type: 'github', secret: ['old-rotated-secret', GITHUB_SECRET] },
        },
        inbound: [
          { pattern: 'github/#', verifier: 'gh', public: true },
          { pattern: 'stripe', verifier: { type: 'stripe', secret: STRIPE_SECRET, tolerance: '5m' }, public: true },
          { pattern: 'slack', verifier: { type: 'slack', secret: SLACK_SECRET }, public: true },
          { pattern: 'shopify', verifier: { type: 'shopify', secret: SHOPIFY_SECRET }, public: true },
          { pattern: 'sw', verifier: { type: 'standard-webhooks', secret: SW_SECRET }, public: true },
          { pattern: 'hmac/hex', verifier: { type: 'hmac-sha256', header: 'X-Signature', prefix: 'sha256=', secret: HMAC_SECRET }, public: true },
          { pattern: 'hmac/b64', verifier: { type: 'hmac-sha512', header: 'X-Sig', encoding: 'base64', secret: HMAC_SECRET }, public: true },
          { pattern: 'gitlab', verifier: { type: 'token', header: 'X-Gitlab-Token', secret: 'gl-shared-secret' }, public: true },
          { pattern: 'private/#', verifier: { type: 'github', secret: GITHUB_SECRET } },
        ],
        users: [{ name: 'alice', password: await fastHash('alice-pass'), publish: ['private/#'] }],
      },
    });
  });
  after(() => h.close());

  const post = (topic: string, headers: Record<string, string>, body = PAYLOAD, auth?: string) =>
    call(h.url, `/hook/${topic}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, ...(auth ? { auth } : {}) });
  const stored = async (topic: string) => (await h.runtime.stores.events.read({ patterns: [topic], limit: 100 })).events.length;

  async function expectRejected(topic: string, headers: Record<string, string>, reason: RegExp, body = PAYLOAD) {
    const before = await stored(topic);
    const r = await post(topic, headers, body);
    assert.equal(r.status, 401, r.text);
    assert.match(r.json().error, reason);
    assert.equal(await stored(topic), before, 'a rejected webhook must not be stored');
  }

  describe('github (X-Hub-Signature-256)', () => {
    it('accepts a valid signature, with any secret of a rotation', async () => {
      const r = await post('github/push', { 'x-hub-signature-256': await githubSign(GITHUB_SECRET, PAYLOAD) });
      assert.equal(r.status, 200, r.text);
      const events = (await h.runtime.stores.events.read({ patterns: ['github/push'], limit: 10 })).events;
      assert.equal(events.at(-1)!.body.toString('utf8'), PAYLOAD);
      assert.equal((await post('github/push', { 'x-hub-signature-256': await githubSign('old-rotated-secret', PAYLOAD) })).status, 200);
    });
    it('rejects a tampered body', () =>
      githubSign(GITHUB_SECRET, PAYLOAD).then((sig) => expectRejected('github/push', { 'x-hub-signature-256': sig }, /does not match/, PAYLOAD.replace('4200', '1'))));
    it('rejects a signature made with another secret', async () =>
      expectRejected('github/push', { 'x-hub-signature-256': await githubSign('wrong', PAYLOAD) }, /does not match/));
    it('rejects a missing signature', () => expectRejected('github/push', {}, /github signature check failed for github\/push: missing x-hub-signature-256/));
  });

  describe('stripe (Stripe-Signature)', () => {
    const header = (timestamp: number, payload = PAYLOAD) => stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_SECRET, timestamp });
    it('accepts a fresh valid signature', async () => {
      assert.equal((await post('stripe', { 'stripe-signature': header(nowSec()) })).status, 200);
    });
    it('rejects a tampered body', () => expectRejected('stripe', { 'stripe-signature': header(nowSec()) }, /does not match/, `${PAYLOAD} `));
    it('rejects a valid signature older than the tolerance', () =>
      expectRejected('stripe', { 'stripe-signature': header(nowSec() - 600) }, /beyond the 300 s tolerance/));
    it('rejects a missing or malformed header', async () => {
      await expectRejected('stripe', {}, /missing Stripe-Signature/);
      await expectRejected('stripe', { 'stripe-signature': 'v1=abcd' }, /no t= timestamp/);
    });
  });

  describe('slack (X-Slack-Signature v0)', () => {
    const sign = (ts: number, body = PAYLOAD) => ({
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`,
    });
    it('accepts a fresh valid signature', async () => {
      assert.equal((await post('slack', sign(nowSec()))).status, 200);
    });
    it('rejects a tampered body', () => expectRejected('slack', sign(nowSec()), /does not match/, PAYLOAD.toUpperCase()));
    it('rejects an old timestamp (replay)', () => expectRejected('slack', sign(nowSec() - 6 * 60), /tolerance/));
    it('rejects a missing signature or timestamp', async () => {
      await expectRejected('slack', {}, /missing X-Slack-Signature/);
      await expectRejected('slack', { 'x-slack-signature': sign(nowSec())['x-slack-signature'] }, /missing X-Slack-Request-Timestamp/);
    });
  });

  describe('shopify (X-Shopify-Hmac-Sha256)', () => {
    const sign = (body = PAYLOAD) => ({ 'x-shopify-hmac-sha256': createHmac('sha256', SHOPIFY_SECRET).update(body).digest('base64') });
    it('accepts a valid signature', async () => {
      assert.equal((await post('shopify', sign())).status, 200);
    });
    it('rejects a tampered body', () => expectRejected('shopify', sign(), /does not match/, '{}'));
    it('rejects a missing signature', () => expectRejected('shopify', {}, /missing x-shopify-hmac-sha256/));
  });

  describe('standard webhooks (webhook-id / -timestamp / -signature)', () => {
    const wh = new Webhook(SW_SECRET);
    const sign = (id: string, at: Date, body = PAYLOAD) => ({
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': wh.sign(id, at, body),
    });
    it('accepts a fresh valid signature (and svix-* header names)', async () => {
      assert.equal((await post('sw', sign('msg_1', new Date()))).status, 200);
      const s = sign('msg_2', new Date());
      const svix = { 'svix-id': s['webhook-id'], 'svix-timestamp': s['webhook-timestamp'], 'svix-signature': s['webhook-signature'] };
      assert.equal((await post('sw', svix)).status, 200);
    });
    it('rejects a tampered body or id', async () => {
      await expectRejected('sw', sign('msg_3', new Date()), /does not match/, '{"id":"evt_2"}');
      await expectRejected('sw', { ...sign('msg_4', new Date()), 'webhook-id': 'msg_5' }, /does not match/);
    });
    it('rejects an expired timestamp', () => expectRejected('sw', sign('msg_6', new Date(Date.now() - 10 * 60_000)), /tolerance/));
    it('rejects missing headers', () => expectRejected('sw', {}, /missing webhook-id/));
  });

  describe('generic hmac and shared token', () => {
    it('hmac-sha256 hex with a prefix: valid, tampered, missing, wrong prefix', async () => {
      const sig = `sha256=${createHmac('sha256', HMAC_SECRET).update(PAYLOAD).digest('hex')}`;
      assert.equal((await post('hmac/hex', { 'x-signature': sig })).status, 200);
      assert.equal((await post('hmac/hex', { 'x-signature': sig.toUpperCase().replace('SHA256=', 'sha256=') })).status, 200, 'hex is case-insensitive');
      await expectRejected('hmac/hex', { 'x-signature': sig }, /does not match/, 'other');
      await expectRejected('hmac/hex', {}, /missing X-Signature/);
      await expectRejected('hmac/hex', { 'x-signature': sig.slice(7) }, /must start with sha256=/);
    });
    it('hmac-sha512 base64: valid, tampered, not base64', async () => {
      const sig = createHmac('sha512', HMAC_SECRET).update(PAYLOAD).digest('base64');
      assert.equal((await post('hmac/b64', { 'x-sig': sig })).status, 200);
      await expectRejected('hmac/b64', { 'x-sig': sig }, /does not match/, 'x');
      await expectRejected('hmac/b64', { 'x-sig': '%%%' }, /not base64/);
    });
    it('token: exact match only', async () => {
      assert.equal((await post('gitlab', { 'x-gitlab-token': 'gl-shared-secret' })).status, 200);
      await expectRejected('gitlab', { 'x-gitlab-token': 'gl-shared-secreT' }, /does not match/);
      await expectRejected('gitlab', {}, /missing X-Gitlab-Token/);
    });
  });

  describe('with users configured', () => {
    it('a public rule lets a signed webhook in without user credentials', async () => {
      assert.equal((await post('github/x', { 'x-hub-signature-256': await githubSign(GITHUB_SECRET, PAYLOAD) })).status, 200);
    });
    it('a non-public rule needs credentials and a valid signature', async () => {
      const sig = { 'x-hub-signature-256': await githubSign(GITHUB_SECRET, PAYLOAD) };
      assert.equal((await post('private/x', sig)).status, 401);
      assert.equal((await post('private/x', {}, PAYLOAD, basic('alice', 'alice-pass'))).status, 401);
      assert.equal((await post('private/x', sig, PAYLOAD, basic('alice', 'alice-pass'))).status, 200);
    });
    it('applies to /dispatch topics too', async () => {
      const r = await call(h.url, '/dispatch?_topic=github/dispatch', { method: 'POST', body: PAYLOAD, headers: { 'x-hub-signature-256': await githubSign('nope', PAYLOAD) } });
      assert.equal(r.status, 401);
    });
    it('counts outcomes in metrics', async () => {
      const m = await h.runtime.metrics.registry.getSingleMetricAsString('hookah_inbound_verifications_total');
      assert.match(m, /verifier="github",outcome="failed"/);
      assert.match(m, /verifier="stripe",outcome="ok"/);
    });
  });
});

describe('verifier configuration', () => {
  it('refuses to start when a verifier name or secret env var is missing', async () => {
    // Refused before storage opens, so nothing is created on disk.
    const start = (auth: object) => startHookah(parseConfig({ storage: { path: ':memory:' }, log: { level: 'silent' }, server: { port: 0 }, auth }));
    await assert.rejects(start({ inbound: [{ pattern: 'x', verifier: 'nope' }] }), /no verifier named "nope"/);
    await assert.rejects(start({ inbound: [{ pattern: 'x', verifier: { type: 'github', secretEnv: 'HOOKAH_TEST_UNSET_SECRET' } }] }), /HOOKAH_TEST_UNSET_SECRET/);
    await assert.rejects(start({ users: [{ name: 'a', password: 'md5;;x' }] }), /auth.users\[0\] \(a\).password/);
    await assert.rejects(start({ users: [{ name: 'a' }] }), /give a password or at least one token/);
  });

  it('reads a secret from the environment', async () => {
    process.env.HOOKAH_TEST_GH_SECRET = 'from-env';
    const h = await startTestHookah({ auth: { inbound: [{ pattern: 'gh', verifier: { type: 'github', secretEnv: 'HOOKAH_TEST_GH_SECRET' }, public: true }] } });
    try {
      const r = await call(h.url, '/hook/gh', { method: 'POST', body: 'x', headers: { 'x-hub-signature-256': await githubSign('from-env', 'x') } });
      assert.equal(r.status, 200);
    } finally {
      await h.close();
      delete process.env.HOOKAH_TEST_GH_SECRET;
    }
  });
});
