import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { waitFor } from '../helpers/wait.ts';
import { postForm, startSubscriber, verifyHubSignature, type TestSubscriber } from './subscriber.ts';

/** What a WebSub conformance suite checks of a hub's subscription handling and content distribution. */
describe('WebSub hub: subscriptions', () => {
  let hookah: TestHookah;
  let sub: TestSubscriber;
  let hubUrl: string;
  let n = 0;
  /** A fresh topic per test so tests do not see each other's deliveries. */
  const freshTopic = () => `https://publisher.example/topic-${++n}`;

  before(async () => {
    hookah = await startTestHookah();
    hubUrl = `${hookah.url}/hub`;
    sub = await startSubscriber();
  });
  after(async () => {
    await hookah?.close();
    await sub?.close();
  });

  const store = () => hookah.runtime.stores.subscriptions;
  const verificationsOf = (topic: string) => sub.verifications.filter((v) => v.topic === topic);
  const notificationsOf = (topic: string) => sub.notifications.filter((v) => v.links.self === topic);

  async function subscribe(topic: string, callback: string, extra: Record<string, string | string[]> = {}) {
    const res = await postForm(hubUrl, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': callback, ...extra });
    assert.equal(res.status, 202, res.body);
    await waitFor(() => store().get(topic, callback), `subscription to ${topic}`, 8000);
  }

  /** Publishes content directly (fat ping) and returns the event id. */
  async function fatPing(topic: string, contentType: string, body: string | Buffer): Promise<string> {
    const res = await fetch(`${hubUrl}?hub.mode=publish&hub.topic=${encodeURIComponent(topic)}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { id: string }).id;
  }

  /** Deliveries are enqueued before the publish is acknowledged, so this count is final once the ping returns. */
  async function deliveriesOf(eventId: string) {
    const list = await hookah.runtime.dispatcher.list({ kind: 'websub', limit: 1000 });
    return list.filter((d) => d.eventId === eventId);
  }

  test('subscribe: 202 at once, then a verification GET with mode, topic, a fresh challenge and the lease, on the callback’s own query string', async () => {
    const topic = freshTopic();
    const callback = sub.callback('/cb/verify', 'id=7&name=a%20b');
    await subscribe(topic, callback);
    const [v] = verificationsOf(topic);
    assert.ok(v);
    assert.equal(v.path, '/cb/verify');
    assert.ok(v.rawQuery.startsWith('id=7&name=a%20b&'), `callback query kept verbatim: ${v.rawQuery}`);
    assert.equal(v.query.get('id'), '7');
    assert.equal(v.mode, 'subscribe');
    assert.equal(v.topic, topic);
    assert.ok(v.challenge && v.challenge.length >= 16, 'challenge is long and random');
    assert.equal(v.leaseSeconds, 10 * 86_400, 'default lease is 10 days');
    const stored = await store().get(topic, callback);
    assert.equal(stored?.leaseSeconds, 10 * 86_400);

    // A second verification never reuses the challenge.
    await subscribe(topic, callback);
    await waitFor(() => verificationsOf(topic).length === 2, 'second verification');
    const [a, b] = verificationsOf(topic);
    assert.notEqual(a!.challenge, b!.challenge);
  });

  test('the requested lease is clamped into [minLease, maxLease]', async () => {
    const short = freshTopic();
    await subscribe(short, sub.callback('/cb/short'), { 'hub.lease_seconds': '1' });
    assert.equal(verificationsOf(short)[0]!.leaseSeconds, 300);
    const long = freshTopic();
    await subscribe(long, sub.callback('/cb/long'), { 'hub.lease_seconds': '999999999' });
    assert.equal(verificationsOf(long)[0]!.leaseSeconds, 30 * 86_400);
    const asked = freshTopic();
    await subscribe(asked, sub.callback('/cb/asked'), { 'hub.lease_seconds': '3600' });
    assert.equal(verificationsOf(asked)[0]!.leaseSeconds, 3600);
    const s = await store().get(asked, sub.callback('/cb/asked'));
    assert.ok(s && Math.abs(s.expiresAt - (s.verifiedAt + 3600_000)) < 5);
  });

  test('text/plain content: exact body, exact Content-Type, Link rel=hub and rel=self, no signature without a secret', async () => {
    const topic = freshTopic();
    const callback = sub.callback('/cb/text', 'k=v');
    await subscribe(topic, callback);
    const body = 'hello, subscriber\nline two  with  spaces\n';
    await fatPing(topic, 'text/plain; charset=utf-8', body);
    const [note] = await waitFor(() => (notificationsOf(topic).length ? notificationsOf(topic) : undefined), 'text notification');
    assert.ok(note);
    assert.equal(note.path, '/cb/text');
    assert.equal(note.rawQuery, 'k=v', 'notifications go to the callback URL as given');
    assert.equal(note.body.toString('utf8'), body);
    assert.equal(note.contentType, 'text/plain; charset=utf-8');
    assert.equal(note.links.hub, hubUrl);
    assert.equal(note.links.self, topic);
    assert.equal(note.signature, undefined);
    assert.equal(note.headers['webhook-signature'], undefined, 'no Standard Webhooks headers on WebSub notifications');
  });

  test('JSON content with a secret: exact bytes and a valid X-Hub-Signature (sha256)', async () => {
    const topic = freshTopic();
    const secret = 'correct horse battery staple';
    await subscribe(topic, sub.callback('/cb/json'), { 'hub.secret': secret });
    const body = Buffer.from('{"b": 2,  "a": [1, 2, 3], "unicode": "é✓"}');
    await fatPing(topic, 'application/json', body);
    const [note] = await waitFor(() => (notificationsOf(topic).length ? notificationsOf(topic) : undefined), 'json notification');
    assert.ok(note);
    assert.ok(note.body.equals(body));
    assert.equal(note.contentType, 'application/json');
    assert.match(note.signature ?? '', /^sha256=[0-9a-f]{64}$/);
    assert.ok(verifyHubSignature(note.signature, note.body, secret), 'signature verifies over the exact body');
    assert.ok(!verifyHubSignature(note.signature, note.body, 'wrong secret'));
  });

  test('a re-subscribe replaces the subscription: exactly one delivery, with the new secret', async () => {
    const topic = freshTopic();
    const callback = sub.callback('/cb/resub');
    await subscribe(topic, callback, { 'hub.secret': 'old-secret' });
    const first = await store().get(topic, callback);
    const res = await postForm(hubUrl, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': callback, 'hub.secret': 'new-secret' });
    assert.equal(res.status, 202);
    await waitFor(async () => (await store().get(topic, callback))?.secret === 'new-secret', 'secret replaced');
    assert.equal((await store().get(topic, callback))?.id, first?.id);
    assert.equal((await store().list({ topic, limit: 10 })).length, 1);

    const eventId = await fatPing(topic, 'text/plain', 'once');
    assert.equal((await deliveriesOf(eventId)).length, 1);
    const [note] = await waitFor(() => (notificationsOf(topic).length ? notificationsOf(topic) : undefined), 'resub notification');
    assert.ok(verifyHubSignature(note!.signature, note!.body, 'new-secret'));
  });

  test('unsubscribe: verified with hub.mode=unsubscribe and no lease, then nothing is delivered', async () => {
    const topic = freshTopic();
    const callback = sub.callback('/cb/unsub');
    await subscribe(topic, callback);
    const res = await postForm(hubUrl, { 'hub.mode': 'unsubscribe', 'hub.topic': topic, 'hub.callback': callback });
    assert.equal(res.status, 202);
    await waitFor(async () => (await store().get(topic, callback)) === undefined, 'unsubscribed');
    const v = verificationsOf(topic).find((x) => x.mode === 'unsubscribe');
    assert.ok(v);
    assert.equal(v.leaseSeconds, undefined);
    assert.equal(v.topic, topic);
    const eventId = await fatPing(topic, 'text/plain', 'nobody home');
    assert.equal((await deliveriesOf(eventId)).length, 0);
  });

  test('unknown extra parameters are ignored', async () => {
    const topic = freshTopic();
    await subscribe(topic, sub.callback('/cb/extra'), { 'hub.foo': 'bar', extra: '1', 'hub.lease_seconds': '600' });
    assert.equal(verificationsOf(topic)[0]!.leaseSeconds, 600);
  });

  test('hub.secret of 200 bytes or more is a 400 with a plain-text reason; 199 bytes is accepted', async () => {
    const topic = freshTopic();
    const res = await postForm(hubUrl, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': sub.callback('/cb/secret'), 'hub.secret': 'x'.repeat(200) });
    assert.equal(res.status, 400);
    assert.match(res.type ?? '', /^text\/plain/);
    assert.match(res.body, /hub\.secret must be less than 200 bytes/);
    await subscribe(topic, sub.callback('/cb/secret'), { 'hub.secret': 'y'.repeat(199) });
    assert.equal(verificationsOf(topic).length, 1, 'only the valid request was verified');
  });

  test('bad requests get 400 with a plain-text reason', async () => {
    const cb = sub.callback('/cb/bad');
    const cases: [Record<string, string>, RegExp][] = [
      [{ 'hub.topic': 'https://t.example/x', 'hub.callback': cb }, /missing hub\.mode/],
      [{ 'hub.mode': 'subscrbe', 'hub.topic': 'https://t.example/x', 'hub.callback': cb }, /unknown hub\.mode 'subscrbe'/],
      [{ 'hub.mode': 'subscribe', 'hub.topic': 'https://t.example/x' }, /missing hub\.callback/],
      [{ 'hub.mode': 'subscribe', 'hub.callback': cb }, /missing hub\.topic/],
      [{ 'hub.mode': 'subscribe', 'hub.topic': 'https://t.example/x', 'hub.callback': 'not a url' }, /hub\.callback is not an absolute URL/],
      [{ 'hub.mode': 'subscribe', 'hub.topic': 'https://t.example/x', 'hub.callback': 'ftp://127.0.0.1/cb' }, /only http and https/],
      [{ 'hub.mode': 'subscribe', 'hub.topic': 'https://t.example/x', 'hub.callback': 'http://10.1.2.3/cb' }, /not allowed: .*private/],
      [{ 'hub.mode': 'subscribe', 'hub.topic': 'https://t.example/x', 'hub.callback': cb, 'hub.lease_seconds': 'soon' }, /hub\.lease_seconds/],
      [{ 'hub.mode': 'subscribe', 'hub.topic': 'a topic with spaces', 'hub.callback': cb }, /invalid hub\.topic/],
      [{ 'hub.mode': 'subscribe', 'hub.topic': 'https://t.example/x', 'hub.callback': cb, 'hub.verify': 'later' }, /hub\.verify/],
      [{ 'hub.mode': 'publish' }, /missing hub\.url or hub\.topic/],
      [{ 'hub.mode': 'publish', 'hub.url': 'orders/created' }, /not an http\(s\) URL/],
    ];
    for (const [params, reason] of cases) {
      const res = await postForm(hubUrl, params);
      assert.equal(res.status, 400, `${JSON.stringify(params)} → ${res.status} ${res.body}`);
      assert.match(res.type ?? '', /^text\/plain/);
      assert.match(res.body, reason);
    }
    const json = await fetch(hubUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(json.status, 415);
    assert.match(json.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(sub.verifications.filter((v) => v.path === '/cb/bad').length, 0);
  });

  test('a failed verification (wrong echo, refusal) creates nothing and leaves an existing subscription untouched', async () => {
    const topic = freshTopic();
    const callback = sub.callback('/cb/fail');
    const metric = hookah.runtime.metrics.registry.getSingleMetric('hookah_websub_verifications_total')!;
    const failedCount = async () => (await metric.get()).values.find((v) => v.labels.outcome === 'failed')?.value ?? 0;
    const failedBefore = await failedCount();
    sub.verifyWith('wrong-echo');
    try {
      const res = await postForm(hubUrl, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': callback });
      assert.equal(res.status, 202);
      await waitFor(async () => (await failedCount()) > failedBefore, 'failed verification counted');
      assert.equal(verificationsOf(topic).length, 1);
      assert.equal(await store().get(topic, callback), undefined);
    } finally {
      sub.verifyWith('echo');
    }

    await subscribe(topic, callback, { 'hub.secret': 'keep-me' });
    const before = await store().get(topic, callback);
    sub.verifyWith('refuse');
    try {
      const res = await postForm(hubUrl, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': callback, 'hub.secret': 'replaced?', 'hub.verify': 'sync' });
      assert.equal(res.status, 409);
      const unsub = await postForm(hubUrl, { 'hub.mode': 'unsubscribe', 'hub.topic': topic, 'hub.callback': callback, 'hub.verify': 'sync' });
      assert.equal(unsub.status, 409);
    } finally {
      sub.verifyWith('echo');
    }
    assert.deepEqual(await store().get(topic, callback), before);
  });

  test('PuSH 0.3 hub.verify=sync: 204 once verified, 409 when the subscriber does not confirm', async () => {
    const topic = freshTopic();
    const callback = sub.callback('/cb/sync');
    const ok = await postForm(hubUrl, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': callback, 'hub.verify': ['sync', 'async'], 'hub.verify_token': 'tok' });
    assert.equal(ok.status, 204, ok.body);
    assert.ok(await store().get(topic, callback), 'stored before the answer');
    assert.equal(verificationsOf(topic)[0]!.query.get('hub.verify_token'), 'tok');

    sub.verifyWith((v) => ({ status: 500, body: v.challenge ?? '' }));
    try {
      const other = freshTopic();
      const refused = await postForm(hubUrl, { 'hub.mode': 'subscribe', 'hub.topic': other, 'hub.callback': callback, 'hub.verify': 'sync' });
      assert.equal(refused.status, 409);
      assert.match(refused.type ?? '', /^text\/plain/);
      assert.match(refused.body, /HTTP 500/);
      assert.equal(await store().get(other, callback), undefined);
    } finally {
      sub.verifyWith('echo');
    }

    const unsub = await postForm(`${hookah.url}/subscribe`, { 'hub.mode': 'unsubscribe', 'hub.topic': topic, 'hub.callback': callback, 'hub.verify': 'sync' });
    assert.equal(unsub.status, 204);
    assert.equal(await store().get(topic, callback), undefined);
  });

  test('POST /subscribe defaults hub.mode to subscribe', async () => {
    const topic = freshTopic();
    const callback = sub.callback('/cb/legacy');
    const res = await postForm(`${hookah.url}/subscribe`, { 'hub.topic': topic, 'hub.callback': callback });
    assert.equal(res.status, 202);
    await waitFor(() => store().get(topic, callback), 'legacy subscription');
  });

  test('admin: subscriptions per topic without secrets, counts per topic', async () => {
    const topic = freshTopic();
    await subscribe(topic, sub.callback('/cb/admin1'), { 'hub.secret': 'hidden' });
    await subscribe(topic, sub.callback('/cb/admin2'));
    const res = await fetch(`${hookah.url}/hub/subscriptions?topic=${encodeURIComponent(topic)}`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(!text.includes('hidden'), 'secret never shown');
    const { subscriptions } = JSON.parse(text) as { subscriptions: { callback: string; has_secret: boolean; expired: boolean; lease_seconds: number }[] };
    assert.equal(subscriptions.length, 2);
    assert.deepEqual(subscriptions.map((s) => s.has_secret).sort(), [false, true]);
    assert.ok(subscriptions.every((s) => !s.expired && s.lease_seconds === 864_000));

    const topics = (await (await fetch(`${hookah.url}/hub/topics`)).json()) as { topics: { topic: string; subscriptions: number }[] };
    assert.equal(topics.topics.find((t) => t.topic === topic)?.subscriptions, 2);

    const metrics = await (await fetch(`${hookah.url}/metrics`)).text();
    assert.match(metrics, /^hookah_websub_subscriptions \d+/m);
    assert.match(metrics, /^hookah_websub_verifications_total\{mode="subscribe",outcome="verified"\} \d+/m);
    assert.match(metrics, /^hookah_websub_notifications_total \d+/m);
  });
});

describe('WebSub hub: denial policy', () => {
  let hookah: TestHookah;
  let sub: TestSubscriber;

  before(async () => {
    hookah = await startTestHookah({ hub: { allowTopics: ['^https://allowed\\.example/'] } });
    sub = await startSubscriber();
  });
  after(async () => {
    await hookah?.close();
    await sub?.close();
  });

  test('a subscription the policy refuses gets 202, then hub.mode=denied with hub.topic and hub.reason; nothing is stored', async () => {
    const topic = 'https://elsewhere.example/feed';
    const callback = sub.callback('/cb/denied', 'who=me');
    const res = await postForm(`${hookah.url}/hub`, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': callback });
    assert.equal(res.status, 202);
    const [denial] = await sub.waitForDenials(1);
    assert.equal(denial!.topic, topic);
    assert.ok(denial!.reason && denial!.reason.length > 0);
    assert.ok(denial!.rawQuery.startsWith('who=me&'));
    assert.equal(sub.verifications.length, 0, 'a denied subscription is never verified');
    assert.equal(await hookah.runtime.stores.subscriptions.get(topic, callback), undefined);

    const sync = await postForm(`${hookah.url}/hub`, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': callback, 'hub.verify': 'sync' });
    assert.equal(sync.status, 403);

    const allowed = 'https://allowed.example/feed';
    const ok = await postForm(`${hookah.url}/hub`, { 'hub.mode': 'subscribe', 'hub.topic': allowed, 'hub.callback': callback });
    assert.equal(ok.status, 202);
    await waitFor(() => hookah.runtime.stores.subscriptions.get(allowed, callback), 'allowed subscription');
  });
});
