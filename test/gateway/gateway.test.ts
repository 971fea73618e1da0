import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { upgradeStatus } from '../tunnel/helpers.ts';
import { connectGateway } from './helpers.ts';

describe('gateway: bidirectional messaging', () => {
  let h: TestHookah;
  let thirdParty: Sink;
  let wsUrl: string;
  before(async () => {
    h = await startTestHookah();
    wsUrl = `${h.url.replace('http', 'ws')}/gateway`;
    thirdParty = await startSink();
  });
  after(async () => {
    await thirdParty.close();
    await h.close();
  });

  test('dispatch reaches the third party with a callback URL; its later webhook comes back on the same connection', async () => {
    // The fake third party acknowledges at once and answers later through the callback URL it was given.
    thirdParty.handle((req, res) => {
      res.writeHead(202).end();
      const job = JSON.parse(req.body.toString()) as { job: string; callback_url: string };
      setImmediate(() => {
        void fetch(job.callback_url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-vendor': 'acme' },
          body: JSON.stringify({ job: job.job, result: 'done' }),
        });
      });
    });
    const client = await connectGateway(wsUrl);
    try {
      const session = await client.next('the session message', (m) => m.type === 'session');
      assert.match(String(session.session), /^[0-9a-f-]{36}$/);
      assert.equal(typeof session.token, 'string');
      assert.equal(session.resumed, false);

      client.send({ action: 'dispatch', id: 'req-1', url: `${thirdParty.url}/jobs`, data: { job: 'resize' } });
      const ack = await client.next('the dispatch ack', (m) => m.type === 'dispatched');
      assert.equal(ack.id, 'req-1');
      assert.equal(typeof ack.message_id, 'string');
      assert.match(String(ack.correlation_id), new RegExp(`^${session.session}\\.`));
      assert.equal(ack.callback_url, `${h.url}/gateway/callback/${ack.correlation_id}`);

      const [sent] = await thirdParty.waitForRequests(1);
      assert.equal(sent!.url, '/jobs');
      assert.equal(sent!.headers['x-hookah-callback-url'], ack.callback_url);
      assert.equal(sent!.headers['x-hookah-correlation-id'], ack.correlation_id);
      assert.deepEqual(JSON.parse(sent!.body.toString()), { job: 'resize', callback_url: ack.callback_url, correlation_id: ack.correlation_id });

      const callback = await client.next('the callback', (m) => m.type === 'callback');
      assert.equal(callback.correlation_id, ack.correlation_id);
      assert.deepEqual(callback.data, { job: 'resize', result: 'done' });
      assert.equal(callback.content_type, 'application/json');
      assert.equal((callback.headers as Record<string, string>)['x-vendor'], 'acme');

      const delivery = await client.next('the delivery outcome', (m) => m.type === 'delivery');
      assert.equal(delivery.id, 'req-1');
      assert.equal(delivery.message_id, ack.message_id);
      assert.equal(delivery.status, 'delivered');
      assert.equal(delivery.http_status, 202);
    } finally {
      await client.close();
      thirdParty.handle((_req, res) => void res.end('ok'));
    }
  });

  test('a callback that arrives while the client is gone is kept and delivered when the session reconnects', async () => {
    const first = await connectGateway(wsUrl);
    const session = await first.next('the session message', (m) => m.type === 'session');
    const before = thirdParty.requests.length;
    first.send({ action: 'dispatch', id: 7, url: `${thirdParty.url}/later`, data: 'plain text job' });
    const ack = await first.next('the dispatch ack', (m) => m.type === 'dispatched');
    const sent = (await thirdParty.waitForRequests(before + 1))[before]!;
    assert.equal(sent.body.toString(), 'plain text job');
    assert.equal(sent.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(sent.headers['x-hookah-callback-url'], ack.callback_url);
    await first.close();

    const res = await fetch(String(ack.callback_url), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'finished while you were away' });
    assert.equal(res.status, 202);
    assert.equal(((await res.json()) as { status: string }).status, 'stored');

    // The session's token is needed to resume it.
    const base = `${wsUrl}?session=${session.session}`;
    assert.equal((await upgradeStatus(base)).status, 401);
    assert.equal((await upgradeStatus(`${base}&token=wrong`)).status, 401);
    assert.equal((await upgradeStatus(`${wsUrl}?session=00000000-0000-4000-8000-000000000000&token=x`)).status, 404);

    const second = await connectGateway(`${base}&token=${encodeURIComponent(String(session.token))}`);
    try {
      const resumed = await second.next('the session message', (m) => m.type === 'session');
      assert.equal(resumed.resumed, true);
      assert.equal(resumed.token, undefined);
      const callback = await second.next('the stored callback', (m) => m.type === 'callback');
      assert.equal(callback.correlation_id, ack.correlation_id);
      assert.equal(callback.data, 'finished while you were away');

      // last_event_id replays from an explicit point, e.g. after a client crash lost messages.
      const third = await connectGateway(`${base}&token=${encodeURIComponent(String(session.token))}&last_event_id=0`);
      try {
        const again = await third.next('the replayed callback', (m) => m.type === 'callback');
        assert.equal(again.id, callback.id);
      } finally {
        await third.close();
      }
    } finally {
      await second.close();
    }
  });

  test('a forged or unknown callback URL is 404', async () => {
    const client = await connectGateway(wsUrl);
    try {
      const session = await client.next('the session message', (m) => m.type === 'session');
      const forged = `${session.session}.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA`;
      assert.equal((await fetch(`${h.url}/gateway/callback/${forged}`, { method: 'POST', body: 'x' })).status, 404);
      assert.equal((await fetch(`${h.url}/gateway/callback/nonsense`, { method: 'POST', body: 'x' })).status, 404);
    } finally {
      await client.close();
    }
  });

  test('publish and subscribe actions go through the topic bus', async () => {
    const reader = await connectGateway(wsUrl);
    const writer = await connectGateway(wsUrl);
    try {
      reader.send({ action: 'subscribe', id: 's', topics: ['orders/#'] });
      assert.deepEqual((await reader.next('the subscribe ack', (m) => m.type === 'subscribed')).topics, ['orders/#']);
      writer.send({ action: 'publish', id: 'p', topic: 'orders/42', data: { total: 10 }, event: 'created' });
      const published = await writer.next('the publish ack', (m) => m.type === 'published');
      assert.equal(published.id, 'p');
      const event = await reader.next('the event', (m) => m.type === 'event');
      assert.equal(event.topic, 'orders/42');
      assert.equal(event.id, published.event_id);
      assert.equal(event.event, 'created');
      assert.deepEqual(event.data, { total: 10 });

      writer.send({ action: 'publish', id: 'bad', topic: 'gateway/someone-else', data: 'x' });
      const refused = await writer.next('the refusal', (m) => m.type === 'error');
      assert.equal(refused.id, 'bad');
      assert.match(String(refused.error), /reserved/);
    } finally {
      await reader.close();
      await writer.close();
    }
  });

  test('idempotency_key: a repeated action is one message, the key on another action is refused', async () => {
    const client = await connectGateway(wsUrl);
    try {
      const action = { action: 'dispatch', url: `${thirdParty.url}/idem`, data: { n: 1 }, idempotency_key: 'job-1' };
      client.send({ ...action, id: 'a' });
      const first = await client.next('the first ack', (m) => m.id === 'a');
      client.send({ ...action, id: 'b' });
      const repeat = await client.next('the repeat ack', (m) => m.id === 'b');
      assert.deepEqual([repeat.type, repeat.message_id, repeat.duplicate], ['dispatched', first.message_id, true]);
      client.send({ ...action, id: 'c', data: { n: 2 } });
      const refused = await client.next('the refusal', (m) => m.id === 'c');
      assert.equal(refused.type, 'error');
      assert.match(String(refused.error), /already used for a different request/);
    } finally {
      await client.close();
    }
  });

  test('bad actions get an error message naming the problem, and the connection stays usable', async () => {
    const client = await connectGateway(wsUrl);
    try {
      client.send({ action: 'fly', id: 1 });
      assert.equal((await client.next('an error', (m) => m.type === 'error' && m.id === 1)).type, 'error');
      client.ws.send('not json');
      assert.match(String((await client.next('an error', (m) => m.type === 'error' && /JSON/.test(String(m.error)))).error), /JSON/);
      client.send({ action: 'dispatch', id: 2, url: 'ftp://example.com/' });
      assert.match(String((await client.next('an error', (m) => m.id === 2)).error), /http/);
      client.send({ action: 'dispatch', id: 3, url: 'http://169.254.169.254/latest/meta-data' });
      assert.equal((await client.next('the SSRF refusal', (m) => m.id === 3)).type, 'error');
      client.send({ action: 'ping', id: 4 });
      assert.equal((await client.next('the pong', (m) => m.id === 4)).type, 'pong');
    } finally {
      await client.close();
    }
  });
});
