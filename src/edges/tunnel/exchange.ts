import type { HeaderMap } from './ports.ts';
import type { ClientFrame } from './protocol.ts';

/** Where the answer to one forwarded request goes: the waiting sender, or the queue replayer. */
export interface ExchangeSink {
  head(status: number, headers: HeaderMap, error: string | undefined): void;
  data(chunk: Buffer): void;
  end(): void;
  /**
   * Before the head: answer with `status` and `reason`. After it: cut the
   * response short. `lost`: no client may have seen the request (the node
   * holding them went away), so it may be queued instead.
   */
  fail(status: number, reason: string, lost?: boolean): void;
}

/** What an exchange needs from a tunnel client's connection. */
export interface ExchangePeer {
  readonly label: string;
  /** True while the peer's socket has too much unsent data to be given more work. */
  readonly busy: boolean;
  send(text: string): boolean;
}

export interface ExchangeOptions {
  /** Wait for the head, and the longest pause between body frames. */
  timeoutMs: number;
  maxBodyBytes: number;
  onDone(exchange: Exchange): void;
}

/**
 * One request sent through the tunnel and its answer. In broadcast mode it
 * goes to several clients: the first to answer owns it and the others'
 * frames are ignored. Every path ends in exactly one of end / fail / cancel.
 */
export class Exchange {
  readonly id: string;
  readonly startedAt = Date.now();
  readonly #sink: ExchangeSink;
  readonly #options: ExchangeOptions;
  readonly #targets = new Set<ExchangePeer>();
  #owner: ExchangePeer | undefined;
  #status: number | undefined;
  #bytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(id: string, sink: ExchangeSink, options: ExchangeOptions) {
    this.id = id;
    this.#sink = sink;
    this.#options = options;
  }

  get done(): boolean {
    return this.#done;
  }

  /** The status the client answered with, once it has. */
  get status(): number | undefined {
    return this.#status;
  }

  get owner(): ExchangePeer | undefined {
    return this.#owner;
  }

  /** Whether `peer` is still expected to answer (or is answering). */
  involves(peer: ExchangePeer): boolean {
    return this.#owner ? this.#owner === peer : this.#targets.has(peer);
  }

  /** The peers still expected to answer (or answering). */
  get peers(): ExchangePeer[] {
    return this.#owner ? [this.#owner] : [...this.#targets];
  }

  /** The peer with this label among those still expected to answer. */
  peerNamed(label: string): ExchangePeer | undefined {
    return this.peers.find((p) => p.label === label);
  }

  /** Sends the request frame to `peers`; false when none of them could take it. */
  start(frame: string, peers: ExchangePeer[]): boolean {
    for (const peer of peers) if (!peer.busy && peer.send(frame)) this.#targets.add(peer);
    if (this.#targets.size === 0) {
      this.#finish();
      return false;
    }
    this.#arm(() => this.#fail(504, `the tunnel client did not answer within ${this.#options.timeoutMs} ms`));
    return true;
  }

  onFrame(peer: ExchangePeer, frame: ClientFrame): void {
    if (this.#done) return;
    if (frame.type === 'response') {
      if (this.#owner !== undefined || !this.#targets.has(peer)) return; // a slower broadcast peer, or a repeat
      this.#owner = peer;
      this.#status = frame.status;
      this.#sink.head(frame.status, frame.headers, frame.error);
      if (frame.body && !this.#data(frame.body)) return;
      if (frame.end === false) this.#arm(() => this.#fail(502, `the tunnel client paused the response for more than ${this.#options.timeoutMs} ms`));
      else this.#end();
      return;
    }
    if (peer !== this.#owner) return;
    if (frame.type === 'body') {
      if (this.#data(frame.data)) this.#arm(() => this.#fail(502, `the tunnel client paused the response for more than ${this.#options.timeoutMs} ms`));
    } else if (frame.type === 'end') this.#end();
    else this.#fail(502, `the tunnel client aborted the response: ${frame.reason}`, false);
  }

  /** The peer's connection closed. */
  peerGone(peer: ExchangePeer): void {
    if (this.#done) return;
    if (this.#owner === peer) return this.#fail(502, 'the tunnel client disconnected while answering', false);
    this.#targets.delete(peer);
    if (this.#owner === undefined && this.#targets.size === 0) this.#fail(502, 'the tunnel client disconnected before answering', false);
  }

  /**
   * A peer could not take or finish the request (a remote node without a
   * client for it, or gone). Once no peer is left the exchange fails; with
   * `lost`, the sender's request may be queued instead.
   */
  peerFailed(peer: ExchangePeer, status: number, reason: string, lost: boolean): void {
    if (this.#done) return;
    if (this.#owner === peer) return this.#fail(502, reason, false);
    if (this.#owner !== undefined || !this.#targets.delete(peer)) return;
    if (this.#targets.size === 0) this.#fail(status, reason, false, lost);
  }

  /** The sender went away or the server is closing: tell the clients, answer no one. */
  cancel(reason: string): void {
    if (this.#done) return;
    this.#tellCancel(reason);
    this.#finish();
  }

  /** Ends the exchange with an error answer (e.g. shutdown). */
  abort(status: number, reason: string): void {
    this.#fail(status, reason);
  }

  #data(base64: string): boolean {
    const chunk = Buffer.from(base64, 'base64');
    this.#bytes += chunk.length;
    if (this.#bytes > this.#options.maxBodyBytes) {
      this.#fail(502, `the response through the tunnel exceeds tunnel.maxBodyBytes (${this.#options.maxBodyBytes})`);
      return false;
    }
    if (chunk.length > 0) this.#sink.data(chunk);
    return true;
  }

  #end(): void {
    this.#finish();
    this.#sink.end();
  }

  #fail(status: number, reason: string, tellPeers = true, lost = false): void {
    if (this.#done) return;
    if (tellPeers) this.#tellCancel(reason);
    this.#finish();
    this.#sink.fail(status, reason, lost);
  }

  #tellCancel(reason: string): void {
    const frame = JSON.stringify({ type: 'cancel', id: this.id, reason });
    for (const peer of this.#owner ? [this.#owner] : this.#targets) peer.send(frame);
  }

  #arm(onTimeout: () => void): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(onTimeout, this.#options.timeoutMs);
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#options.onDone(this);
  }
}
