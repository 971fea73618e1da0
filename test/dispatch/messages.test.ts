import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';

let hookah: TestHookah;
let sink: Sink;
/** Paths on the sink that answer 500 until a test lifts the failure. */
const failing = new Set<string>();

before(async () => {
  hookah = await startTestHookah();
  sink = await startSink((req, res) => {
    const path = req.url.split('?')[0]!;
    res.statusCode = failing.has(path) ? 500 : 200;
    res.end(failing.has(path) ? `broken ${path}` : `thanks ${path}`);
  });
});

after(async () => {
  await hookah?.close();
  await sink?.close();
});

const enc = encodeURIComponent;

async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${hookah.url}${path}`);
  return { status: res.status, body: await res.json() };
}

async function dispatchTo(path: string, extra = ''): Promise<string> {
  const res = await fetch(`${hookah.url}/dispatch?_url=${enc(sink.url + path)}${extra}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ path }),
  });
  assert.equal(res.status, 202);
  return ((await res.json()) as { id: string }).id;
}

async function waitForStatus(id: string, status: string): Promise<any> {
  return waitFor(async () => {
    const res = await get(`/messages/${enc(id)}`);
    return res.body.status === status ? res.body : undefined;
  }, `message ${id} to be ${status}`, 10_000);
}

test('GET /messages/:id shows the message and its attempts', async () => {
  const id = await dispatchTo('/ok');
  const msg = await waitForStatus(id, 'delivered');
  assert.equal(msg.id, id);
  assert.equal(msg.kind, 'dispatch');
  assert.equal(msg.url, `${sink.url}/ok`);
  assert.equal(msg.attempt_count, 1);
  assert.equal(typeof msg.max_attempts, 'number');
  assert.ok(!Number.isNaN(Date.parse(msg.created_at)));
  assert.ok(!Number.isNaN(Date.parse(msg.delivered_at)));
  assert.equal(msg.next_attempt_at, null);
  assert.equal(msg.last_error, null);
  assert.equal(msg.attempts.length, 1);
  const [attempt] = msg.attempts;
  assert.equal(attempt.n, 1);
  assert.equal(attempt.status, 200);
  assert.equal(attempt.error, null);
  assert.equal(attempt.response_excerpt, 'thanks /ok');
  assert.ok(!Number.isNaN(Date.parse(attempt.started_at)));
  assert.equal(typeof attempt.duration_ms, 'number');
});

test('GET /messages/:id answers 404 for an unknown id', async () => {
  const res = await get('/messages/no-such-message');
  assert.equal(res.status, 404);
  assert.match(res.body.error, /no message with id no-such-message/);
});

test('a failed message is listed, and POST /messages/:id/retry re-delivers it', async () => {
  failing.add('/flaky');
  const id = await dispatchTo('/flaky', '&_retries=2');
  const failed = await waitForStatus(id, 'failed');
  assert.equal(failed.attempt_count, 2);
  assert.equal(failed.attempts.length, 2);
  assert.deepEqual(failed.attempts.map((a: any) => a.status), [500, 500]);
  assert.equal(failed.attempts[0].response_excerpt, 'broken /flaky');
  assert.match(failed.last_error, /500/);

  const list = await get('/messages?status=failed&kind=dispatch');
  assert.equal(list.status, 200);
  const listed = list.body.messages.find((m: any) => m.id === id);
  assert.ok(listed, 'the failed message is listed');
  assert.equal(listed.status, 'failed');
  assert.equal(listed.attempts, undefined, 'lists leave attempts out');
  assert.ok(list.body.messages.every((m: any) => m.status === 'failed'));

  failing.delete('/flaky');
  const before = sink.requests.filter((r) => r.url === '/flaky').length;
  const retry = await fetch(`${hookah.url}/messages/${enc(id)}/retry`, { method: 'POST' });
  assert.equal(retry.status, 202);
  assert.deepEqual(await retry.json(), { id, status: 'pending' });
  const delivered = await waitForStatus(id, 'delivered');
  assert.equal(delivered.attempts.at(-1).status, 200);
  assert.equal(sink.requests.filter((r) => r.url === '/flaky').length, before + 1);
});

test('POST /messages/:id/retry: 409 when delivered, 404 when unknown', async () => {
  const id = await dispatchTo('/done');
  await waitForStatus(id, 'delivered');
  const conflict = await fetch(`${hookah.url}/messages/${enc(id)}/retry`, { method: 'POST' });
  assert.equal(conflict.status, 409);
  assert.match(((await conflict.json()) as { error: string }).error, /already delivered/);
  const missing = await fetch(`${hookah.url}/messages/nope/retry`, { method: 'POST' });
  assert.equal(missing.status, 404);
});

test('GET /messages pages with limit and before', async () => {
  const ids = [await dispatchTo('/page'), await dispatchTo('/page'), await dispatchTo('/page')];
  for (const id of ids) await waitForStatus(id, 'delivered');
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const res: { status: number; body: any } = await get(`/messages?status=delivered&limit=2${cursor ? `&before=${enc(cursor)}` : ''}`);
    assert.equal(res.status, 200);
    assert.ok(res.body.messages.length <= 2);
    seen.push(...res.body.messages.map((m: any) => m.id));
    cursor = res.body.next;
    if (!cursor) break;
  }
  for (const id of ids) assert.ok(seen.includes(id), `message ${id} is on some page`);
  assert.equal(new Set(seen).size, seen.length, 'no message appears twice');
  // Newest first: the three were created in order.
  assert.deepEqual(seen.filter((id) => ids.includes(id)), [...ids].reverse());
});

test('GET /messages validates its parameters', async () => {
  for (const [query, reason] of [
    ['status=lost', /status must be one of/],
    ['kind=email', /kind must be one of/],
    ['limit=0', /limit must be a whole number from 1 to 500/],
    ['limit=501', /limit must be/],
    ['limit=ten', /limit must be/],
    ['status=failed&status=pending', /status must be one of/],
  ] as const) {
    const res = await get(`/messages?${query}`);
    assert.equal(res.status, 400, query);
    assert.match(res.body.error, reason);
  }
});
