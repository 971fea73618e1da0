import type { Context } from 'koa';

/**
 * The seam every edge calls before acting. Access control (users, tokens,
 * per-topic permissions) plugs in here; with none configured Hookah is open,
 * as the original was.
 */
export type Action = 'publish' | 'subscribe' | 'read' | 'admin';

export interface Authorizer {
  /** Throws an HttpError (401/403) when the request may not do `action` on `resource`. */
  authorize(ctx: Context, action: Action, resource?: string): void | Promise<void>;
  /** Same decision for a WebSocket upgrade request (no Koa context there). */
  authorizeRequest?(req: import('node:http').IncomingMessage, action: Action, resource?: string): void | Promise<void>;
  /**
   * Checks an inbound webhook's signature / source for the named topic or
   * queue against its configured verifier. Throws 401/403 when it fails, so
   * the message is never stored.
   */
  verifyInbound?(ctx: Context, target: string, body: Buffer): void | Promise<void>;
  readonly enabled: boolean;
}

export const openAuthorizer: Authorizer = {
  enabled: false,
  authorize() {},
  authorizeRequest() {},
  verifyInbound() {},
};
