import type { ConfigReload } from './config/reload.ts';
import type { Config } from './config/schema.ts';
import type { TopicBus } from './core/bus.ts';
import type { Dispatcher } from './dispatcher/types.ts';
import type { Authorizer } from './http/auth.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { Stores } from './store/index.ts';

/** Everything an edge may use: the core, never another edge. */
export interface Runtime {
  config: Config;
  log: Logger;
  metrics: Metrics;
  stores: Stores;
  bus: TopicBus;
  dispatcher: Dispatcher;
  auth: Authorizer;
  /** Base URL clients reach this server at, without a trailing slash. */
  publicUrl(): string;
  /** Aborted when the server starts shutting down; long-lived responses end on it. */
  shutdown: AbortSignal;
  /** Re-reads the config file (SIGHUP, POST /reload); listeners learn what changed. */
  reload?: ConfigReload;
}
