import { createHmac } from 'node:crypto';
import type { StoredEvent } from '../../core/event.ts';
import type { DeliveryOutcome, Dispatcher } from '../../dispatcher/types.ts';
import type { HubSubscription, SubscriptionStore } from '../../hub/ports.ts';
import type { Logger } from '../../log.ts';
import type { HubMetrics } from './metrics.ts';

export type SignatureAlgorithm = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** Subscribers read per store query while fanning one event out. */
const PAGE = 500;

/** `X-Hub-Signature` value: `<algorithm>=<hex HMAC of the exact body>`. */
export function hubSignature(algorithm: SignatureAlgorithm, secret: string, body: Buffer): string {
  return `${algorithm}=${createHmac(algorithm, secret).update(body).digest('hex')}`;
}

/** Link header of a content notification: where to (re)subscribe and the topic's canonical URL. */
export function linkHeader(hubUrl: string, topic: string): string {
  return `<${escapeLinkTarget(hubUrl)}>; rel="hub", <${escapeLinkTarget(topic)}>; rel="self"`;
}

function escapeLinkTarget(uri: string): string {
  return uri.replace(/[<>]/g, (c) => (c === '<' ? '%3C' : '%3E'));
}

export interface DistributorDeps {
  store: SubscriptionStore;
  dispatcher: Dispatcher;
  metrics: HubMetrics;
  log: Logger;
  hubUrl: () => string;
  algorithm: SignatureAlgorithm;
}

/**
 * The single path from the topic bus to WebSub subscribers: every event
 * published on a topic, whatever its ingress (hub publish, fat ping,
 * /dispatch?_topic, …), becomes one durable delivery per live subscription.
 * It runs as a publish hook, so the publisher's acknowledgement means the
 * deliveries are queued.
 */
export function createDistributor(d: DistributorDeps): (event: StoredEvent) => Promise<void> {
  return async (event) => {
    const now = Date.now();
    let afterId: string | undefined;
    for (;;) {
      const page = await d.store.active(event.topic, now, PAGE, afterId);
      if (page.length === 0) return;
      await Promise.all(page.map((sub) => enqueue(d, event, sub)));
      d.metrics.notifications.inc(page.length);
      if (page.length < PAGE) return;
      afterId = page[page.length - 1]!.id;
    }
  };
}

async function enqueue(d: DistributorDeps, event: StoredEvent, sub: HubSubscription): Promise<void> {
  const headers: Record<string, string> = { link: linkHeader(d.hubUrl(), event.topic) };
  if (event.contentType) headers['content-type'] = event.contentType;
  if (sub.secret !== undefined) headers['x-hub-signature'] = hubSignature(d.algorithm, sub.secret, event.body);
  await d.dispatcher.enqueue({
    kind: 'websub',
    url: sub.callback,
    headers,
    body: event.body,
    // The subscriber authenticates us by X-Hub-Signature, not Standard Webhooks headers.
    sign: false,
    ref: sub.id,
    topic: event.topic,
    eventId: event.id,
  });
}

/**
 * 410 Gone from a callback ends its subscription (WebSub leaves retries to
 * the hub; Gone is the subscriber saying stop). Any other failure, even a
 * final one, leaves the subscription to run until its lease ends. A
 * subscription verified again after the attempt started is not touched.
 */
export function createGoneHandler(d: Pick<DistributorDeps, 'store' | 'metrics' | 'log'>): (outcome: DeliveryOutcome) => void {
  return ({ record, attempt }) => {
    if (record.kind !== 'websub' || attempt.status !== 410 || !record.ref) return;
    const id = record.ref;
    void (async () => {
      const sub = await d.store.getById(id);
      if (!sub || sub.verifiedAt > attempt.startedAt) return;
      if (await d.store.removeById(id)) {
        d.metrics.ended.inc({ reason: 'gone' });
        d.log.info({ id, topic: sub.topic, callback: sub.callback }, 'callback answered 410 Gone; subscription ended');
      }
    })().catch((err: Error) => d.log.warn({ err, id }, 'could not end a subscription after 410'));
  };
}
