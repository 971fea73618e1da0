import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tokenDigest } from '../../src/auth/tokens.ts';
import { spawnHookah, type HookahProcess } from '../helpers/process.ts';
import { redisMissing, startRedis, type TestRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';
import { basic, bearer, fastHash } from './support.ts';

/**
 * Three Hookah processes on one redis-server, as behind a load balancer: a
 * client whose requests are spread over the nodes is limited by one shared
 * budget (`burst` requests in total, not per node). Each scenario comes from
 * its own client address (X-Forwarded-For from a trusted proxy), so their
 * buckets are apart.
 */

const TOKEN = 'hk_cluster_rate_limit_token_0123456789';

async function nodeConfig(perIpBurst: number) {
  return {
    server: { trustedProxies: ['127.0.0.1/32', '::1/128'] },
    auth: {
      users: [
        { name: 'bot', tokens: [`sha256:${tokenDigest(TOKEN)}`], publish: ['#'] },
        { name: 'human', password: await fastHash('right-password'), read: ['#'] },
      ],
      anonymous: { publish: ['open/#'] },
    },
    rateLimit: {
      perIp: { rate: 0.001, burst: perIpBurst },
      perToken: { rate: 0.001, burst: 4 },
      authFailures: { rate: 0.001, burst: 3 },
    },
  };
}

interface Reply {
  status: number;
  retryAfter: string | null;
  error?: string;
}

async function send(node: HookahProcess, path: string, ip: string, init: { method?: string; auth?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { 'x-forwarded-for': ip, 'content-type': 'text/plain' };
  if (init.auth) headers.authorization = init.auth;
  const res = await fetch(`${node.url}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.method === 'POST' ? { body: 'x' } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let error: string | undefined;
  try {
    error = (JSON.parse(text) as { error?: string }).error;
  } catch {
    error = undefined;
  }
  return { status: res.status, retryAfter: res.headers.get('retry-after'), ...(error ? { error } : {}) };
}

describe('rate limits shared by three hookah nodes on one redis', { skip: redisMissing, timeout: 180_000 }, () => {
  let redis: TestRedis;
  const dirs: string[] = [];
  let nodes: HookahProcess[] = [];

  before(async () => {
    redis = await startRedis({ fsync: 'everysec' });
    const config = await nodeConfig(6);
    nodes = await Promise.all(
      [0, 1, 2].map(() => {
        const dir = mkdtempSync(join(tmpdir(), 'hookah-rl-node-'));
        dirs.push(dir);
        return spawnHookah({ dir, config, args: ['--store', redis.url], timeoutMs: 30_000 });
      }),
    );
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    await redis?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** Sends `count` requests round robin over the nodes, one at a time. */
  async function spread(count: number, request: (node: HookahProcess) => Promise<Reply>): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (let i = 0; i < count; i++) replies.push(await request(nodes[i % nodes.length]!));
    return replies;
  }

  test('per IP: burst requests in total over all nodes, then 429 with Retry-After on every node', async () => {
    const ip = '198.51.100.1';
    const publish = (node: HookahProcess) => send(node, '/dispatch?_topic=open/orders', ip, { method: 'POST' });
    const accepted = await spread(6, publish);
    assert.deepEqual(
      accepted.map((r) => r.status),
      [202, 202, 202, 202, 202, 202],
    );
    for (const node of nodes) {
      const limited = await publish(node);
      assert.equal(limited.status, 429, 'the budget is spent on every node, not only where it was used');
      assert.ok(Number(limited.retryAfter) >= 1, `Retry-After: ${limited.retryAfter}`);
      assert.match(limited.error ?? '', /too many requests from 198\.51\.100\.1/);
    }
    assert.equal((await publish(nodes[0]!)).status, 429);
    // Another client still has its whole budget.
    assert.equal((await send(nodes[1]!, '/dispatch?_topic=open/orders', '198.51.100.99', { method: 'POST' })).status, 202);
  });

  test('per token: one budget for a credential whichever node it uses', async () => {
    const ip = '198.51.100.2';
    const replies = await spread(5, (node) => send(node, '/hook/bot/events', ip, { method: 'POST', auth: bearer(TOKEN) }));
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 200, 200, 429],
    );
    assert.match(replies[4]!.error ?? '', /too many requests for bot/);
    assert.ok(Number(replies[4]!.retryAfter) >= 1);
  });

  test('failed logins: counted over all nodes, then 429 before any password is checked', async () => {
    const ip = '198.51.100.3';
    const replies = await spread(4, (node) => send(node, '/topics', ip, { auth: basic('human', 'wrong-password') }));
    assert.deepEqual(
      replies.map((r) => r.status),
      [401, 401, 401, 429],
    );
    assert.ok(replies[3]!.retryAfter);
    assert.equal((await send(nodes[2]!, '/topics', ip, { auth: basic('human', 'right-password') })).status, 429, 'throttled on every node');
    assert.equal((await send(nodes[2]!, '/topics', '198.51.100.33', { auth: basic('human', 'right-password') })).status, 200);
  });

  test('a reload (SIGHUP) applies new settings on every node; unchanged limits keep their buckets', async () => {
    const ip = '198.51.100.1'; // spent its 6 in the first test
    const config = await nodeConfig(9);
    for (const [i, node] of nodes.entries()) {
      const reloads = node.logs.filter((l) => l.msg === 'configuration reloaded').length;
      writeFileSync(join(dirs[i]!, 'hookah.json'), JSON.stringify(config));
      node.proc.kill('SIGHUP');
      await waitFor(() => node.logs.filter((l) => l.msg === 'configuration reloaded').length > reloads, `node ${i} reloaded`, 10_000);
    }
    const replies = await spread(10, (node) => send(node, '/dispatch?_topic=open/orders', ip, { method: 'POST' }));
    assert.deepEqual(
      replies.map((r) => r.status),
      [202, 202, 202, 202, 202, 202, 202, 202, 202, 429],
      'the new burst of 9, shared',
    );
    const token = await send(nodes[0]!, '/hook/bot/events', '198.51.100.2', { method: 'POST', auth: bearer(TOKEN) });
    assert.equal(token.status, 429, 'perToken did not change: its spent bucket is kept');
  });

  test('no node fell back to local buckets', () => {
    for (const node of nodes) assert.equal(node.logs.filter((l) => /shared rate-limit buckets unavailable/.test(String(l.msg))).length, 0);
  });
});
