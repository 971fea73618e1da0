import type { SubscriptionStore } from '../../hub/ports.ts';
import type { Logger } from '../../log.ts';
import type { HubHttp } from './http-client.ts';
import type { HubMetrics } from './metrics.ts';
import type { SubscriptionRequest } from './params.ts';
import type { HubPolicy } from './policy.ts';
import type { HubTasks } from './tasks.ts';
import { notifyDenied, verifyIntent } from './verify.ts';

export type SubscriptionOutcome =
  | { outcome: 'verified'; leaseSeconds?: number }
  | { outcome: 'failed'; reason: string }
  | { outcome: 'denied'; reason: string };

export interface SubscriptionDeps {
  store: SubscriptionStore;
  http: HubHttp;
  policy: HubPolicy;
  tasks: HubTasks;
  metrics: HubMetrics;
  log: Logger;
  verifyTimeoutMs: number;
}

/**
 * Turns subscribe/unsubscribe requests into stored state, only ever after
 * the subscriber confirmed its intent: a failed verification changes nothing,
 * and a re-subscribe replaces the old subscription in one step.
 */
export class SubscriptionManager {
  readonly #d: SubscriptionDeps;

  constructor(deps: SubscriptionDeps) {
    this.#d = deps;
  }

  /**
   * Queues the request (answered 202 by the caller). Resolves with the
   * outcome once done, or undefined when the hub has too much work waiting.
   */
  submit(req: SubscriptionRequest): Promise<SubscriptionOutcome> | undefined {
    return this.#d.tasks.submit(`sub\n${req.topic}\n${req.callback}`, (signal) => this.#process(req, signal));
  }

  async #process(req: SubscriptionRequest, signal: AbortSignal): Promise<SubscriptionOutcome> {
    const { store, http, policy, metrics, log } = this.#d;
    const fields = { mode: req.mode, topic: req.topic, callback: req.callback };
    if (signal.aborted) return { outcome: 'failed', reason: 'the hub is shutting down' };

    let leaseSeconds: number | undefined;
    if (req.mode === 'subscribe') {
      const denied = policy.deniedReason(req.topic, req.callback);
      if (denied) {
        metrics.verifications.inc({ mode: req.mode, outcome: 'denied' });
        log.info({ ...fields, reason: denied }, 'subscription denied');
        // A denied subscription is not active, including one accepted before the policy changed.
        if (await store.remove(req.topic, req.callback)) metrics.ended.inc({ reason: 'denied' });
        await notifyDenied(http, req.callback, req.topic, denied, this.#d.verifyTimeoutMs).catch((err: Error) =>
          log.info({ ...fields, err: err.message }, 'could not tell the subscriber about the denial'),
        );
        return { outcome: 'denied', reason: denied };
      }
      leaseSeconds = policy.leaseSeconds(req.leaseSeconds);
    }

    const check = { mode: req.mode, callback: req.callback, topic: req.topic, ...(leaseSeconds !== undefined && { leaseSeconds }), ...(req.verifyToken !== undefined && { verifyToken: req.verifyToken }) };
    const result = await verifyIntent(http, check, this.#d.verifyTimeoutMs);
    if (signal.aborted) return { outcome: 'failed', reason: 'the hub is shutting down' };
    if (!result.ok) {
      metrics.verifications.inc({ mode: req.mode, outcome: 'failed' });
      log.info({ ...fields, reason: result.reason }, 'verification of intent failed; nothing changed');
      return { outcome: 'failed', reason: result.reason };
    }

    metrics.verifications.inc({ mode: req.mode, outcome: 'verified' });
    if (req.mode === 'subscribe') {
      const sub = await store.upsert({ topic: req.topic, callback: req.callback, leaseSeconds: leaseSeconds!, ...(req.secret !== undefined && { secret: req.secret }) });
      log.info({ ...fields, id: sub.id, leaseSeconds }, 'subscription verified');
      return { outcome: 'verified', leaseSeconds: leaseSeconds! };
    }
    const removed = await store.remove(req.topic, req.callback);
    log.info({ ...fields, removed }, 'unsubscription verified');
    return { outcome: 'verified' };
  }
}
