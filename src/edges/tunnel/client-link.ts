import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { clientIp, type IpRanges } from '../../auth/client-ip.ts';
import type { Logger } from '../../log.ts';
import type { ExchangePeer } from './exchange.ts';
import { parseClientFrame, type ClientFrame } from './protocol.ts';

/** Where a client connected from, for the admin listing. */
export interface ClientOrigin {
  remoteAddress: string;
  userAgent: string | null;
}

/** The origin of a WebSocket upgrade (X-Forwarded-For believed only from `trusted` proxies). */
export function clientOrigin(req: IncomingMessage, trusted: IpRanges): ClientOrigin {
  const forwardedFor = req.headers['x-forwarded-for'];
  return {
    remoteAddress: clientIp(req.socket.remoteAddress, Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor, trusted),
    userAgent: req.headers['user-agent']?.slice(0, 256) ?? null,
  };
}

export interface ClientLinkHandlers {
  frame(link: ClientLink, frame: ClientFrame): void;
  closed(link: ClientLink): void;
}

/**
 * The server's side of one `hookah client` WebSocket: keepalive pings (a
 * client that misses a whole interval is dropped), frame parsing, and the
 * close notification that fails whatever it was answering.
 */
export class ClientLink implements ExchangePeer {
  readonly label: string;
  readonly channel: string;
  readonly connectedAt = Date.now();
  readonly origin: ClientOrigin;
  readonly #ws: WebSocket;
  readonly #log: Logger;
  readonly #ping: NodeJS.Timeout;
  #alive = true;
  #closed = false;

  readonly #maxBuffered: number;

  constructor(
    ws: WebSocket,
    channel: string,
    label: string,
    origin: ClientOrigin,
    keepAliveMs: number,
    maxBuffered: number,
    log: Logger,
    handlers: ClientLinkHandlers,
  ) {
    this.#ws = ws;
    this.origin = origin;
    this.#maxBuffered = maxBuffered;
    this.channel = channel;
    this.label = label;
    this.#log = log;
    ws.on('pong', () => (this.#alive = true));
    ws.on('message', (data, isBinary) => {
      this.#alive = true;
      if (isBinary) {
        this.#log.warn({ channel, client: label }, 'tunnel client sent a binary frame; only JSON text frames are understood');
        return;
      }
      const parsed = parseClientFrame(data.toString());
      if (!parsed.ok) {
        this.#log.warn({ channel, client: label, error: parsed.error }, 'ignoring a malformed frame from a tunnel client');
        return;
      }
      handlers.frame(this, parsed.frame);
    });
    ws.on('error', (err) => this.#log.debug({ channel, client: label, err }, 'tunnel client socket error'));
    ws.on('close', () => {
      if (this.#closed) return;
      this.#closed = true;
      clearInterval(this.#ping);
      handlers.closed(this);
    });
    this.#ping = setInterval(() => {
      if (!this.#alive) {
        this.#log.info({ channel, client: label }, 'tunnel client missed its keepalive; dropping it');
        ws.terminate();
        return;
      }
      this.#alive = false;
      ws.ping();
    }, keepAliveMs);
    this.#ping.unref();
  }

  get open(): boolean {
    return !this.#closed && this.#ws.readyState === this.#ws.OPEN;
  }

  get busy(): boolean {
    return this.#ws.bufferedAmount > this.#maxBuffered;
  }

  send(text: string): boolean {
    if (!this.open) return false;
    this.#ws.send(text);
    return true;
  }

  close(code: number, reason: string): void {
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) this.#ws.close(code, reason);
    // A peer that never completes the closing handshake must not hold the socket open.
    const kill = setTimeout(() => this.#ws.terminate(), 2000);
    kill.unref();
  }
}
