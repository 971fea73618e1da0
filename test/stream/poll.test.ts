import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { waitFor } from '../helpers/wait.ts';
import { hook } from './util.ts';

interface PollResult {
  messages: { id: string; topic: string; data: unknown }[];
  next: string | null;
  gap: boolean;
}

async function poll(url: string): Promise<{ status: number; body: PollResult; ms: number }> {
  const started = Date.now();
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as PollResult, ms: Date.now() - started };
}

describe('GET /poll', () => {
  let h: TestHookah;
  before(async () => {
    h = await startTestHookah({ streams: { pollTimeout: '10s', maxPollTimeout: '20s' } });
  });
  after(() => h.close());

  test('returns at once what is newer than since', async () => {
    const a = await hook(h.url, 'poll/now', '1');
    const b = await hook(h.url, 'poll/now', '2');
    const r = await poll(`${h.url}/poll?topic=poll/now&since=${a}`);
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.messages.map((m) => m.id),
      [b],
    );
    assert.equal(r.body.next, b);
    assert.equal(r.body.gap, false);
  });

  test('waits for the next message, then returns it', async () => {
    const since = await hook(h.url, 'poll/wait', '"old"');
    const pending = poll(`${h.url}/poll?topic=poll/wait&since=${since}&timeout=10s`);
    await waitFor(() => (h.runtime.bus.subscriberCounts('poll/wait').poll ?? 0) === 1, 'the poll to be waiting');
    const id = await hook(h.url, 'poll/wait', '"new"');
    const r = await pending;
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.messages.map((m) => m.data),
      ['new'],
    );
    assert.equal(r.body.next, id);
    assert.ok(r.ms < 9000);
  });

  test('without since it waits for new messages only; next is the position to poll from', async () => {
    await hook(h.url, 'poll/fresh', '"before"');
    const pending = poll(`${h.url}/poll?topic=poll/fresh`);
    await waitFor(() => (h.runtime.bus.subscriberCounts('poll/fresh').poll ?? 0) === 1, 'the poll to be waiting');
    const id = await hook(h.url, 'poll/fresh', '"after"');
    const r = await pending;
    assert.deepEqual(
      r.body.messages.map((m) => m.data),
      ['after'],
    );
    assert.equal(r.body.next, id);
    // Chaining with `next` misses nothing published between polls.
    const later = await hook(h.url, 'poll/fresh', '"between"');
    const r2 = await poll(`${h.url}/poll?topic=poll/fresh&since=${r.body.next}`);
    assert.deepEqual(
      r2.body.messages.map((m) => m.id),
      [later],
    );
  });

  test('times out with 200 and no messages; next stays usable', async () => {
    const since = await hook(h.url, 'poll/quiet', '1');
    const r = await poll(`${h.url}/poll?topic=poll/quiet&since=${since}&timeout=150ms`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.messages, []);
    assert.equal(r.body.next, since);
    assert.ok(r.ms >= 140, `returned after ${r.ms} ms`);
    assert.equal(h.runtime.bus.subscriberCounts('poll/quiet').poll, undefined, 'the waiter unsubscribed');
  });

  test('wildcards and the limit parameter', async () => {
    const since = await hook(h.url, 'pollw/a', '0');
    for (let i = 1; i <= 5; i++) await hook(h.url, i % 2 ? 'pollw/b' : 'pollw/c/d', String(i));
    const r = await poll(`${h.url}/poll?topic=pollw/%2B&since=${since}&limit=2`);
    assert.deepEqual(
      r.body.messages.map((m) => m.data),
      [1, 3],
    );
    const r2 = await poll(`${h.url}/poll?topic=pollw/%2B&since=${r.body.next}`);
    assert.deepEqual(
      r2.body.messages.map((m) => m.data),
      [5],
    );
  });

  test('an id newer than anything stored (e.g. after a store reset) polls from now', async () => {
    const pending = poll(`${h.url}/poll?topic=poll/future&since=99999999&timeout=10s`);
    await waitFor(() => (h.runtime.bus.subscriberCounts('poll/future').poll ?? 0) === 1, 'the poll to be waiting');
    const id = await hook(h.url, 'poll/future', '"now"');
    const r = await pending;
    assert.deepEqual(
      r.body.messages.map((m) => m.id),
      [id],
    );
  });

  test('bad parameters get a 400', async () => {
    for (const q of ['', '?topic=a&timeout=soon', '?topic=a&limit=0', '?topic=a&limit=5000', '?topic=a+b']) {
      const res = await fetch(`${h.url}/poll${q}`);
      assert.equal(res.status, 400, q);
      assert.ok(((await res.json()) as { error: string }).error.length > 0);
    }
  });
});

test('poll reports a gap and moves next past it', async () => {
  const h = await startTestHookah({ backlog: { maxCount: 2 } });
  try {
    const first = await hook(h.url, 'pgap', '0');
    const ids: string[] = [];
    for (let i = 1; i <= 4; i++) ids.push(await hook(h.url, 'pgap', String(i)));
    const r = await poll(`${h.url}/poll?topic=pgap&since=${first}`);
    assert.equal(r.body.gap, true);
    assert.deepEqual(
      r.body.messages.map((m) => m.id),
      ids.slice(2),
    );
    const r2 = await poll(`${h.url}/poll?topic=pgap&since=${r.body.next}&timeout=50ms`);
    assert.equal(r2.body.gap, false);
  } finally {
    await h.close();
  }
});

test('a waiting poll returns on shutdown', async () => {
  const h = await startTestHookah();
  const pending = poll(`${h.url}/poll?topic=bye&timeout=60s`);
  await waitFor(() => (h.runtime.bus.subscriberCounts('bye').poll ?? 0) === 1, 'the poll to be waiting');
  await h.close();
  const r = await pending;
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.messages, []);
});
