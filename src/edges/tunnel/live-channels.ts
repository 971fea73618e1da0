import type { WebSocket } from 'ws';
import { HttpError } from '../../http/errors.ts';
import type { Logger } from '../../log.ts';
import { ClientLink, type ClientOrigin } from './client-link.ts';
import { Exchange, type ExchangePeer, type ExchangeSink } from './exchange.ts';
import type { ForwardedRequest, TunnelClientInfo } from './ports.ts';
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
  /** A client's connection closed. */
  onDetach?(channel: string, clientId: string): void;
  onClientCount?(delta: number): void;
}

/** Another node's clients of a channel, reached through that node; `weight` is how many it has. */
export interface RemoteTarget {
  peer: ExchangePeer;
  weight: number;
}

interface LiveChannel {
  links: ClientLink[];
  exchanges: Map<string, Exchange>;
}

/** Channels whose balance-mode turn is remembered (least recently used forgotten first). */
const MAX_TURNS = 10_000;

/**
 * The tunnel clients connected to this server, by channel, and the requests
 * each channel is waiting on. Which client gets a request: balance mode
 * takes turns, broadcast mode sends it to every client and the first answer
 * wins. In a cluster, other nodes' clients take part through one peer per
 * node (see cluster-relay.ts).
 */
export class LiveChannels {
  readonly #channels = new Map<string, LiveChannel>();
  readonly #options: LiveChannelsOptions;
  /** Round-robin position per channel for balance mode; kept apart from #channels, which forgets a channel without local clients. */
  readonly #turns = new Map<string, number>();
  #seq = 0;
  #clientSeq = 0;

  constructor(options: LiveChannelsOptions) {
    this.#options = options;
  }

  clientCount(channel: string): number {
    return this.#channels.get(channel)?.links.length ?? 0;
  }

  /** Channels with at least one client here: they are in use and never expire. */
  connectedChannels(): Set<string> {
    const out = new Set<string>();
    for (const [channel, live] of this.#channels) if (live.links.length > 0) out.add(channel);
    return out;
  }

  /** Throws a 503 when the channel already has its maximum number of clients. */
  checkRoom(channel: string): void {
    if (this.clientCount(channel) >= this.#options.maxClientsPerChannel) throw this.full();
  }

  full(): HttpError {
    return new HttpError(503, `channel already has ${this.#options.maxClientsPerChannel} clients (tunnel.maxClientsPerChannel)`);
  }

  /** The id the next client will get (reserved, so it can be registered before the upgrade completes). */
  nextClientId(): string {
    return `c${++this.#clientSeq}`;
  }

  /** Every connected client with what it is working on (`node` is null: this server only). */
  describe(): TunnelClientInfo[] {
    const out: TunnelClientInfo[] = [];
    for (const [channel, live] of this.#channels) {
      for (const link of live.links) {
        out.push({ id: link.label, channel, node: null, connectedAt: link.connectedAt, ...link.origin, inFlight: this.#inFlightOf(live, link) });
      }
    }
    return out;
  }

  /** Requests sent to one client and not answered yet. */
  inFlight(channel: string, clientId: string): number {
    const live = this.#channels.get(channel);
    const link = live?.links.find((l) => l.label === clientId);
    return live && link ? this.#inFlightOf(live, link) : 0;
  }

  /** Takes a client's socket; `hello` is its first frame, sent before any request. */
  attach(channel: string, ws: WebSocket, hello: string, origin: ClientOrigin, id = this.nextClientId()): ClientLink {
    const live = this.#entry(channel);
    // A client that cannot keep up gets no more requests (they queue) until its socket drains.
    const maxBuffered = 2 * maxFrameBytes(this.#options.maxBodyBytes);
    const link = new ClientLink(ws, channel, id, origin, this.#options.keepAliveMs, maxBuffered, this.#options.log, {
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
   * Sends a request to the channel's client(s), here and, given `remote`, on
   * other nodes. Returns undefined when no client could take it. Throws a
   * 503 when too many requests are waiting.
   */
  forward(channel: string, request: ForwardedRequest, sink: ExchangeSink, queued?: RequestFrame['queued'], remote: RemoteTarget[] = []): Exchange | undefined {
    const existing = this.#channels.get(channel);
    if ((existing?.links.length ?? 0) === 0 && remote.length === 0) return undefined;
    const live = existing ?? this.#entry(channel);
    if (live.exchanges.size >= this.#options.maxInFlight) {
      throw new HttpError(503, `channel has ${this.#options.maxInFlight} requests waiting for an answer (tunnel.maxInFlight)`, { 'retry-after': '1' });
    }
    const id = `r${(++this.#seq).toString(36)}`;
    const exchange = new Exchange(id, sink, {
      timeoutMs: this.#options.timeoutMs,
      maxBodyBytes: this.#options.maxBodyBytes,
      onDone: (ex) => {
        live.exchanges.delete(ex.id);
        this.#prune(channel, live);
      },
    });
    live.exchanges.set(id, exchange);
    const frame = encodeRequest(id, request, this.#options.timeoutMs, queued);
    let peers: ExchangePeer[];
    if (this.#options.mode === 'broadcast') peers = [...live.links, ...remote.map((r) => r.peer)];
    else {
      // Take turns over every client (a node counts once per client it holds),
      // skipping a local client that is not keeping up if another can take it.
      const slots: ExchangePeer[] = [...live.links];
      for (const r of remote) for (let k = 0; k < r.weight; k++) slots.push(r.peer);
      const n = slots.length;
      const start = this.#turn(channel) % n;
      let pick = slots[start]!;
      for (let k = 0; k < n && pick.busy; k++) pick = slots[(start + k) % n]!;
      peers = [pick];
    }
    const started = exchange.start(frame, peers);
    if (!started) this.#prune(channel, live);
    return started ? exchange : undefined;
  }

  /** A request this node is waiting on, by channel and exchange id (answers relayed from other nodes). */
  exchange(channel: string, id: string): Exchange | undefined {
    return this.#channels.get(channel)?.exchanges.get(id);
  }

  /** Every request this node is waiting on. */
  *exchanges(): IterableIterator<Exchange> {
    for (const live of this.#channels.values()) yield* live.exchanges.values();
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

  #entry(channel: string): LiveChannel {
    let live = this.#channels.get(channel);
    if (!live) this.#channels.set(channel, (live = { links: [], exchanges: new Map() }));
    return live;
  }

  #turn(channel: string): number {
    const n = this.#turns.get(channel) ?? 0;
    this.#turns.delete(channel);
    this.#turns.set(channel, n + 1);
    if (this.#turns.size > MAX_TURNS) this.#turns.delete(this.#turns.keys().next().value!);
    return n;
  }

  #prune(channel: string, live: LiveChannel): void {
    if (live.links.length === 0 && live.exchanges.size === 0 && this.#channels.get(channel) === live) this.#channels.delete(channel);
  }

  #inFlightOf(live: LiveChannel, link: ClientLink): number {
    let n = 0;
    for (const ex of live.exchanges.values()) if (ex.involves(link)) n++;
    return n;
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
    this.#options.onDetach?.(link.channel, link.label);
    this.#options.log.info({ channel: link.channel, client: link.label, clients: live.links.length }, 'tunnel client disconnected');
    for (const ex of [...live.exchanges.values()]) ex.peerGone(link);
    this.#prune(link.channel, live);
  }
}
