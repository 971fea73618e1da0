import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { spawnHookah } from '../helpers/process.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';

const CONFIG = {
  log: { level: 'info' },
  dispatcher: { allowNetworks: ['127.0.0.0/8'], retrySchedule: [0, 50, 100], pollInterval: 20, jitter: 0, maxAttempts: 20 },
};

describe('durability', () => {
  let dir: string;
  let sink: Sink;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hookah-crash-'));
    // A slowish receiver, so that deliveries are in flight when the process dies.
    sink = await startSink((_req, res) => void setTimeout(() => res.end('ok'), 5));
  });
  after(async () => {
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no accepted message when the server is killed with SIGKILL mid-run', async () => {
    const first = await spawnHookah({ dir, config: CONFIG });
    const accepted = new Map<string, number>();
    let seq = 0;
    let killed = false;
    const send = async (): Promise<void> => {
      while (!killed) {
        const n = seq++;
        try {
          const res = await request(`${first.url}/dispatch?_url=${encodeURIComponent(`${sink.url}/in`)}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ n }),
          });
          const body = (await res.body.json()) as { id: string };
          if (res.statusCode === 202) accepted.set(body.id, n);
        } catch {
          return; // the server is gone: this request was never acknowledged
        }
      }
    };
    const senders = Array.from({ length: 8 }, send);
    await waitFor(() => accepted.size >= 150 && sink.requests.length >= 20, 'enough accepted and some delivered', 20_000);
    killed = true;
    await first.kill9();
    await Promise.all(senders);
    const deliveredBeforeCrash = new Set(sink.requests.map((r) => JSON.parse(r.body.toString()).n as number));
    assert.ok(deliveredBeforeCrash.size < accepted.size, 'the crash happened with deliveries outstanding');

    const second = await spawnHookah({ dir, config: CONFIG });
    try {
      const expected = new Set(accepted.values());
      await waitFor(() => {
        const got = new Set(sink.requests.map((r) => JSON.parse(r.body.toString()).n as number));
        return [...expected].every((n) => got.has(n));
      }, `all ${expected.size} accepted messages to be delivered after restart`, 30_000);
      for (const id of [...accepted.keys()].slice(0, 20)) {
        const res = await request(`${second.url}/messages/${id}`);
        const record = (await res.body.json()) as { status: string };
        assert.equal(record.status, 'delivered', id);
      }
      assert.ok(second.logs.some((l) => l.msg === 'resuming deliveries left in flight by a previous run') || deliveredBeforeCrash.size > 0);
    } finally {
      assert.equal(await second.stop(), 0);
    }
  });

  it('shuts down gracefully on SIGTERM, keeping queued work for the next start', async () => {
    const blocked: Array<() => void> = [];
    const slow = await startSink((_req, res) => void blocked.push(() => res.end('ok')));
    const d2 = mkdtempSync(join(tmpdir(), 'hookah-term-'));
    try {
      const server = await spawnHookah({ dir: d2, config: { ...CONFIG, server: { shutdownTimeout: '200ms' } } });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await request(`${server.url}/dispatch?_url=${encodeURIComponent(slow.url)}`, { method: 'POST', body: `m${i}`, headers: { 'content-type': 'text/plain' } });
        ids.push(((await res.body.json()) as { id: string }).id);
      }
      await waitFor(() => slow.requests.length >= 1, 'a delivery to be in flight');
      assert.equal(await server.stop(), 0);
      assert.ok(server.logs.some((l) => l.msg === 'stopped'));
      blocked.forEach((b) => b());
      slow.handle((_req, res) => void res.end('ok'));
      const again = await spawnHookah({ dir: d2, config: CONFIG });
      try {
        await waitFor(() => new Set(slow.requests.map((r) => r.body.toString())).size === 5, 'all five delivered after restart', 15_000);
      } finally {
        await again.stop();
      }
    } finally {
      blocked.forEach((b) => b());
      await slow.close();
      rmSync(d2, { recursive: true, force: true });
    }
  });
});
