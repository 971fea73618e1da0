import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type Router from '@koa/router';

/**
 * One protocol's door into Hookah: HTTP routes, and optionally WebSocket
 * upgrades for paths it owns.
 */
export interface Edge {
  name: string;
  router?: Router;
  /** Return true when this edge took the upgrade; false lets the next edge try. */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Ends long-lived connections and timers. Called on shutdown, before storage closes. */
  close?(): Promise<void> | void;
}
