import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { parseConfig } from '../../src/config/load.ts';
import { TopicBus } from '../../src/core/bus.ts';
import type { StoredEvent } from '../../src/core/event.ts';
import { createLogger } from '../../src/log.ts';
import { INLINE_BODY_LIMIT } from '../../src/store/redis/event-log.ts';
import { openStores, type Stores } from '../../src/store/index.ts';
import { redisMissing, startRedis, uniquePrefix, type TestRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Cross-node fan-out at the bus level: several TopicBus instances in this
 * process, each with its own Redis connections (as separate nodes have),
 * sharing one redis-server and key prefix.
 */
describe('topic bus across nodes (redis transport)', { skip: redisMissing }, () => {
  let server: TestRedis;
  let admin: Redis;
  const opened: Stores[] = [];

  before(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
  });
  after(async () => {
    for (const s of opened.splice(0)) await s.close().catch(() => undefined);
    admin?.disconnect();
    await server?.close();
  });

  async function cluster(n: number, options: { maxCount?: number } = {}) {
    const prefix = uniquePrefix();
    const config = parseConfig({
      storage: { driver: 'redis', redisUrl: server.url, redisPrefix: prefix },
      backlog: { maxCount: options.maxCount ?? 10_000 },
      log: { level: 'silent' },
    });
    const nodes: { bus: TopicBus; stores: Stores }[] = [];
    for (let i = 0; i < n; i++) {
      const stores = await openStores(config, createLogger('silent'));
      opened.push(stores);
      nodes.push({ bus: new TopicBus(stores.events, stores.transport), stores });
    }
    return { prefix, nodes };
  }

  const publish = (bus: TopicBus, topic: string, body: string | Buffer) =>
    bus.publish({ topic, headers: {}, contentType: 'text/plain', body: Buffer.isBuffer(body) ? body : Buffer.from(body), source: 'test' });

  const collect = (bus: TopicBus, patterns: string[]) => {
    const got: StoredEvent[] = [];
    const off = bus.subscribe(patterns, (e) => got.push(e), 'internal');
    return { got, off };
  };

  it('delivers an event published on one node to subscribers on the others, once each, and to the publisher itself', async () => {
    const { nodes } = await cluster(3);
    const [a, b, c] = nodes.map((n) => n.bus) as [TopicBus, TopicBus, TopicBus];
    const onA = collect(a, ['orders']);
    const onB = collect(b, ['orders']);
    const onC = collect(c, ['orders/#']);
    await Promise.all([a.ready(), b.ready(), c.ready()]);
    const e = await publish(a, 'orders', 'hello');
    for (const sub of [onA, onB, onC]) await waitFor(() => sub.got.length === 1, 'the event on every node', 5000);
    for (const sub of [onA, onB, onC]) {
      assert.equal(sub.got[0]!.id, e.id);
      assert.equal(sub.got[0]!.body.toString(), 'hello');
    }
    // A later event proves nothing else (no duplicate) was on its way.
    await publish(b, 'orders', 'second');
    for (const sub of [onA, onB, onC]) await waitFor(() => sub.got.length === 2, 'the second event', 5000);
    for (const sub of [onA, onB, onC]) assert.deepEqual(sub.got.map((x) => x.body.toString()), ['hello', 'second']);
  });

  it('keeps per-topic order identical on every node while several nodes publish concurrently', async () => {
    const { nodes } = await cluster(3);
    const buses = nodes.map((n) => n.bus);
    const subs = buses.map((bus) => collect(bus, ['race']));
    await Promise.all(buses.map((bus) => bus.ready()));
    const per = 60;
    await Promise.all(buses.map(async (bus, i) => { for (let k = 0; k < per; k++) await publish(bus, 'race', `${i}:${k}`); }));
    for (const s of subs) await waitFor(() => s.got.length === per * 3, `${per * 3} events`, 10_000);
    const reference = subs[0]!.got.map((e) => e.id);
    const sorted = [...reference].sort((x, y) => Number(x) - Number(y));
    assert.deepEqual(reference, sorted, 'delivered in id order');
    for (const s of subs) assert.deepEqual(s.got.map((e) => e.id), reference, 'same order everywhere');
    // Each publisher's own events stay in its publish order.
    for (let i = 0; i < 3; i++) {
      const mine = subs[1]!.got.map((e) => e.body.toString()).filter((b) => b.startsWith(`${i}:`));
      assert.deepEqual(mine, Array.from({ length: per }, (_, k) => `${i}:${k}`));
    }
  });

  it('only nodes with local subscribers receive a topic; the last unsubscribe stops it', async () => {
    const { prefix, nodes } = await cluster(2);
    const [a, b] = nodes.map((n) => n.bus) as [TopicBus, TopicBus];
    const sub = collect(b, ['only-b']);
    const wild = collect(b, ['w/+']);
    await b.ready();
    // Topic channels only: each node also listens on its own tunnel inbox (`tn:m:<node>`).
    const channels = async () => ((await admin.pubsub('CHANNELS', `${prefix}ch:*`)) as string[]).sort();
    assert.deepEqual(await channels(), [`${prefix}ch:only-b`]);
    assert.equal(Number(await admin.pubsub('NUMPAT')) >= 1, true);
    await publish(a, 'only-b', '1');
    await waitFor(() => sub.got.length === 1, 'delivery to b');
    sub.off();
    wild.off();
    await waitFor(async () => (await channels()).length === 0, 'the channel to be unsubscribed', 5000);
  });

  it('matches wildcard patterns and never delivers twice to overlapping subscriptions', async () => {
    const { nodes } = await cluster(2);
    const [a, b] = nodes.map((n) => n.bus) as [TopicBus, TopicBus];
    const exact = collect(b, ['shop/eu/orders']);
    const plus = collect(b, ['shop/+/orders']);
    const hash = collect(b, ['shop/#']);
    await b.ready();
    await publish(a, 'shop/eu/orders', '1');
    await publish(a, 'shop/us/orders', '2');
    await publish(a, 'shop/us/orders/extra', '3');
    await publish(a, 'shopping', '4');
    await publish(a, 'shop', '5');
    await waitFor(() => hash.got.length === 4, 'four events on shop/#');
    assert.deepEqual(hash.got.map((e) => e.body.toString()), ['1', '2', '3', '5']);
    assert.deepEqual(plus.got.map((e) => e.body.toString()), ['1', '2']);
    assert.deepEqual(exact.got.map((e) => e.body.toString()), ['1']);
  });

  it('fetches bodies too large to travel inline without reordering the topic', async () => {
    const { nodes } = await cluster(2);
    const [a, b] = nodes.map((n) => n.bus) as [TopicBus, TopicBus];
    const sub = collect(b, ['big']);
    await b.ready();
    const large = Buffer.alloc(INLINE_BODY_LIMIT + 1000, 1);
    await publish(a, 'big', 'small-1');
    await publish(a, 'big', large);
    await publish(a, 'big', 'small-2');
    await waitFor(() => sub.got.length === 3, 'three events');
    assert.equal(sub.got[0]!.body.toString(), 'small-1');
    assert.deepEqual(sub.got[1]!.body, large);
    assert.equal(sub.got[2]!.body.toString(), 'small-2');
  });

  it('does not miss an event published on another node right after subscribing', async () => {
    const { nodes } = await cluster(2);
    const [a, b] = nodes.map((n) => n.bus) as [TopicBus, TopicBus];
    for (let i = 0; i < 20; i++) {
      const topic = `fresh-${i}`;
      const sub = collect(b, [topic]);
      // No ready(): the catch-up after SUBSCRIBE must cover the race.
      await publish(a, topic, 'x');
      await waitFor(() => sub.got.length === 1, `the event on ${topic}`);
      sub.off();
    }
  });

  it('follow resumes from an id published on another node (Last-Event-ID across nodes)', async () => {
    const { nodes } = await cluster(2);
    const [a, b] = nodes.map((n) => n.bus) as [TopicBus, TopicBus];
    const first = await publish(a, 'resume', '1');
    await publish(a, 'resume', '2');
    await publish(a, 'resume', '3');
    const got: StoredEvent[] = [];
    const off = await b.follow(['resume'], (e) => got.push(e), { kind: 'sse', afterId: first.id });
    await publish(a, 'resume', '4');
    await waitFor(() => got.length === 3, 'replay then live');
    assert.deepEqual(got.map((e) => e.body.toString()), ['2', '3', '4']);
    off();
  });

  it('after its subscriber connection drops, a node catches up in order with what it missed', async () => {
    const { nodes } = await cluster(2);
    const [a, b] = nodes.map((n) => n.bus) as [TopicBus, TopicBus];
    const sub = collect(b, ['outage']);
    await b.ready();
    await publish(a, 'outage', '0');
    await waitFor(() => sub.got.length === 1, 'the first event');
    // Drop every pub/sub connection; Redis itself stays up and keeps accepting publishes.
    await admin.client('KILL', 'TYPE', 'pubsub');
    for (let i = 1; i <= 20; i++) await publish(a, 'outage', String(i));
    await waitFor(() => sub.got.length === 21, 'all 21 events after the reconnect', 10_000);
    assert.deepEqual(sub.got.map((e) => e.body.toString()), Array.from({ length: 21 }, (_, i) => String(i)));
    await publish(a, 'outage', 'after');
    await waitFor(() => sub.got.length === 22, 'live again');
  });
});
