import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';
import { runCli } from './run.ts';

describe('hookah status', () => {
  let hookah: TestHookah;
  let sink: Sink;
  let stream: AbortController;
  // Held so the response is not garbage-collected, which would cancel the stream.
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  before(async () => {
    hookah = await startTestHookah();
    sink = await startSink((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    for (let i = 0; i < 3; i++) await fetch(`${hookah.url}/dispatch?_topic=status/orders`, { method: 'POST', body: `o${i}` });
    const failed = await fetch(`${hookah.url}/dispatch?_retries=1&_url=${encodeURIComponent(sink.url)}`, { method: 'POST', body: 'x' });
    const { id } = (await failed.json()) as { id: string };
    await waitFor(async () => ((await (await fetch(`${hookah.url}/messages/${id}`)).json()) as { status: string }).status === 'failed', 'a failed delivery', 10_000);
    // A live SSE subscriber of the topic, held open for the test.
    stream = new AbortController();
    const res = await fetch(`${hookah.url}/sse?topic=status/orders`, { signal: stream.signal });
    assert.equal(res.status, 200);
    reader = res.body!.getReader();
    await waitFor(() => (hookah.runtime.bus.subscriberCounts('status/orders').sse ?? 0) === 1, 'the SSE subscriber', 5000);
  });
  after(async () => {
    stream?.abort();
    await reader?.cancel().catch(() => {});
    await hookah?.close();
    await sink?.close();
  });

  test('prints queue depth, failures, subscribers by type and the topics', async () => {
    const r = await runCli(['status', '--server', hookah.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Hookah \S+ at http:\/\/127\.0\.0\.1:\d+ \(sqlite, up .*, access control off\)$/m);
    assert.match(r.stdout, /^Queue depth +0 \(pending 0, in flight 0\)$/m);
    assert.match(r.stdout, /^Deliveries +failed 1, delivered 0$/m);
    assert.match(r.stdout, /^Subscribers +sse 1$/m);
    assert.match(r.stdout, /^TOPIC +RATE 1M +RATE 5M +PUBLISHED +BACKLOG +LAST MESSAGE +SUBSCRIBERS$/m);
    assert.match(r.stdout, /^status\/orders +\S+ +\S+ +3 +3 \(6 B\) +\d+ s ago +sse 1$/m);
  });

  test('--json prints the overview document', async () => {
    const r = await runCli(['status', '--server', hookah.url, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout) as { deliveries: { failed: number }; subscribers: Record<string, number>; topics: { topic: string }[] };
    assert.equal(o.deliveries.failed, 1);
    assert.equal(o.subscribers.sse, 1);
    assert.deepEqual(o.topics.map((t) => t.topic), ['status/orders']);
  });

  test('rejects a bad --topics and an unreachable server', async () => {
    const bad = await runCli(['status', '--server', hookah.url, '--topics', 'many']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--topics must be a whole number/);
    const down = await runCli(['status', '--server', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});

describe('hookah --help', () => {
  for (const command of ['serve', 'client', 'tail', 'send', 'status', 'hash-password']) {
    test(`hookah ${command} --help explains the command`, async () => {
      const r = await runCli([command, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: hookah ${command} `, 'm'));
      assert.match(r.stdout, /^Options:$/m);
    });
  }

  test('hookah --help lists every command', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const command of ['serve', 'client', 'tail', 'send', 'status', 'hash-password']) assert.match(r.stdout, new RegExp(`^  ${command} `, 'm'));
  });
});
