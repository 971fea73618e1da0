import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';

/**
 * Who made a request, as decided by the authorizer. It is left on
 * `ctx.state.identity` so that edges needing a per-user namespace (the queue
 * edge's client names) can read it without parsing credentials again.
 */
export interface Identity {
  /** User name; '' for anonymous requests. */
  name: string;
  anonymous: boolean;
  admin: boolean;
  canReload: boolean;
  via: 'basic' | 'bearer' | 'none';
}

/** Everyone, when no users are configured: the server is open. */
export const OPEN_IDENTITY: Identity = { name: '', anonymous: true, admin: true, canReload: true, via: 'none' };
export const ANONYMOUS: Identity = { name: '', anonymous: true, admin: false, canReload: false, via: 'none' };

export function setIdentity(ctx: Context, identity: Identity): void {
  ctx.state.identity = identity;
}

/** The identity the authorizer attached, or an open anonymous one when none did. */
export function identityOf(ctx: Context): Identity {
  const id = (ctx.state as { identity?: Identity }).identity;
  return id ?? OPEN_IDENTITY;
}

const byRequest = new WeakMap<IncomingMessage, Identity>();

/** For WebSocket upgrades, where there is no Koa context: set by `authorizeRequest`. */
export function setRequestIdentity(req: IncomingMessage, identity: Identity): void {
  byRequest.set(req, identity);
}

export function identityOfRequest(req: IncomingMessage): Identity {
  return byRequest.get(req) ?? OPEN_IDENTITY;
}
