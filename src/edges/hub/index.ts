import Router from '@koa/router';
import type { Runtime } from '../../runtime.ts';
import type { Edge } from '../edge.ts';
import { addHubAdminRoutes } from './admin.ts';
import { createDistributor, createGoneHandler } from './distribute.ts';
import { TopicFetcher } from './fetcher.ts';
import { HubHttp } from './http-client.ts';
import { createHubMetrics } from './metrics.ts';
import { HubPolicy } from './policy.ts';
import { addHubRoutes } from './router.ts';
import { SubscriptionManager } from './subscriptions.ts';
import { HubTasks } from './tasks.ts';

/** How long shutdown waits for verifications and fetches to notice the abort. */
const CLOSE_TIMEOUT_MS = 5000;

/**
 * The WebSub hub: subscriptions with verification of intent, thin and fat
 * publish pings, and distribution of every topic-bus event to the topic's
 * subscribers through the durable dispatcher.
 */
export function createHubEdge(rt: Runtime): Edge {
  const cfg = rt.config.hub;
  const log = rt.log.child({ module: 'hub' });
  const store = rt.stores.subscriptions;
  const policy = new HubPolicy(cfg);
  const tasks = new HubTasks(cfg.concurrency, cfg.maxPending);
  const http = new HubHttp(rt.config.dispatcher.allowNetworks, tasks.signal);
  const metrics = createHubMetrics(rt.metrics, store);

  const manager = new SubscriptionManager({ store, http, policy, tasks, metrics, log, verifyTimeoutMs: cfg.verifyTimeout });
  const fetcher = new TopicFetcher({
    store,
    bus: rt.bus,
    http,
    tasks,
    metrics,
    log,
    timeoutMs: cfg.fetchTimeout,
    maxBytes: cfg.maxFetchBytes,
  });

  rt.bus.addPublishHook(
    createDistributor({
      store,
      dispatcher: rt.dispatcher,
      metrics,
      log,
      hubUrl: () => `${rt.publicUrl()}/hub`,
      algorithm: cfg.signatureAlgorithm,
    }),
  );
  const offOutcome = rt.dispatcher.onOutcome(createGoneHandler({ store, metrics, log }));

  // Expired subscriptions already receive nothing; the sweep only reclaims their rows.
  const sweep = setInterval(() => {
    store
      .sweepExpired(Date.now())
      .then((n) => {
        if (n > 0) {
          metrics.ended.inc({ reason: 'expired' }, n);
          log.info({ removed: n }, 'expired subscriptions removed');
        }
      })
      .catch((err: Error) => log.error({ err }, 'subscription sweep failed'));
  }, cfg.sweepInterval);
  sweep.unref();

  const router = new Router();
  addHubRoutes(router, { rt, manager, fetcher, log });
  addHubAdminRoutes(router, rt, store);

  return {
    name: 'hub',
    router,
    async close() {
      clearInterval(sweep);
      offOutcome();
      await tasks.close(Math.min(CLOSE_TIMEOUT_MS, rt.config.server.shutdownTimeout));
      await http.close();
    },
  };
}
