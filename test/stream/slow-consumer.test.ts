import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { waitFor } from '../helpers/wait.ts';

const LIMIT = 64 * 1024;
const MESSAGE = 100 * 1024;
/** Far more than loopback socket buffers plus the limit can hold. */
const MAX_MESSAGES = 600;

async function slowDisconnects(h: TestHookah, type: string): Promise<number> {
  const metric = (await h.runtime.metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'hookah_stream_slow_consumer_disconnects_total');
  const value = metric?.values.find((v) => v.labels.type === type);
  return Number(value?.value ?? 0);
}

/** Publishes big messages, yielding to I/O between them, until `done()` or the cap. */
async function flood(h: TestHookah, topic: string, done: () => boolean | Promise<boolean>): Promise<number> {
  const body = Buffer.alloc(MESSAGE, 'x');
  for (let n = 1; n <= MAX_MESSAGES; n++) {
    await h.runtime.bus.publish({ topic, headers: {}, contentType: 'text/plain', body, source: 'test' });
    await new Promise((r) => setImmediate(r));
    if (await done()) return n;
  }
  throw new Error(`no slow-consumer disconnect after ${MAX_MESSAGES} messages`);
}

function pausedStream(url: string, headers: Record<string, string>): Promise<{ res: IncomingMessage; readAll(): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      res.pause();
      resolve({
        res,
        readAll: () =>
          new Promise((done) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('close', () => done(Buffer.concat(chunks).toString('utf8')));
            res.on('error', () => {});
            res.resume();
          }),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('slow consumers', () => {
  let h: TestHookah;
  before(async () => {
    h = await startTestHookah({ streams: { maxBufferBytes: LIMIT }, backlog: { maxBytes: 4 * 1024 * 1024 } });
  });
  after(() => h.close());

  for (const [type, accept, warning] of [
    ['stream', 'application/x-ndjson', /\{"warning":"slow consumer","reason":"slow consumer: more than 65536 bytes[^\r\n]*\}\r\n$/],
    ['sse', 'text/event-stream', /event: error\ndata: \{"warning":"slow consumer"[^\n]*\}\n\n$/],
  ] as const) {
    test(`${type}: a client that stops reading gets a warning and is disconnected`, async () => {
      const topic = `slow/${type}`;
      const client = await pausedStream(`${h.url}/stream?topic=${topic}`, { accept });
      const before = await slowDisconnects(h, type);
      const sent = await flood(h, topic, async () => (await slowDisconnects(h, type)) > before);
      assert.ok(sent > 1);
      await waitFor(() => h.runtime.bus.subscriberCounts(topic)[type] === undefined, 'the subscription to be dropped');
      // A consumer that catches up now still reads the warning, then the end.
      const text = await client.readAll();
      assert.match(text, warning);
      // The message that found the queue over the limit was not queued.
      const received = (text.match(/"source":"test"/g) ?? []).length;
      assert.ok(received < sent, `${received} of ${sent}`);
    });
  }

  test('websocket: a paused reader is closed with 4000 "slow consumer"', async () => {
    const topic = 'slow/ws';
    const ws = new WebSocket(`${h.url.replace('http', 'ws')}/socket/${topic}`);
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    let received = 0;
    ws.on('message', () => received++);
    const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    const before = await slowDisconnects(h, 'websocket');
    await flood(h, topic, async () => (await slowDisconnects(h, 'websocket')) > before);
    await waitFor(() => h.runtime.bus.subscriberCounts(topic).websocket === undefined, 'the subscription to be dropped');
    socket.resume();
    const { code, reason } = await closed;
    assert.equal(code, 4000);
    assert.match(reason, /^slow consumer/);
    assert.ok(received > 0);
  });
});
