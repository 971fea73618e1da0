import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hubSignature, linkHeader } from '../../src/edges/hub/distribute.ts';
import { HubPolicy } from '../../src/edges/hub/policy.ts';
import { callbackWith } from '../../src/edges/hub/verify.ts';
import { parseConfig } from '../../src/config/load.ts';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';
import { parseLinks, postForm, startSubscriber, verifyHubSignature } from './subscriber.ts';

describe('WebSub hub: building blocks', () => {
  test('callbackWith keeps the callback’s query string and drops its fragment', () => {
    const p: [string, string][] = [['hub.mode', 'subscribe'], ['hub.topic', 'https://t.example/a?b=c&d']];
    const q = 'hub.mode=subscribe&hub.topic=https%3A%2F%2Ft.example%2Fa%3Fb%3Dc%26d';
    assert.equal(callbackWith('https://cb.example/x', p), `https://cb.example/x?${q}`);
    assert.equal(callbackWith('https://cb.example/x?a=1&b=%20', p), `https://cb.example/x?a=1&b=%20&${q}`);
    assert.equal(callbackWith('https://cb.example/x?', p), `https://cb.example/x?${q}`);
    assert.equal(callbackWith('https://cb.example/x?a=1&', p), `https://cb.example/x?a=1&${q}`);
    assert.equal(callbackWith('https://cb.example/x?a=1#frag', p), `https://cb.example/x?a=1&${q}`);
  });

  test('lease policy: default, clamping, never zero; bad configuration is refused', () => {
    const hub = (o: object) => parseConfig({ hub: o }).hub;
    const policy = new HubPolicy(hub({}));
    assert.equal(policy.leaseSeconds(undefined), 864_000);
    assert.equal(policy.leaseSeconds(0), 300);
    assert.equal(policy.leaseSeconds(10 ** 9), 2_592_000);
    assert.equal(new HubPolicy(hub({ minLease: 0, defaultLease: 0 })).leaseSeconds(0), 1);
    assert.throws(() => new HubPolicy(hub({ minLease: '2d', maxLease: '1d' })), /minLease/);
    assert.throws(() => new HubPolicy(hub({ allowCallbacks: ['(unclosed'] })), /hub\.allowCallbacks/);
    const strict = new HubPolicy(hub({ allowTopics: ['^https://a\\.example/'], allowCallbacks: ['^https://cb\\.example/'] }));
    assert.equal(strict.deniedReason('https://a.example/t', 'https://cb.example/1'), undefined);
    assert.match(strict.deniedReason('https://b.example/t', 'https://cb.example/1') ?? '', /topic/);
    assert.match(strict.deniedReason('https://a.example/t', 'https://evil.example/1') ?? '', /callback/);
  });

  test('X-Hub-Signature for every supported algorithm, and the Link header', () => {
    const body = Buffer.from('payload');
    for (const alg of ['sha1', 'sha256', 'sha384', 'sha512'] as const) {
      const sig = hubSignature(alg, 'k', body);
      assert.ok(sig.startsWith(`${alg}=`));
      assert.ok(verifyHubSignature(sig, body, 'k'));
    }
    const link = linkHeader('https://hub.example/hub', 'https://t.example/feed');
    assert.equal(link, '<https://hub.example/hub>; rel="hub", <https://t.example/feed>; rel="self"');
    assert.deepEqual(parseLinks(link), { hub: 'https://hub.example/hub', self: 'https://t.example/feed' });
  });
});

describe('WebSub hub: verification of intent is bounded', () => {
  let hookah: TestHookah;
  let callback: Sink;
  let target: Sink;

  before(async () => {
    hookah = await startTestHookah({ hub: { verifyTimeout: '300ms', signatureAlgorithm: 'sha512' }, server: { publicUrl: 'https://hub.example.com/' } });
    target = await startSink((req, res) => void res.end(new URLSearchParams(req.url.split('?')[1]).get('hub.challenge') ?? ''));
    callback = await startSink();
  });
  after(async () => {
    await hookah?.close();
    await callback?.close();
    await target?.close();
  });

  const syncSubscribe = (path: string, topic = 'https://t.example/bounded') =>
    postForm(`${hookah.url}/hub`, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': `${callback.url}${path}`, 'hub.verify': 'sync' });

  test('a callback that never answers fails within hub.verifyTimeout', async () => {
    callback.handle(() => {}); // never responds
    const started = Date.now();
    const res = await syncSubscribe('/hang');
    assert.equal(res.status, 409);
    assert.match(res.body, /within 300 ms/);
    assert.ok(Date.now() - started < 5000);
  });

  test('redirects are not followed', async () => {
    callback.handle((req, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${target.url}${req.url}`);
      res.end();
    });
    const res = await syncSubscribe('/redirect');
    assert.equal(res.status, 409);
    assert.match(res.body, /HTTP 302/);
    assert.equal(target.requests.length, 0);
  });

  test('an echo with anything more than the challenge fails, however long', async () => {
    callback.handle((req, res) => {
      const challenge = new URLSearchParams(req.url.split('?')[1]).get('hub.challenge') ?? '';
      res.end(challenge + 'x'.repeat(1024 * 1024));
    });
    const res = await syncSubscribe('/long');
    assert.equal(res.status, 409);
    assert.match(res.body, /did not echo/);
  });

  test('configured signature algorithm and public hub URL are used in notifications', async () => {
    const sub = await startSubscriber();
    try {
      const topic = 'https://t.example/sha512';
      const cb = sub.callback('/cb');
      const res = await postForm(`${hookah.url}/hub`, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': cb, 'hub.secret': 'k', 'hub.verify': 'sync' });
      assert.equal(res.status, 204, res.body);
      await hookah.runtime.bus.publish({ topic, headers: {}, contentType: 'text/plain', body: Buffer.from('x'), source: 'test' });
      const [note] = await sub.waitForNotifications(1);
      assert.match(note!.signature ?? '', /^sha512=[0-9a-f]{128}$/);
      assert.ok(verifyHubSignature(note!.signature, note!.body, 'k'));
      assert.equal(note!.links.hub, 'https://hub.example.com/hub');
    } finally {
      await sub.close();
    }
  });

  test('many subscribe requests for one callback are verified in arrival order', async () => {
    const sub = await startSubscriber();
    try {
      const topic = 'https://t.example/order';
      const cb = sub.callback('/cb/order');
      for (const mode of ['subscribe', 'unsubscribe', 'subscribe', 'unsubscribe']) {
        const res = await postForm(`${hookah.url}/hub`, { 'hub.mode': mode, 'hub.topic': topic, 'hub.callback': cb });
        assert.equal(res.status, 202);
      }
      const vs = await sub.waitForVerifications(4);
      assert.deepEqual(vs.map((v) => v.mode), ['subscribe', 'unsubscribe', 'subscribe', 'unsubscribe']);
      await waitFor(async () => (await hookah.runtime.stores.subscriptions.get(topic, cb)) === undefined, 'last request wins');
    } finally {
      await sub.close();
    }
  });
});
