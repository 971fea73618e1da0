import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';
import { postForm, startSubscriber, verifyHubSignature, type TestSubscriber } from './subscriber.ts';

interface Resource {
  body: string;
  contentType: string;
  etag?: string;
  lastModified?: string;
}

/** Publishing: thin pings (the hub fetches the topic), fat pings, and every other ingress of the topic bus. */
describe('WebSub hub: publishing', () => {
  let hookah: TestHookah;
  let sub: TestSubscriber;
  let publisher: Sink;
  let hubUrl: string;
  const resources = new Map<string, Resource>();

  before(async () => {
    hookah = await startTestHookah();
    hubUrl = `${hookah.url}/hub`;
    sub = await startSubscriber();
    // The publisher's site: serves topic documents, answering 304 to a matching If-None-Match.
    publisher = await startSink((req, res) => {
      const r = resources.get(req.url);
      if (!r) return void ((res.statusCode = 404), res.end('no such topic'));
      if (r.etag) res.setHeader('etag', r.etag);
      if (r.lastModified) res.setHeader('last-modified', r.lastModified);
      if (r.etag && req.headers['if-none-match'] === r.etag) return void ((res.statusCode = 304), res.end());
      res.setHeader('content-type', r.contentType);
      res.end(r.body);
    });
  });
  after(async () => {
    await hookah?.close();
    await sub?.close();
    await publisher?.close();
  });

  const store = () => hookah.runtime.stores.subscriptions;
  const notificationsOf = (topic: string) => sub.notifications.filter((v) => v.links.self === topic);
  const fetchesOf = (path: string) => publisher.requests.filter((r) => r.url === path);

  async function subscribe(topic: string, callback: string, extra: Record<string, string> = {}) {
    const res = await postForm(hubUrl, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': callback, ...extra });
    assert.equal(res.status, 202, res.body);
    await waitFor(() => store().get(topic, callback), `subscription to ${topic}`, 8000);
  }

  async function fetchCount(outcome: string): Promise<number> {
    const metric = hookah.runtime.metrics.registry.getSingleMetric('hookah_websub_fetches_total')!;
    return (await metric.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  }

  /** Deliveries are queued inside the fetch, before its outcome is counted; so after the count this is final. */
  async function deliveriesFor(topic: string) {
    return (await hookah.runtime.dispatcher.list({ kind: 'websub', limit: 1000 })).filter((d) => d.topic === topic);
  }

  async function ping(params: Record<string, string | string[]>, path = '/hub') {
    const res = await postForm(`${hookah.url}${path}`, params);
    assert.equal(res.status, 204, res.body);
  }

  test('thin ping: the hub fetches the topic and distributes the full content verbatim, with Link headers and signature', async () => {
    const path = '/feeds/atom.xml';
    const topic = `${publisher.url}${path}`;
    const body = '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>é</title></feed>\n';
    resources.set(path, { body, contentType: 'application/atom+xml; charset=UTF-8' });
    await subscribe(topic, sub.callback('/cb/atom-plain'));
    await subscribe(topic, sub.callback('/cb/atom-signed'), { 'hub.secret': 'feed-secret' });

    await ping({ 'hub.mode': 'publish', 'hub.url': topic });
    const notes = await waitFor(() => (notificationsOf(topic).length >= 2 ? notificationsOf(topic) : undefined), 'two atom notifications');
    for (const note of notes) {
      assert.equal(note.body.toString('utf8'), body);
      assert.equal(note.contentType, 'application/atom+xml; charset=UTF-8');
      assert.equal(note.links.hub, hubUrl);
      assert.equal(note.links.self, topic);
    }
    const signed = notes.find((n) => n.path === '/cb/atom-signed')!;
    const plain = notes.find((n) => n.path === '/cb/atom-plain')!;
    assert.ok(verifyHubSignature(signed.signature, signed.body, 'feed-secret'));
    assert.equal(plain.signature, undefined);
    assert.equal(fetchesOf(path).length, 1, 'fetched once for both subscribers');
  });

  test('conditional GET and content-hash dedupe: 304 and unchanged content distribute nothing; a change does', async () => {
    const path = '/cond.json';
    const topic = `${publisher.url}${path}`;
    const lastModified = 'Wed, 21 Oct 2015 07:28:00 GMT';
    resources.set(path, { body: '{"v":1}', contentType: 'application/json', etag: '"v1"', lastModified });
    await subscribe(topic, sub.callback('/cb/cond'));

    await ping({ 'hub.mode': 'publish', 'hub.topic': topic });
    await waitFor(() => notificationsOf(topic).length === 1, 'first notification');

    const notModified = await fetchCount('not_modified');
    await ping({ 'hub.mode': 'publish', 'hub.topic': topic });
    await waitFor(async () => (await fetchCount('not_modified')) > notModified, '304 fetch');
    const second = fetchesOf(path)[1]!;
    assert.equal(second.headers['if-none-match'], '"v1"');
    assert.equal(second.headers['if-modified-since'], lastModified);
    assert.equal((await deliveriesFor(topic)).length, 1);

    // New validator, same bytes: fetched in full but not distributed again.
    resources.set(path, { body: '{"v":1}', contentType: 'application/json', etag: '"v1-again"' });
    const unchanged = await fetchCount('unchanged');
    await ping({ 'hub.mode': 'publish', 'hub.url': topic });
    await waitFor(async () => (await fetchCount('unchanged')) > unchanged, 'unchanged fetch');
    assert.equal((await deliveriesFor(topic)).length, 1);

    resources.set(path, { body: '{"v":2}', contentType: 'application/json', etag: '"v2"' });
    await ping({ 'hub.mode': 'publish', 'hub.url': topic });
    const notes = await waitFor(() => (notificationsOf(topic).length === 2 ? notificationsOf(topic) : undefined), 'second notification');
    assert.deepEqual(notes.map((n) => n.body.toString()).sort(), ['{"v":1}', '{"v":2}']);
    assert.equal(fetchesOf(path).at(-1)!.headers['if-none-match'], '"v1-again"');
  });

  test('one ping may name several topics (hub.url and hub.topic, repeated)', async () => {
    const paths = ['/multi/a.txt', '/multi/b.txt', '/multi/c.txt'];
    const topics = paths.map((p) => `${publisher.url}${p}`);
    paths.forEach((p, i) => resources.set(p, { body: `content ${i}`, contentType: 'text/plain' }));
    for (const [i, topic] of topics.entries()) await subscribe(topic, sub.callback(`/cb/multi${i}`));
    await ping({ 'hub.mode': 'publish', 'hub.url': [topics[0]!, topics[1]!], 'hub.topic': topics[2]! }, '/publish');
    for (const [i, topic] of topics.entries()) {
      const [note] = await waitFor(() => (notificationsOf(topic).length ? notificationsOf(topic) : undefined), `notification ${i}`);
      assert.equal(note!.body.toString(), `content ${i}`);
      assert.equal(note!.contentType, 'text/plain');
    }
  });

  test('a topic without subscribers is not fetched', async () => {
    const path = '/lonely.txt';
    resources.set(path, { body: 'nobody reads this', contentType: 'text/plain' });
    const before = await fetchCount('no_subscribers');
    await ping({ 'hub.mode': 'publish', 'hub.url': `${publisher.url}${path}` });
    await waitFor(async () => (await fetchCount('no_subscribers')) > before, 'skipped fetch');
    assert.equal(fetchesOf(path).length, 0);
  });

  test('a failing topic fetch distributes nothing', async () => {
    const path = '/missing.txt';
    const topic = `${publisher.url}${path}`;
    await subscribe(topic, sub.callback('/cb/missing'));
    const before = await fetchCount('error');
    await ping({ 'hub.mode': 'publish', 'hub.url': topic });
    await waitFor(async () => (await fetchCount('error')) > before, 'failed fetch');
    assert.equal((await deliveriesFor(topic)).length, 0);
  });

  test('fat ping on /publish: the POSTed content is distributed without a fetch', async () => {
    const topic = `${publisher.url}/fat.json`;
    await subscribe(topic, sub.callback('/cb/fat'));
    const body = '{"fat":true}';
    const res = await fetch(`${hookah.url}/publish?hub.topic=${encodeURIComponent(topic)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body,
    });
    assert.equal(res.status, 202);
    const [note] = await waitFor(() => (notificationsOf(topic).length ? notificationsOf(topic) : undefined), 'fat notification');
    assert.equal(note!.body.toString(), body);
    assert.equal(note!.contentType, 'application/json; charset=utf-8');
    assert.equal(fetchesOf('/fat.json').length, 0);
  });

  test('/dispatch?_topic= and any other bus publish reach WebSub subscribers of that topic', async () => {
    const topic = 'orders/created';
    await subscribe(topic, sub.callback('/cb/orders'), { 'hub.secret': 's3cret' });
    const body = '{"order":42}';
    const res = await fetch(`${hookah.url}/dispatch?_topic=${encodeURIComponent(topic)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(res.status, 202, await res.clone().text());
    const [note] = await waitFor(() => (notificationsOf(topic).length ? notificationsOf(topic) : undefined), 'dispatch notification');
    assert.equal(note!.body.toString(), body);
    assert.equal(note!.contentType, 'application/json');
    assert.equal(note!.links.hub, hubUrl);
    assert.ok(verifyHubSignature(note!.signature, note!.body, 's3cret'));

    await hookah.runtime.bus.publish({ topic, headers: {}, contentType: 'text/plain', body: Buffer.from('from the bus'), source: 'test' });
    await waitFor(() => notificationsOf(topic).some((n) => n.body.toString() === 'from the bus'), 'bus notification');
    assert.equal((await deliveriesFor(topic)).length, 2, 'one delivery per publish, never two');
  });
});
