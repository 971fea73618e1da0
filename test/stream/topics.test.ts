import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { HttpError } from '../../src/http/errors.ts';
import { openAuthorizer, type Authorizer } from '../../src/http/auth.ts';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { hook, jsonLines, openRaw } from './util.ts';

interface TopicRow {
  topic: string;
  count: number;
  bytes: number;
  last_id: string | null;
  last_at: string | null;
  subscribers: Record<string, number>;
}

interface Page {
  topic: string;
  messages: { id: string; topic: string; data: unknown; headers: Record<string, string>; content_type: string; source: string }[];
  next: string | null;
  gap: boolean;
}

const get = async <T>(url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
};

describe('backlog API', () => {
  let h: TestHookah;
  before(async () => {
    h = await startTestHookah({ backlog: { maxCount: 100, topics: [{ pattern: 'short/#', maxCount: 3 }] } });
  });
  after(() => h.close());

  test('GET /topics lists counts, sizes, last id/time and live subscribers by type', async () => {
    await hook(h.url, 'list/a', '{"n":1}');
    const last = await hook(h.url, 'list/a', '{"n":22}');
    const stream = await openRaw(`${h.url}/stream?topic=list/a`);
    const sse = await openRaw(`${h.url}/stream?topic=list/%2B`, { accept: 'text/event-stream' });
    const ws = new WebSocket(`${h.url.replace('http', 'ws')}/socket/list/a`);
    await new Promise((r) => ws.once('open', r));
    try {
      const { status, body } = await get<{ topics: TopicRow[]; truncated: boolean }>(`${h.url}/topics`);
      assert.equal(status, 200);
      assert.equal(body.truncated, false);
      const row = body.topics.find((t) => t.topic === 'list/a')!;
      assert.equal(row.count, 2);
      assert.equal(row.bytes, '{"n":1}'.length + '{"n":22}'.length);
      assert.equal(row.last_id, last);
      assert.ok(!Number.isNaN(Date.parse(row.last_at!)));
      assert.deepEqual(row.subscribers, { stream: 1, sse: 1, websocket: 1 });
      const one = await get<TopicRow>(`${h.url}/topics/list/a`);
      assert.equal(one.body.last_id, last);
      assert.equal((await get(`${h.url}/topics/never/seen`)).status, 404);
    } finally {
      stream.close();
      sse.close();
      ws.terminate();
    }
  });

  test('GET /topics/<topic>/messages pages through the backlog; %2F works as /', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await hook(h.url, 'page/t', JSON.stringify(i)));
    await hook(h.url, 'page/other', '"x"');
    const p1 = await get<Page>(`${h.url}/topics/page/t/messages?limit=2`);
    assert.equal(p1.status, 200);
    assert.equal(p1.body.topic, 'page/t');
    assert.deepEqual(
      p1.body.messages.map((m) => m.data),
      [0, 1],
    );
    assert.equal(p1.body.next, ids[1]);
    const p2 = await get<Page>(`${h.url}/topics/page%2Ft/messages?since=${p1.body.next}&limit=10`);
    assert.deepEqual(
      p2.body.messages.map((m) => m.id),
      ids.slice(2),
    );
    assert.equal(p2.body.gap, false);
    const bad = await get<{ error: string }>(`${h.url}/topics/page/t/messages?limit=100000`);
    assert.equal(bad.status, 400);
  });

  test('redeliver republishes a stored message to every live subscriber under a new id', async () => {
    const original = await hook(h.url, 'redo/t', '{"order":7}', 'application/json', 'POST', { 'x-sig': 's1' });
    const s = await openRaw(`${h.url}/stream?topic=redo/t`);
    try {
      const res = await fetch(`${h.url}/topics/redo/t/messages/${original}/redeliver`, { method: 'POST' });
      assert.equal(res.status, 202);
      const { id, original_id } = (await res.json()) as { id: string; original_id: string };
      assert.notEqual(id, original);
      assert.equal(original_id, original);
      const [line] = await s.until((t) => jsonLines(t).length >= 1 && jsonLines(t), 'the redelivery');
      assert.equal(line!.id, id);
      assert.equal(line!.source, 'redeliver');
      assert.deepEqual(line!.data, { order: 7 });
      assert.equal((line!.headers as Record<string, string>)['x-sig'], 's1');
      const copy = await h.runtime.stores.events.get(id);
      const first = await h.runtime.stores.events.get(original);
      assert.deepEqual(copy!.body, first!.body);
      assert.equal(copy!.contentType, first!.contentType);
      // Unknown id, or an id of another topic: 404.
      assert.equal((await fetch(`${h.url}/topics/redo/t/messages/999999/redeliver`, { method: 'POST' })).status, 404);
      assert.equal((await fetch(`${h.url}/topics/redo/other/messages/${original}/redeliver`, { method: 'POST' })).status, 404);
      assert.equal((await fetch(`${h.url}/topics/redo/t/messages/${original}/redeliver`)).status, 405);
    } finally {
      s.close();
    }
  });

  test('retention by count (per-topic rule) and gap detection when paging', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await hook(h.url, 'short/t', JSON.stringify(i)));
    const all = await get<Page>(`${h.url}/topics/short/t/messages`);
    assert.deepEqual(
      all.body.messages.map((m) => m.data),
      [3, 4, 5],
    );
    const since = await get<Page>(`${h.url}/topics/short/t/messages?since=${ids[0]}`);
    assert.equal(since.body.gap, true);
    const covered = await get<Page>(`${h.url}/topics/short/t/messages?since=${ids[3]}`);
    assert.equal(covered.body.gap, false);
    const rows = (await get<{ topics: TopicRow[] }>(`${h.url}/topics`)).body.topics;
    assert.equal(rows.find((t) => t.topic === 'short/t')!.count, 3);
    // A chunked stream resuming into the hole gets a gap line before the retained messages.
    const s = await openRaw(`${h.url}/stream?topic=short/t&since=${ids[0]}`);
    try {
      const lines = await s.until((t) => jsonLines(t).length >= 4 && jsonLines(t), 'gap + three messages');
      assert.equal(lines[0]!.gap, true);
      assert.equal(lines[0]!.since, ids[0]);
      assert.deepEqual(
        lines.slice(1).map((l) => l.data),
        [3, 4, 5],
      );
    } finally {
      s.close();
    }
  });
});

test('topics API permissions: read filters the list, admin guards redeliver', async () => {
  const auth: Authorizer = {
    ...openAuthorizer,
    enabled: true,
    authorize(_ctx, action, resource) {
      if (action === 'read' && resource === 'hidden') throw new HttpError(403, 'no');
      if (action === 'admin') throw new HttpError(403, 'admins only');
    },
  };
  const h = await startTestHookah({}, { auth });
  try {
    await hook(h.url, 'hidden', '1');
    const id = await hook(h.url, 'shown', '1');
    const list = await get<{ topics: TopicRow[] }>(`${h.url}/topics`);
    assert.deepEqual(
      list.body.topics.map((t) => t.topic),
      ['shown'],
    );
    assert.equal((await fetch(`${h.url}/topics/hidden/messages`)).status, 403);
    const res = await fetch(`${h.url}/topics/shown/messages/${id}/redeliver`, { method: 'POST' });
    assert.equal(res.status, 403);
    assert.equal((await h.runtime.stores.events.topics()).find((t) => t.topic === 'shown')!.count, 1, 'nothing was redelivered');
  } finally {
    await h.close();
  }
});
