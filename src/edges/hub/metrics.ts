import type { Counter } from 'prom-client';
import type { SubscriptionStore } from '../../hub/ports.ts';
import type { Metrics } from '../../metrics.ts';

export interface HubMetrics {
  verifications: Counter<'mode' | 'outcome'>;
  notifications: Counter;
  fetches: Counter<'outcome'>;
  ended: Counter<'reason'>;
}

export function createHubMetrics(metrics: Metrics, store: SubscriptionStore): HubMetrics {
  metrics.gauge('hookah_websub_subscriptions', 'WebSub subscriptions whose lease has not ended', [], async function () {
    this.set(await store.countActive(Date.now()));
  });
  return {
    verifications: metrics.counter(
      'hookah_websub_verifications_total',
      'WebSub verifications of intent by mode and outcome (verified, failed, denied, skipped)',
      ['mode', 'outcome'],
    ),
    notifications: metrics.counter('hookah_websub_notifications_total', 'WebSub content notifications enqueued for delivery'),
    fetches: metrics.counter(
      'hookah_websub_fetches_total',
      'Topic fetches after a publish ping, by outcome (changed, unchanged, not_modified, no_subscribers, error)',
      ['outcome'],
    ),
    ended: metrics.counter('hookah_websub_subscriptions_ended_total', 'WebSub subscriptions ended by the hub (gone = callback answered 410, expired)', ['reason']),
  };
}
