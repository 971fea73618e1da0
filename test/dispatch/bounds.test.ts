import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';
import { connectGateway } from '../gateway/helpers.ts';

const enc = encodeURIComponent;

async function post(h: TestHookah, query: string, body = 'x'): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${h.url}/dispatch${query}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

describe('dispatcher.maxPending', () => {
  let h: TestHookah;
  let sink: Sink;
  before(async () => {
    // The first attempt waits ten minutes, so everything accepted stays pending until retried by hand.
    h = await startTestHookah({ dispatcher: { maxPending: 2, retrySchedule: ['10m'] } });
    sink = await startSink();
  });
  after(async () => {
    await h?.close();
    await sink?.close();
  });

  test('beyond the bound, /dispatch answers 503 with Retry-After and has no effect; room comes back as work finishes', async () => {
    const first = await post(h, `?_url=${enc(`${sink.url}/a`)}&_id=first`);
    const second = await post(h, `?_url=${enc(`${sink.url}/b`)}`);
    assert.deepEqual([first.status, second.status], [202, 202]);

    const refused = await post(h, `?_url=${enc(`${sink.url}/c`)}`);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '5');
    assert.match(refused.body.error, /delivery queue is full \(2 messages waiting, dispatcher\.maxPending\)/);
    // A sender repeating a stored message (its 202 was lost) still gets its answer.
    const repeat = await post(h, `?_url=${enc(`${sink.url}/a`)}&_id=first`);
    assert.equal(repeat.status, 202);
    assert.deepEqual([repeat.body.id, repeat.body.duplicate], [first.body.id, true]);

    // With a topic as well, the refusal comes before the publish: nothing reaches the topic.
    const both = await post(h, `?_topic=bounded&_url=${enc(`${sink.url}/d`)}`, 'refused');
    assert.equal(both.status, 503);
    // A topic-only publish creates no delivery, so it is still accepted.
    assert.equal((await post(h, '?_topic=bounded', 'marker')).status, 202);
    const backlog = (await (await fetch(`${h.url}/topics/bounded/messages`)).json()) as { messages: { data: string }[] };
    assert.deepEqual(backlog.messages.map((m) => m.data), ['marker']);

    // Delivering one frees a slot.
    assert.equal((await fetch(`${h.url}/messages/${first.body.id}/retry`, { method: 'POST' })).status, 202);
    await sink.waitForRequests(1);
    const again = await waitFor(async () => {
      const r = await post(h, `?_url=${enc(`${sink.url}/e`)}`);
      return r.status === 202 ? r : undefined;
    }, 'room in the queue once a message was delivered');
    assert.equal(again.body.duplicate, false);
  });

  test('a gateway dispatch beyond the bound gets an error frame saying why, and nothing is queued', async () => {
    // Fill up again (the previous test may have left room).
    await waitFor(async () => (await post(h, `?_url=${enc(`${sink.url}/fill`)}`)).status === 503, 'the queue to be full');
    const before = (await h.runtime.dispatcher.stats()).pending;
    const client = await connectGateway(`${h.url.replace('http', 'ws')}/gateway`);
    try {
      await client.next('the session message', (m) => m.type === 'session');
      client.send({ action: 'dispatch', id: 'full-1', url: `${sink.url}/gw`, data: { n: 1 } });
      const error = await client.next('the refusal', (m) => m.type === 'error' && m.id === 'full-1');
      assert.match(String(error.error), /delivery queue is full/);
      assert.equal((await h.runtime.dispatcher.stats()).pending, before);
    } finally {
      await client.close();
    }
  });
});

describe('dispatcher.retention', () => {
  let h: TestHookah;
  let sink: Sink;
  before(async () => {
    sink = await startSink((req, res) => {
      res.statusCode = req.url === '/fails' ? 500 : 200;
      res.end();
    });
    // After one failed attempt the next waits ten minutes: that message stays pending throughout.
    h = await startTestHookah({ dispatcher: { retention: '5s', sweepInterval: '50ms', retrySchedule: [0, '10m'] } });
  });
  after(async () => {
    await h?.close();
    await sink?.close();
  });

  test('delivered messages are deleted with their attempts once past retention; pending ones stay', async () => {
    const waiting = await post(h, `?_url=${enc(`${sink.url}/fails`)}`);
    const done = await post(h, `?_url=${enc(`${sink.url}/ok`)}`);
    const status = async (id: string) => (await fetch(`${h.url}/messages/${id}`)).status;
    await waitFor(async () => (await h.runtime.dispatcher.get(done.body.id))?.status === 'delivered', 'the delivery');
    assert.equal(await status(done.body.id), 200, 'kept until retention has passed');
    await waitFor(async () => {
      const r = await h.runtime.dispatcher.get(waiting.body.id);
      return r?.status === 'pending' && r.attemptCount === 1;
    }, 'the failing message to wait for its next attempt');

    await waitFor(async () => (await status(done.body.id)) === 404, 'the delivered message to be deleted after retention', 15_000);
    assert.equal(await status(waiting.body.id), 200, 'a pending message is never deleted');
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    assert.match(metrics, /^hookah_deliveries_purged_total [1-9]/m);
  });
});
