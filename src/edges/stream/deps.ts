import type { Logger } from '../../log.ts';
import type { Runtime } from '../../runtime.ts';
import type { ConnectionRegistry } from './connections.ts';
import type { CorsPolicy } from './cors.ts';
import type { StreamMetrics } from './metrics.ts';
import type { NewestId } from './newest-id.ts';

/** What every part of the streams edge shares, built once per server. */
export interface StreamDeps {
  rt: Runtime;
  registry: ConnectionRegistry;
  metrics: StreamMetrics;
  cors: CorsPolicy;
  log: Logger;
  newest: NewestId;
}
