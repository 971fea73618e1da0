import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventSource, type EventSourceFetchInit } from 'eventsource';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { nextEvent, waitFor } from '../helpers/wait.ts';
import { hook, openRaw } from './util.ts';

interface Envelope {
  id: string;
  topic: string;
  data: unknown;
  type?: string;
}

/** Collects `event` events of an EventSource. */
function collect(es: EventSource, event = 'message') {
  const got: MessageEvent[] = [];
  es.addEventListener(event, (e) => got.push(e as MessageEvent));
  return got;
}

/**
 * A fetch for EventSource whose current response the test can end, which is
 * how a server-side disconnect looks to the client: it then reconnects with
 * Last-Event-ID. `beforeRequest` runs before each (re)connection goes out.
 */
function controllableFetch(beforeRequest?: (n: number, headers: Headers) => Promise<void>) {
  const requests: Headers[] = [];
  let endCurrent: (() => void) | undefined;
  const fetchFn = async (url: string | URL, init: EventSourceFetchInit) => {
    const headers = new Headers(init.headers as Record<string, string>);
    requests.push(headers);
    await beforeRequest?.(requests.length, headers);
    const res = await fetch(url, init as unknown as RequestInit);
    const reader = res.body!.getReader();
    let closed = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        endCurrent = () => {
          if (closed) return;
          closed = true;
          void reader.cancel().catch(() => {});
          controller.close();
        };
      },
      async pull(controller) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
        if (closed) return;
        if (done) {
          closed = true;
          controller.close();
        } else controller.enqueue(value);
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  return { fetch: fetchFn, requests, end: () => endCurrent?.() };
}

describe('Server-Sent Events', () => {
  let h: TestHookah;
  const open: EventSource[] = [];
  const es = (url: string, init?: ConstructorParameters<typeof EventSource>[1]) => {
    const source = new EventSource(url, init);
    open.push(source);
    return source;
  };
  before(async () => {
    h = await startTestHookah({ streams: { keepAlive: 50 } });
  });
  after(async () => {
    for (const s of open) s.close();
    await h.close();
  });

  test('the same /stream URL serves SSE to an EventSource, ids and event types included', async () => {
    const source = es(`${h.url}/stream?topic=sse/basic`);
    const messages = collect(source);
    const typed = collect(source, 'order.created');
    await nextEvent<Event>((fn) => (source.addEventListener('open', fn), () => source.removeEventListener('open', fn)), 'open');
    const id = await hook(h.url, 'sse/basic', '{"a":1}');
    const typedEvent = await h.runtime.bus.publish({
      topic: 'sse/basic',
      headers: {},
      contentType: 'text/plain',
      body: Buffer.from('typed'),
      type: 'order.created',
      source: 'test',
    });
    await waitFor(() => messages.length >= 1 && typed.length >= 1, 'both events');
    assert.equal(messages[0]!.lastEventId, id);
    const env = JSON.parse(messages[0]!.data as string) as Envelope;
    assert.equal(env.id, id);
    assert.deepEqual(env.data, { a: 1 });
    assert.equal(typed[0]!.lastEventId, typedEvent.id);
    const typedEnv = JSON.parse(typed[0]!.data as string) as Envelope;
    assert.equal(typedEnv.type, 'order.created');
    assert.equal(typedEnv.data, 'typed');
    assert.equal(messages.length, 1, 'a typed event is not a `message`');
  });

  test('wire format: retry hint, id/event/data fields, heartbeat comments; /sse alias', async () => {
    const s = await openRaw(`${h.url}/sse?topic=sse/raw&retry=1500`);
    try {
      assert.equal(s.res.headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(s.res.headers['cache-control'], 'no-cache, no-transform');
      const id = await hook(h.url, 'sse/raw', 'hi', 'text/plain');
      await s.until((t) => t.includes(`id: ${id}\n`), 'the event');
      await s.until((t) => t.split(': keep-alive\n\n').length > 2, 'two heartbeats');
      const text = s.text();
      assert.ok(text.startsWith('retry: 1500\n'), text.slice(0, 40));
      const block = text.split('\n\n').find((b) => b.startsWith(`id: ${id}\n`))!;
      const lines = block.split('\n');
      assert.equal(lines[0], `id: ${id}`);
      assert.equal(lines[1], 'event: message');
      assert.ok(lines[2]!.startsWith('data: {'));
      assert.equal((JSON.parse(lines[2]!.slice(6)) as Envelope).data, 'hi');
    } finally {
      s.close();
    }
  });

  test('reconnects with Last-Event-ID and gets exactly what it missed', async () => {
    const missed: string[] = [];
    const ctl = controllableFetch(async (n) => {
      // Published while the client is disconnected, before it reconnects.
      if (n === 2) for (const body of ['"m1"', '"m2"']) missed.push(await hook(h.url, 'sse/resume', body));
    });
    const source = es(`${h.url}/stream?topic=sse/resume&retry=100`, { fetch: ctl.fetch });
    const messages = collect(source);
    await nextEvent<Event>((fn) => (source.addEventListener('open', fn), () => source.removeEventListener('open', fn)), 'open');
    const first = await hook(h.url, 'sse/resume', '"m0"');
    await waitFor(() => messages.length === 1, 'the first event');
    ctl.end();
    await waitFor(() => messages.length === 3, 'the missed events after the reconnect', 8000);
    assert.equal(ctl.requests[1]!.get('last-event-id'), first);
    assert.deepEqual(
      messages.map((m) => m.lastEventId),
      [first, ...missed],
    );
    const live = await hook(h.url, 'sse/resume', '"m3"');
    await waitFor(() => messages.length === 4, 'the live event');
    assert.equal(messages[3]!.lastEventId, live);
    assert.deepEqual(
      messages.map((m) => (JSON.parse(m.data as string) as Envelope).data),
      ['m0', 'm1', 'm2', 'm3'],
    );
  });

  test('?last_event_id= resumes a fresh connection', async () => {
    const a = await hook(h.url, 'sse/query', '1');
    const b = await hook(h.url, 'sse/query', '2');
    const source = es(`${h.url}/stream?topic=sse/query&last_event_id=${a}`);
    const messages = collect(source);
    await waitFor(() => messages.length === 1, 'the replayed event');
    assert.equal(messages[0]!.lastEventId, b);
  });
});

describe('SSE gap detection', () => {
  test('an `event: gap` tells the client that retention dropped what it missed', async () => {
    const h = await startTestHookah({ backlog: { maxCount: 3 } });
    let source: EventSource | undefined;
    try {
      const first = await hook(h.url, 'gap/t', '0');
      const ids: string[] = [];
      for (let i = 1; i <= 5; i++) ids.push(await hook(h.url, 'gap/t', String(i)));
      source = new EventSource(`${h.url}/stream?topic=gap/t&last_event_id=${first}`);
      const order: string[] = [];
      const gaps = collect(source, 'gap');
      const messages = collect(source);
      source.addEventListener('gap', () => order.push('gap'));
      source.addEventListener('message', (e) => order.push((e as MessageEvent).lastEventId));
      await waitFor(() => messages.length === 3, 'the retained events');
      assert.equal(gaps.length, 1);
      const notice = JSON.parse(gaps[0]!.data as string) as { gap: boolean; since: string; reason: string };
      assert.equal(notice.gap, true);
      assert.equal(notice.since, first);
      assert.match(notice.reason, /retention/);
      assert.deepEqual(order, ['gap', ...ids.slice(2)]);
      // A resume the backlog still covers has no gap.
      const fine = new EventSource(`${h.url}/stream?topic=gap/t&last_event_id=${ids[2]}`);
      const fineGaps = collect(fine, 'gap');
      const fineMessages = collect(fine);
      await waitFor(() => fineMessages.length === 2, 'the two newer events');
      fine.close();
      assert.equal(fineGaps.length, 0);
    } finally {
      source?.close();
      await h.close();
    }
  });
});
