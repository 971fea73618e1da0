import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { waitFor } from '../helpers/wait.ts';
import { postForm, startSubscriber, verifyHubSignature, type TestSubscriber } from './subscriber.ts';

/** Leases, delivery failures and restarts: what decides how long a subscription lives. */
describe('WebSub hub: subscription lifecycle', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  async function setup(config: Parameters<typeof startTestHookah>[0] = {}): Promise<{ hookah: TestHookah; sub: TestSubscriber }> {
    const hookah = await startTestHookah(config);
    cleanups.push(() => hookah.close());
    const sub = await startSubscriber();
    cleanups.push(() => sub.close());
    return { hookah, sub };
  }

  async function subscribe(hookah: TestHookah, topic: string, callback: string, extra: Record<string, string> = {}) {
    const res = await postForm(`${hookah.url}/hub`, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': callback, ...extra });
    assert.equal(res.status, 202, res.body);
    return waitFor(() => hookah.runtime.stores.subscriptions.get(topic, callback), `subscription to ${topic}`, 8000);
  }

  async function fatPing(hookah: TestHookah, topic: string, body: string): Promise<string> {
    const res = await fetch(`${hookah.url}/hub?hub.mode=publish&hub.topic=${encodeURIComponent(topic)}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body,
    });
    assert.equal(res.status, 202);
    return ((await res.json()) as { id: string }).id;
  }

  async function deliveriesOf(hookah: TestHookah, eventId: string) {
    return (await hookah.runtime.dispatcher.list({ kind: 'websub', limit: 1000 })).filter((d) => d.eventId === eventId);
  }

  test('an expired subscription receives nothing, even before the sweep removes it', async () => {
    const { hookah, sub } = await setup({ hub: { minLease: '1s', sweepInterval: '1h' } });
    const topic = 'https://publisher.example/short-lease';
    const callback = sub.callback('/cb/expiring');
    const s = await subscribe(hookah, topic, callback, { 'hub.lease_seconds': '1' });
    assert.equal(sub.verifications[0]!.leaseSeconds, 1);
    assert.equal(s.leaseSeconds, 1);
    const store = hookah.runtime.stores.subscriptions;
    await waitFor(async () => !(await store.hasActive(topic, Date.now())), 'lease to end', 8000);
    const eventId = await fatPing(hookah, topic, 'too late');
    assert.equal((await deliveriesOf(hookah, eventId)).length, 0);
    assert.ok(await store.get(topic, callback), 'still stored: only the sweep deletes it');
  });

  test('the periodic sweep deletes expired subscriptions', async () => {
    const { hookah, sub } = await setup({ hub: { minLease: '1s', sweepInterval: '100ms' } });
    const topic = 'https://publisher.example/swept';
    const callback = sub.callback('/cb/swept');
    const res = await postForm(`${hookah.url}/hub`, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': callback, 'hub.lease_seconds': '1' });
    assert.equal(res.status, 202);
    // The sweep may beat a poll of the store, so watch the counters rather than the row.
    await sub.waitForVerifications(1);
    const verifiedAt = sub.sink.requests[0]!.at;
    const ended = hookah.runtime.metrics.registry.getSingleMetric('hookah_websub_subscriptions_ended_total')!;
    await waitFor(async () => (await ended.get()).values.some((v) => v.labels.reason === 'expired' && v.value === 1), 'sweep', 8000);
    assert.ok(Date.now() - verifiedAt >= 900, 'not removed before its lease ended');
    assert.equal(await hookah.runtime.stores.subscriptions.get(topic, callback), undefined);
  });

  test('a callback answering 410 Gone ends its subscription', async () => {
    const { hookah, sub } = await setup();
    const topic = 'https://publisher.example/gone';
    const callback = sub.callback('/cb/gone');
    await subscribe(hookah, topic, callback);
    sub.notifyStatus(410);
    await fatPing(hookah, topic, 'go away?');
    await sub.waitForNotifications(1);
    await waitFor(async () => (await hookah.runtime.stores.subscriptions.get(topic, callback)) === undefined, 'subscription ended by 410');
    const eventId = await fatPing(hookah, topic, 'after gone');
    assert.equal((await deliveriesOf(hookah, eventId)).length, 0);
  });

  test('a notification that fails for good does not end the subscription before its lease', async () => {
    const { hookah, sub } = await setup();
    const topic = 'https://publisher.example/flaky';
    const callback = sub.callback('/cb/flaky');
    await subscribe(hookah, topic, callback);
    sub.notifyStatus(500);
    const eventId = await fatPing(hookah, topic, 'will fail');
    const [delivery] = await deliveriesOf(hookah, eventId);
    assert.ok(delivery);
    await waitFor(async () => (await hookah.runtime.dispatcher.get(delivery.id))?.status === 'failed', 'delivery to fail for good', 10_000);
    assert.ok(sub.notifications.length >= 2, 'it was retried');
    assert.ok(await hookah.runtime.stores.subscriptions.get(topic, callback), 'subscription kept');

    sub.notifyStatus(200);
    const before = sub.notifications.length;
    await fatPing(hookah, topic, 'works again');
    await waitFor(() => sub.notifications.slice(before).some((n) => n.body.toString() === 'works again'), 'later delivery');
  });

  test('subscriptions survive a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookah-hub-restart-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'hub.db');
    const sub = await startSubscriber();
    cleanups.push(() => sub.close());
    const topic = 'https://publisher.example/durable';
    const callback = sub.callback('/cb/durable');

    const first = await startTestHookah({ storage: { path } });
    let before;
    try {
      before = await subscribe(first, topic, callback, { 'hub.secret': 'persisted' });
    } finally {
      await first.close();
    }

    const second = await startTestHookah({ storage: { path } });
    cleanups.push(() => second.close());
    assert.deepEqual(await second.runtime.stores.subscriptions.get(topic, callback), before);
    await fatPing(second, topic, 'after restart');
    const [note] = await sub.waitForNotifications(1);
    assert.equal(note!.body.toString(), 'after restart');
    assert.equal(note!.links.hub, `${second.url}/hub`);
    assert.ok(verifyHubSignature(note!.signature, note!.body, 'persisted'));
  });
});
