import type { WebSocket } from 'ws';
import { HttpError } from '../../http/errors.ts';
import type { Logger } from '../../log.ts';
import { ClientLink } from './client-link.ts';
import { Exchange, type ExchangeSink } from './exchange.ts';
import type { ForwardedRequest } from './ports.ts';
import { encodeRequest, maxFrameBytes, type ClientFrame, type RequestFrame } from './protocol.ts';

export interface LiveChannelsOptions {
  mode: 'balance' | 'broadcast';
  timeoutMs: number;
  maxBodyBytes: number;
  maxClientsPerChannel: number;
  maxInFlight: number;
  keepAliveMs: number;
  log: Logger;
  /** A client just connected to the channel (the queue replayer starts here). */
  onAttach(channel: string): void;
  onClientCount?(delta: number): void;
}

interface LiveChannel {
  links: ClientLink[];
  /** Round-robin position for balance mode. */
  next: number;
  exchanges: Map<string, Exchange>;
}

/**
 * The tunnel clients connected to this server, by channel, and the requests
 * each channel is waiting on. Which client gets a request: balance mode
 * takes turns, broadcast mode sends it to every client and the first answer
 * wins.
 */
export class LiveChannels {
  readonly #channels = new Map<string, LiveChannel>();
  readonly #options: LiveChannelsOptions;
  #seq = 0;
  #clientSeq = 0;

  constructor(options: LiveChannelsOptions) {
    this.#options = options;
  }

  clientCount(channel: string): number {
    return this.#channels.get(channel)?.links.length ?? 0;
  }

  /** Channels with at least one client: they are in use and never expire. */
  connectedChannels(): Set<string> {
    return new Set(this.#channels.keys());
  }

  /** Throws a 503 when the channel already has its maximum number of clients. */
  checkRoom(channel: string): void {
    if (this.clientCount(channel) >= this.#options.maxClientsPerChannel) {
      throw new HttpError(503, `channel already has ${this.#options.maxClientsPerChannel} clients (tunnel.maxClientsPerChannel)`);
    }
  }

  /** Takes a client's socket; `hello` is its first frame, sent before any request. */
  attach(channel: string, ws: WebSocket, hello: string): ClientLink {
    let live = this.#channels.get(channel);
    if (!live) this.#channels.set(channel, (live = { links: [], next: 0, exchanges: new Map() }));
    // A client that cannot keep up gets no more requests (they queue) until its socket drains.
    const maxBuffered = 2 * maxFrameBytes(this.#options.maxBodyBytes);
    const link = new ClientLink(ws, channel, `c${++this.#clientSeq}`, this.#options.keepAliveMs, maxBuffered, this.#options.log, {
      frame: (l, frame) => this.#onFrame(l, frame),
      closed: (l) => this.#detach(l),
    });
    link.send(hello);
    live.links.push(link);
    this.#options.onClientCount?.(1);
    this.#options.log.info({ channel, client: link.label, clients: live.links.length }, 'tunnel client connected');
    this.#options.onAttach(channel);
    return link;
  }

  /**
   * Sends a request to the channel's client(s). Returns undefined when no
   * client is connected. Throws a 503 when too many requests are waiting.
   */
  forward(channel: string, request: ForwardedRequest, sink: ExchangeSink, queued?: RequestFrame['queued']): Exchange | undefined {
    const live = this.#channels.get(channel);
    if (!live || live.links.length === 0) return undefined;
    if (live.exchanges.size >= this.#options.maxInFlight) {
      throw new HttpError(503, `channel has ${this.#options.maxInFlight} requests waiting for an answer (tunnel.maxInFlight)`, { 'retry-after': '1' });
    }
    const id = `r${(++this.#seq).toString(36)}`;
    const exchange = new Exchange(id, sink, {
      timeoutMs: this.#options.timeoutMs,
      maxBodyBytes: this.#options.maxBodyBytes,
      onDone: (ex) => live.exchanges.delete(ex.id),
    });
    live.exchanges.set(id, exchange);
    const frame = encodeRequest(id, request, this.#options.timeoutMs, queued);
    let peers: ClientLink[];
    if (this.#options.mode === 'broadcast') peers = live.links;
    else {
      // Take turns, skipping a client that is not keeping up if another is.
      const n = live.links.length;
      const start = live.next++ % n;
      let pick = live.links[start]!;
      for (let k = 0; k < n && pick.busy; k++) pick = live.links[(start + k) % n]!;
      peers = [pick];
    }
    return exchange.start(frame, peers) ? exchange : undefined;
  }

  /** Drops every client of a channel (it was deleted or expired). */
  disconnect(channel: string, code: number, reason: string): void {
    const live = this.#channels.get(channel);
    if (!live) return;
    for (const link of [...live.links]) link.close(code, reason);
  }

  closeAll(reason: string): void {
    for (const [, live] of this.#channels) {
      for (const ex of [...live.exchanges.values()]) ex.abort(503, reason);
      for (const link of [...live.links]) link.close(1001, reason);
    }
  }

  #onFrame(link: ClientLink, frame: ClientFrame): void {
    this.#channels.get(link.channel)?.exchanges.get(frame.id)?.onFrame(link, frame);
  }

  #detach(link: ClientLink): void {
    const live = this.#channels.get(link.channel);
    if (!live) return;
    const i = live.links.indexOf(link);
    if (i < 0) return;
    live.links.splice(i, 1);
    this.#options.onClientCount?.(-1);
    this.#options.log.info({ channel: link.channel, client: link.label, clients: live.links.length }, 'tunnel client disconnected');
    for (const ex of [...live.exchanges.values()]) ex.peerGone(link);
    if (live.links.length === 0 && live.exchanges.size === 0) this.#channels.delete(link.channel);
  }
}
