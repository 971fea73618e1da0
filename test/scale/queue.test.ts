import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnHookah, type HookahProcess } from '../helpers/process.ts';
import { redisMissing, startRedis, type TestRedis } from '../helpers/redis.ts';
import { basic, fastHash } from '../auth/support.ts';
import { openRaw, type RawStream } from '../stream/util.ts';
import { waitFor } from '../helpers/wait.ts';
import { createLogger } from '../../src/log.ts';
import { closeRedis, connectRedis } from '../../src/store/redis/connection.ts';
import { RedisQueueClients } from '../../src/store/redis/queue-clients.ts';
import { uniquePrefix } from '../helpers/redis.ts';

/**
 * The webhook queue (/q, /listen, /read, /unlisten) on three Hookah processes
 * sharing one redis-server: a client may listen through one node and read
 * through the others, and gets every message exactly once, in order, with
 * the documented refresh and cursor semantics.
 */

const AUTH = basic('john', 'queue-password');
const ADMIN = basic('ops', 'admin-password');

interface MessageList {
  time: string;
  current_message: number;
  messages: { id: number; message: string }[];
}

interface Reply {
  status: number;
  text: string;
  json<T = any>(): T;
}

async function call(node: HookahProcess, path: string, init: { method?: string; body?: string; auth?: string | null } = {}): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'text/plain' };
  const auth = init.auth === undefined ? AUTH : init.auth;
  if (auth) headers.authorization = auth;
  const res = await fetch(`${node.url}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: init.body } : {}),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

/** POSTs to /q/<queue> on `node`; returns the event id. */
async function post(node: HookahProcess, queue: string, body: string): Promise<number> {
  const res = await fetch(`${node.url}/q/${queue}`, { method: 'POST', body, headers: { 'content-type': 'text/plain' }, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200, await res.text());
  return Number(res.headers.get('x-hookah-event-id'));
}

async function read(node: HookahProcess, client: string): Promise<MessageList> {
  const r = await call(node, `/read/${encodeURIComponent(client)}`);
  assert.equal(r.status, 200, r.text);
  return r.json<MessageList>();
}

describe('webhook queue on three hookah nodes on one redis', { skip: redisMissing, timeout: 180_000 }, () => {
  let redis: TestRedis;
  const dirs: string[] = [];
  let nodes: HookahProcess[] = [];
  const streams: RawStream[] = [];

  let config: unknown;

  before(async () => {
    redis = await startRedis({ fsync: 'everysec' });
    config = {
      auth: {
        users: [
          { name: 'john', password: await fastHash('queue-password'), queues: ['jobs', 'mixed', 'small', 'tiny', 'live', 'race', 'names'] },
          { name: 'ops', password: await fastHash('admin-password'), admin: true },
        ],
      },
      queues: {
        list: [
          { name: 'jobs' },
          { name: 'mixed' },
          { name: 'small', maxMessageCount: 3 },
          { name: 'tiny', maxMessageSize: 10 },
          { name: 'live' },
          { name: 'race' },
          { name: 'names' },
        ],
      },
      streams: { keepAlive: '1s' },
    };
    nodes = await Promise.all(
      [0, 1, 2].map(() => {
        const dir = mkdtempSync(join(tmpdir(), 'hookah-queue-node-'));
        dirs.push(dir);
        return spawnHookah({ dir, config, args: ['--store', redis.url], timeoutMs: 30_000 });
      }),
    );
  });

  after(async () => {
    for (const s of streams) s.close();
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    await redis?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('listen on B, post on A, read on C: every message once, in order; the cursor is shared', async () => {
    const [a, b, c] = nodes as [HookahProcess, HookahProcess, HookahProcess];
    const before = await post(a, 'jobs', 'sent before listening');
    assert.equal((await call(b, '/listen/laptop/jobs')).status, 200);
    const bodies = Array.from({ length: 12 }, (_, i) => `job ${i} ${'é'.repeat(i)}`);
    const ids: number[] = [];
    for (const body of bodies) ids.push(await post(a, 'jobs', body));
    assert.ok(ids.every((id, i) => id > before && (i === 0 || id > ids[i - 1]!)), `ids increase: ${ids}`);

    const first = await read(c, 'laptop');
    assert.deepEqual(first.messages.map((m) => m.id), ids);
    assert.deepEqual(first.messages.map((m) => m.message), bodies);
    assert.equal(first.current_message, ids.at(-1));
    // The cursor moved for every node.
    assert.deepEqual((await read(b, 'laptop')).messages, []);
    assert.deepEqual((await read(a, 'laptop')).messages, []);

    const more = [await post(c, 'jobs', 'later 1'), await post(b, 'jobs', 'later 2')];
    const second = await read(a, 'laptop');
    assert.deepEqual(second.messages.map((m) => m.id), more);
    assert.deepEqual(second.messages.map((m) => m.message), ['later 1', 'later 2']);
    assert.deepEqual((await read(c, 'laptop')).messages, []);
  });

  test('posts and reads interleaved over all nodes: the union of reads is every post, in order, without repeats', async () => {
    assert.equal((await call(nodes[2]!, '/listen/phone/mixed')).status, 200);
    const posted: number[] = [];
    const got: number[] = [];
    for (let round = 0; round < 9; round++) {
      for (let k = 0; k <= round % 3; k++) posted.push(await post(nodes[(round + k) % 3]!, 'mixed', `r${round}k${k}`));
      got.push(...(await read(nodes[(round + 1) % 3]!, 'phone')).messages.map((m) => m.id));
    }
    got.push(...(await read(nodes[0]!, 'phone')).messages.map((m) => m.id));
    assert.deepEqual(got, posted);
  });

  test('concurrent reads of one client through different nodes hand out each message once', async () => {
    assert.equal((await call(nodes[0]!, '/listen/tablet/race')).status, 200);
    const posted: number[] = [];
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < 20; k++) posted.push(await post(nodes[k % 3]!, 'race', `m${round}-${k}`));
      const lists = await Promise.all(nodes.flatMap((n) => [read(n, 'tablet'), read(n, 'tablet')]));
      const ids = lists.flatMap((l) => l.messages.map((m) => m.id));
      assert.equal(new Set(ids).size, ids.length, `round ${round}: no message handed out twice (${ids.length} handed out)`);
      for (const l of lists) {
        const own = l.messages.map((m) => m.id);
        assert.deepEqual(own, [...own].sort((x, y) => x - y), 'each read is in order');
      }
      const rest = (await read(nodes[round % 3]!, 'tablet')).messages.map((m) => m.id);
      assert.deepEqual([...ids, ...rest].sort((x, y) => x - y), posted.slice(round * 20), `round ${round}: none lost`);
    }
  });

  test('an oversized message posted on A tells a reader on C to refresh; the next read on B continues', async () => {
    const [a, b, c] = nodes as [HookahProcess, HookahProcess, HookahProcess];
    assert.equal((await call(b, '/listen/watch/tiny')).status, 200);
    const kept = await post(a, 'tiny', 'small one');
    const big = await fetch(`${a.url}/q/tiny`, { method: 'POST', body: 'far too large for tiny', headers: { 'content-type': 'text/plain' } });
    assert.equal(big.status, 413);
    const refused = await call(c, '/read/watch');
    assert.equal(refused.status, 410);
    assert.equal(refused.json().refresh, true);
    assert.match(refused.json().message, /dropped from the queue due to size constraints/);
    // It restarts from the newest message: what it had not read is gone (that is what refresh means).
    const after = await read(b, 'watch');
    assert.deepEqual(after.messages, []);
    const next = await post(c, 'tiny', 'next one');
    assert.ok(next > kept);
    assert.deepEqual((await read(a, 'watch')).messages.map((m) => m.message), ['next one']);
  });

  test('messages that rolled off while the client was away: 410 refresh on one node, the next read on another continues', async () => {
    const [a, b, c] = nodes as [HookahProcess, HookahProcess, HookahProcess];
    assert.equal((await call(a, '/listen/away/small')).status, 200);
    for (let i = 0; i < 5; i++) await post(nodes[i % 3]!, 'small', `s${i}`);
    const refused = await call(b, '/read/away');
    assert.equal(refused.status, 410);
    assert.equal(refused.json().refresh, true);
    assert.match(refused.json().message, /too long since you've read/);
    assert.deepEqual((await read(c, 'away')).messages, []);
    await post(b, 'small', 'fresh');
    assert.deepEqual((await read(a, 'away')).messages.map((m) => m.message), ['fresh']);
  });

  test('client names are one namespace over all nodes: listen twice, unlisten on another node', async () => {
    const [a, b, c] = nodes as [HookahProcess, HookahProcess, HookahProcess];
    assert.equal((await call(a, '/listen/desk/names')).status, 200);
    const again = await call(b, '/listen/desk/names');
    assert.equal(again.status, 400);
    assert.match(again.json().message, /already listening/);
    assert.equal((await call(c, '/unlisten/desk')).status, 200);
    const gone = await call(a, '/read/desk');
    assert.equal(gone.status, 404);
    assert.equal((await call(b, '/listen/desk/names')).status, 200, 'listening again after unlisten');
  });

  test('the server time is the same on every node, also one started later, so a client reading through several does not see a restart', async () => {
    const first = (await call(nodes[0]!, '/time', { auth: null })).text;
    // A node started in a later second than the others.
    await waitFor(() => Math.floor(Date.now() / 1000) > Number(first), 'the next second');
    const dir = mkdtempSync(join(tmpdir(), 'hookah-queue-node-'));
    dirs.push(dir);
    nodes.push(await spawnHookah({ dir, config, args: ['--store', redis.url], timeoutMs: 30_000 }));
    const times = await Promise.all(nodes.map(async (n) => (await call(n, '/time', { auth: null })).text));
    assert.deepEqual(times, nodes.map(() => first));
    assert.equal((await call(nodes[3]!, '/listen/clock/jobs')).status, 200);
    const listed = await Promise.all(nodes.map((n) => read(n, 'clock')));
    assert.deepEqual(listed.map((l) => l.time), times);
    await nodes.pop()!.stop();
  });

  test('a long poll and a stream of the queue topic on other nodes are woken by a post on A', async () => {
    const [a, b, c] = nodes as [HookahProcess, HookahProcess, HookahProcess];
    const warm = await post(a, 'live', 'warm-up');
    const longPoll = call(c, `/poll?topic=q/live&since=${warm}&timeout=20s`);
    const sse = await openRaw(`${b.url}/sse?topic=q/live`, { authorization: AUTH });
    streams.push(sse);
    assert.equal(sse.res.statusCode, 200);
    // Both are waiting before the post, so it is the post on A that wakes them, not the backlog.
    const waiting = async (node: HookahProcess, type: string) =>
      new RegExp(`hookah_stream_subscribers\\{type="${type}"\\} 1\\b`).test((await call(node, '/metrics', { auth: ADMIN })).text);
    await waitFor(() => waiting(c, 'poll'), 'the long poll waiting on C', 10_000);
    await waitFor(() => waiting(b, 'sse'), 'the SSE subscriber on B', 10_000);
    const id = await post(a, 'live', 'wake up');
    const polled = await longPoll;
    assert.equal(polled.status, 200, polled.text);
    const messages = polled.json<{ messages: { id: string }[] }>().messages;
    assert.deepEqual(messages.map((m) => m.id), [String(id)]);
    await sse.until((t) => t.includes(`id: ${id}`) && t.includes('wake up'), 'the SSE event on B', 10_000);
  });
});

describe('redis queue clients: what several nodes need beyond the shared contract', { skip: redisMissing, timeout: 60_000 }, () => {
  test('startTime: the first node to ask sets the queue API time, every later one gets it', async () => {
    const redis = await startRedis({ fsync: 'everysec' });
    const conn = await connectRedis({ url: redis.url, log: createLogger('silent'), name: 'qc-test', role: 'command' }, 10_000);
    try {
      const store = new RedisQueueClients(conn, uniquePrefix());
      assert.equal(await store.startTime('1000'), '1000');
      assert.equal(await store.startTime('2000'), '1000', 'the first node to ask sets it');
    } finally {
      await closeRedis(conn);
      await redis.close();
    }
  });
});
