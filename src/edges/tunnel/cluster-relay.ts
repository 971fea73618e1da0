import { HttpError } from '../../http/errors.ts';
import type { Logger } from '../../log.ts';
import type { Exchange, ExchangePeer, ExchangeSink } from './exchange.ts';
import type { LiveChannels, RemoteTarget } from './live-channels.ts';
import type { ForwardedRequest, HeaderMap, TunnelCluster } from './ports.ts';
import { CHUNK_BYTES, MAX_REASON_CHARS, parseClientFrame, parseServerFrame, type BodyFrame, type ResponseFrame } from './protocol.ts';

/** How often nodes with requests of ours in flight are checked for having died. */
const WATCH_MS = 1000;

/**
 * Tunnel messages between nodes, `<type>\n<channel>\n<rest>`:
 *
 *   peer        rest: a server frame (`request` or `cancel`) for the channel's clients on the receiving node
 *   frame       rest: a client frame (`response`, `body`, `end`, `abort`) answering a `peer` request
 *   fail        rest: JSON {id, status, reason, lost}: the request could not be answered there
 *   kick        the channel's offline queue has new work: replay it if you hold a client
 *   disconnect  rest: JSON {code, reason}: close the channel's clients (deleted)
 */
type MessageType = 'peer' | 'frame' | 'fail' | 'kick' | 'disconnect';

export interface ClusterRelayOptions {
  cluster: TunnelCluster;
  live: LiveChannels;
  log: Logger;
  /** The channel's queue has work (another node queued a request). */
  kick(channel: string): void;
}

/**
 * Carries tunnel requests to the node holding the channel's client and the
 * answers back. On the sending node, each other node holding clients is one
 * exchange peer (`node:<id>`) that speaks the tunnel's own frame protocol;
 * on the holding node, the request is relayed through a local client like
 * any other and its answer frames are sent back as they come. A node that
 * dies (no heartbeat, or no longer subscribed) fails its pending requests
 * as `lost`, so that they can be queued.
 */
export class ClusterRelay {
  readonly #o: ClusterRelayOptions;
  readonly #log: Logger;
  /** Requests other nodes asked this one to relay, by `<from> <their id>`. */
  readonly #relayed = new Map<string, { exchange: Exchange; sink: AnswerSink }>();
  readonly #watch: NodeJS.Timeout;
  /** Nodes the last check found gone: one more such check and their requests fail. */
  #suspects = new Set<string>();
  #closed = false;

  constructor(options: ClusterRelayOptions) {
    this.#o = options;
    this.#log = options.log;
    options.cluster.onMessage('tunnel', (from, payload) => this.#receive(from, payload));
    // Answers sent to this node while it was not subscribed are gone: answer those senders now rather than at the timeout.
    options.cluster.onResubscribed(() => this.#failRemote('the answer was lost while this node reconnected to Redis; the request may have reached the client'));
    this.#watch = setInterval(() => void this.#checkNodes(), WATCH_MS);
    this.#watch.unref();
  }

  get node(): string {
    return this.#o.cluster.node;
  }

  /** The other live nodes holding clients of `channel`, with how many. */
  locate(channel: string): Promise<Map<string, number>> {
    return this.#o.cluster.locate(channel);
  }

  /** Exchange peers standing for the clients of `channel` on other nodes. */
  targets(channel: string, nodes: Map<string, number>): RemoteTarget[] {
    return [...nodes].map(([node, weight]) => ({ peer: new NodePeer(this, channel, node), weight }));
  }

  kick(channel: string, nodes: Iterable<string>): void {
    for (const node of nodes) this.#send(node, 'kick', channel, '').catch(() => undefined);
  }

  disconnect(channel: string, nodes: Iterable<string>, code: number, reason: string): void {
    for (const node of nodes) this.#send(node, 'disconnect', channel, JSON.stringify({ code, reason })).catch(() => undefined);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#watch);
    // The asking nodes may queue what this one can no longer answer.
    for (const { exchange, sink } of [...this.#relayed.values()]) {
      sink.fail(503, `node ${this.node} is shutting down`, true);
      exchange.cancel('server is shutting down');
    }
    this.#relayed.clear();
  }

  /** Sends a frame to `node` through its peer; a node not listening fails the request as lost. */
  peerSend(peer: NodePeer, text: string): void {
    this.#send(peer.node, 'peer', peer.channel, text).then(
      (received) => {
        if (!received) this.#peerLost(peer, text, `node ${peer.node} is not reachable`);
      },
      (err: Error) => this.#peerLost(peer, text, `cannot reach node ${peer.node}: ${err.message}`),
    );
  }

  #peerLost(peer: NodePeer, text: string, reason: string): void {
    let frame: { type?: string; id?: string };
    try {
      frame = JSON.parse(text) as { type?: string; id?: string };
    } catch {
      return;
    }
    if (frame.type !== 'request' || !frame.id) return;
    this.#o.live.exchange(peer.channel, frame.id)?.peerFailed(peer, 503, reason, true);
  }

  #send(node: string, type: MessageType, channel: string, rest: string): Promise<boolean> {
    return this.#o.cluster.send(node, 'tunnel', `${type}\n${channel}\n${rest}`);
  }

  #receive(from: string, payload: string): void {
    const a = payload.indexOf('\n');
    const b = payload.indexOf('\n', a + 1);
    if (a < 0 || b < 0) return;
    const type = payload.slice(0, a) as MessageType;
    const channel = payload.slice(a + 1, b);
    const rest = payload.slice(b + 1);
    if (this.#closed) {
      // Still registered while the server drains: turn requests away at once so that their senders can queue them.
      if (type === 'peer') this.#refuseClosing(from, channel, rest);
      return;
    }
    try {
      switch (type) {
        case 'peer':
          return this.#onPeer(from, channel, rest);
        case 'frame':
          return this.#onAnswer(from, channel, rest);
        case 'fail': {
          const f = JSON.parse(rest) as { id: string; status: number; reason: string; lost: boolean };
          const ex = this.#o.live.exchange(channel, f.id);
          const peer = ex?.peerNamed(NodePeer.label(from));
          if (ex && peer) ex.peerFailed(peer, f.status, f.reason, f.lost);
          return;
        }
        case 'kick':
          return this.#o.kick(channel);
        case 'disconnect': {
          const d = JSON.parse(rest) as { code: number; reason: string };
          return this.#o.live.disconnect(channel, d.code, d.reason);
        }
      }
    } catch (err) {
      this.#log.warn({ err, from, type, channel }, 'ignoring a malformed tunnel message from another node');
    }
  }

  /** Another node sends a request (or a cancel) for this node's clients of `channel`. */
  #onPeer(from: string, channel: string, text: string): void {
    const parsed = parseServerFrame(text);
    if (!parsed.ok) {
      this.#log.warn({ from, channel, error: parsed.error }, 'ignoring a malformed tunnel frame from another node');
      return;
    }
    const frame = parsed.frame;
    if (frame.type === 'cancel') {
      const key = `${from} ${frame.id}`;
      const relayed = this.#relayed.get(key);
      this.#relayed.delete(key);
      // The asking node has given up: nothing more is sent back, not even at shutdown.
      relayed?.sink.abandon();
      relayed?.exchange.cancel(frame.reason);
      return;
    }
    if (frame.type !== 'request') return;
    const key = `${from} ${frame.id}`;
    const sink = new AnswerSink((type, rest) => this.#send(from, type, channel, rest), frame.id, () => this.#relayed.delete(key));
    const request: ForwardedRequest = { method: frame.method, path: frame.path, query: frame.query, headers: frame.headers, body: Buffer.from(frame.body, 'base64') };
    let exchange: Exchange | undefined;
    try {
      exchange = this.#o.live.forward(channel, request, sink, frame.queued);
    } catch (err) {
      const e = err as Error & { status?: number };
      sink.fail(e instanceof HttpError ? e.status : 503, e.message, false);
      return;
    }
    if (!exchange) {
      // Its client left meanwhile: the sender may queue the request or try elsewhere.
      sink.fail(503, `node ${this.node} has no client of this channel any more`, true);
      return;
    }
    this.#relayed.set(key, { exchange, sink });
  }

  #refuseClosing(from: string, channel: string, text: string): void {
    const parsed = parseServerFrame(text);
    if (!parsed.ok || parsed.frame.type !== 'request') return;
    const failure = { id: parsed.frame.id, status: 503, reason: `node ${this.node} is shutting down`, lost: true };
    this.#send(from, 'fail', channel, JSON.stringify(failure)).catch(() => undefined);
  }

  /** An answer frame from the node that relays one of this node's requests. */
  #onAnswer(from: string, channel: string, text: string): void {
    const parsed = parseClientFrame(text);
    if (!parsed.ok) {
      this.#log.warn({ from, channel, error: parsed.error }, 'ignoring a malformed tunnel answer from another node');
      return;
    }
    const ex = this.#o.live.exchange(channel, parsed.frame.id);
    const peer = ex?.peerNamed(NodePeer.label(from));
    if (ex && peer) ex.onFrame(peer, parsed.frame);
  }

  /** Fails (not as lost: the other node may have forwarded them) every request this node is waiting for from other nodes. */
  #failRemote(reason: string): void {
    const waiting: { ex: Exchange; peer: NodePeer }[] = [];
    for (const ex of this.#o.live.exchanges()) for (const peer of ex.peers) if (peer instanceof NodePeer) waiting.push({ ex, peer });
    for (const { ex, peer } of waiting) ex.peerFailed(peer, 502, reason, false);
    const failed = waiting.length;
    if (failed > 0) this.#log.warn({ requests: failed }, 'tunnel messages to this node were interrupted; failing the requests relayed to other nodes');
  }

  /** Fails, as lost, what this node is waiting for from nodes that died. */
  async #checkNodes(): Promise<void> {
    const waiting = new Map<string, { ex: Exchange; peer: ExchangePeer }[]>();
    for (const ex of this.#o.live.exchanges()) {
      for (const peer of ex.peers) {
        if (!(peer instanceof NodePeer)) continue;
        const list = waiting.get(peer.node);
        if (list) list.push({ ex, peer });
        else waiting.set(peer.node, [{ ex, peer }]);
      }
    }
    if (waiting.size === 0 || this.#closed) {
      this.#suspects.clear();
      return;
    }
    let gone: string[];
    try {
      gone = await this.#o.cluster.gone([...waiting.keys()]);
    } catch (err) {
      this.#log.debug({ err }, 'cannot check the other nodes');
      return;
    }
    // Two checks in a row, so that a node briefly re-subscribing (or re-registering after a Redis restart) is not taken for dead.
    const confirmed = gone.filter((node) => this.#suspects.has(node));
    this.#suspects = new Set(gone);
    for (const node of confirmed) {
      const list = waiting.get(node) ?? [];
      this.#log.warn({ node, requests: list.length }, 'the node holding tunnel clients went away; failing its requests');
      for (const { ex, peer } of list) ex.peerFailed(peer, 503, `node ${node} holding the tunnel client went away`, true);
    }
  }
}

/** The clients of one channel on another node, as one exchange peer. */
export class NodePeer implements ExchangePeer {
  static label(node: string): string {
    return `node:${node}`;
  }

  readonly label: string;
  readonly busy = false;
  readonly #relay: ClusterRelay;

  constructor(
    relay: ClusterRelay,
    readonly channel: string,
    readonly node: string,
  ) {
    this.#relay = relay;
    this.label = NodePeer.label(node);
  }

  send(text: string): boolean {
    this.#relay.peerSend(this, text);
    return true;
  }
}

/**
 * On the node holding the client: turns a relayed request's answer into
 * frames for the node that asked. A whole small answer (head, body, end in
 * one go) travels as one frame; bodies go in chunks of at most CHUNK_BYTES.
 */
class AnswerSink implements ExchangeSink {
  readonly #send: (type: MessageType, rest: string) => Promise<boolean>;
  readonly #id: string;
  readonly #done: () => void;
  #head: ResponseFrame | undefined;
  #finished = false;
  #held: Buffer[] = [];
  #flushed = false;
  #abandoned = false;

  constructor(send: (type: MessageType, rest: string) => Promise<boolean>, id: string, done: () => void) {
    this.#send = send;
    this.#id = id;
    this.#done = () => {
      this.#finished = true;
      done();
    };
  }

  head(status: number, headers: HeaderMap, error: string | undefined): void {
    this.#head = { type: 'response', id: this.#id, status, headers, ...(error !== undefined ? { error } : {}) };
    queueMicrotask(() => this.#flushHead(false));
  }

  data(chunk: Buffer): void {
    if (!this.#flushed) this.#held.push(chunk);
    else this.#body(chunk);
  }

  end(): void {
    if (this.#finished) return;
    this.#done();
    if (!this.#flushed) return this.#flushHead(true);
    this.#frame({ type: 'end', id: this.#id });
  }

  /** The asking node cancelled: send nothing more. */
  abandon(): void {
    this.#finished = true;
    this.#abandoned = true;
  }

  fail(status: number, reason: string, lost = false): void {
    if (this.#finished) return;
    this.#done();
    if (this.#head) {
      this.#flushHead(false);
      this.#frame({ type: 'abort', id: this.#id, reason: reason.slice(0, MAX_REASON_CHARS) });
      return;
    }
    this.#send('fail', JSON.stringify({ id: this.#id, status, reason, lost })).catch(() => undefined);
  }

  #flushHead(end: boolean): void {
    if (this.#flushed || !this.#head) return;
    this.#flushed = true;
    const body = Buffer.concat(this.#held);
    this.#held = [];
    if (end && body.length <= CHUNK_BYTES) {
      this.#frame({ ...this.#head, body: body.toString('base64') });
      return;
    }
    this.#frame({ ...this.#head, end: false });
    if (body.length > 0) this.#body(body);
    if (end) this.#frame({ type: 'end', id: this.#id });
  }

  #body(chunk: Buffer): void {
    for (let i = 0; i < chunk.length; i += CHUNK_BYTES) {
      const frame: BodyFrame = { type: 'body', id: this.#id, data: chunk.subarray(i, i + CHUNK_BYTES).toString('base64') };
      this.#frame(frame);
    }
  }

  #frame(frame: object): void {
    if (this.#abandoned) return;
    this.#send('frame', JSON.stringify(frame)).catch(() => undefined);
  }
}
