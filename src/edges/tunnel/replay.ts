import type { Logger } from '../../log.ts';
import type { ExchangeSink } from './exchange.ts';
import type { LiveChannels } from './live-channels.ts';
import type { ChannelStore, QueuedRequest } from './ports.ts';

/** Makes one node at a time replay a channel's queue when several hold its clients. */
export interface ReplayClaims {
  claim(channel: string): Promise<string | undefined>;
  /** False when the claim was lost (it expired and another node took it). */
  renew(channel: string, token: string): Promise<boolean>;
  release(channel: string, token: string): Promise<void>;
  /** Renew a held claim this often, so a long answer does not outlive it. */
  renewEveryMs: number;
}

export interface ReplayOptions {
  store: ChannelStore;
  live: LiveChannels;
  retryIntervalMs: number;
  log: Logger;
  onReplayed?(outcome: 'delivered' | 'retry'): void;
  /** In a cluster: the queue is shared, so replaying it needs a claim. */
  claims?: ReplayClaims;
}

interface ChannelReplay {
  running: boolean;
  /** Work arrived while running: look at the queue once more before stopping. */
  again: boolean;
  retry?: NodeJS.Timeout;
}

type Result = { ok: true; status: number } | { ok: false; reason: string };

/**
 * Replays a channel's offline queue through the tunnel, one request at a
 * time and in arrival order, whenever a client is connected. A request
 * leaves the queue once the client answered it (any status from the target);
 * if the client could not reach its target, or did not answer, replay stops
 * at that request and tries again after `tunnel.queue.retryInterval`.
 */
export class QueueReplayer {
  readonly #o: ReplayOptions;
  readonly #channels = new Map<string, ChannelReplay>();
  #closed = false;

  constructor(options: ReplayOptions) {
    this.#o = options;
  }

  /** True while the channel's queue is being replayed (new requests must queue behind it). */
  busy(channel: string): boolean {
    return this.#channels.get(channel)?.running ?? false;
  }

  kick(channel: string): void {
    if (this.#closed) return;
    let state = this.#channels.get(channel);
    if (!state) this.#channels.set(channel, (state = { running: false, again: false }));
    if (state.running) {
      state.again = true;
      return;
    }
    clearTimeout(state.retry);
    state.retry = undefined;
    state.running = true;
    void this.#run(channel, state);
  }

  close(): void {
    this.#closed = true;
    for (const state of this.#channels.values()) clearTimeout(state.retry);
  }

  async #run(channel: string, state: ChannelReplay): Promise<void> {
    let failed = false;
    /** Another node replays this channel now; it keeps going until the queue is empty. */
    let elsewhere = false;
    const claims = this.#o.claims;
    let token: string | undefined;
    let renewal: NodeJS.Timeout | undefined;
    let claimLost = false;
    try {
      do {
        state.again = false;
        while (!this.#closed && this.#o.live.clientCount(channel) > 0) {
          const item = await this.#o.store.peek(channel);
          if (!item) break;
          if (claimLost) {
            elsewhere = true;
            break;
          }
          if (claims && !token) {
            token = await claims.claim(channel);
            if (!token) {
              elsewhere = true;
              break;
            }
            const held = token;
            renewal = setInterval(() => {
              claims.renew(channel, held).then(
                (ok) => {
                  if (!ok) claimLost = true;
                },
                (err) => this.#o.log.warn({ channel, err }, 'cannot renew the tunnel queue replay claim'),
              );
            }, claims.renewEveryMs);
            renewal.unref();
            // The head may have been replayed by the node that held the claim before.
            continue;
          }
          const result = await this.#replayOne(channel, item);
          if (result.ok) {
            await this.#o.store.ack(channel, item.id);
            this.#o.onReplayed?.('delivered');
            this.#o.log.info({ channel, id: item.id, method: item.request.method, path: item.request.path, status: result.status }, 'queued tunnel request replayed');
            continue;
          }
          this.#o.onReplayed?.('retry');
          this.#o.log.warn({ channel, id: item.id, reason: result.reason, retryInMs: this.#o.retryIntervalMs }, 'queued tunnel request not delivered; will retry');
          failed = true;
          break;
        }
      } while (state.again && !failed && !elsewhere && !this.#closed);
    } catch (err) {
      failed = true;
      this.#o.log.error({ channel, err }, 'replaying the tunnel queue failed');
    } finally {
      clearInterval(renewal);
      if (claims && token) {
        await claims.release(channel, token).catch((err) => this.#o.log.warn({ channel, err }, 'cannot release the tunnel queue replay claim'));
        // A request queued while the claim was held may have kicked another node, which left it to us.
        if (!failed && !this.#closed) {
          const queued = await this.#o.store.peek(channel).then((item) => item !== undefined, () => false);
          // A kick that arrived during these awaits has set `again` already; keep it.
          state.again ||= queued;
        }
      }
      state.running = false;
    }
    if (claims && token && state.again && !failed && !this.#closed) {
      this.kick(channel);
      return;
    }
    // A node that found the claim taken looks again later, in case the holder died.
    if (elsewhere) failed = true;
    if (failed && !this.#closed && this.#o.live.clientCount(channel) > 0) {
      state.retry = setTimeout(() => this.kick(channel), this.#o.retryIntervalMs);
      state.retry.unref();
    } else if (!failed) this.#channels.delete(channel);
  }

  #replayOne(channel: string, item: QueuedRequest): Promise<Result> {
    return new Promise<Result>((resolve) => {
      let status = 0;
      let error: string | undefined;
      const sink: ExchangeSink = {
        head(s, _headers, err) {
          status = s;
          error = err;
        },
        data() {},
        end() {
          // The client answers for an unreachable target itself; keep the request for later.
          resolve(error ? { ok: false, reason: `client reported ${error} (${status})` } : { ok: true, status });
        },
        fail(_s, reason) {
          resolve({ ok: false, reason });
        },
      };
      let exchange;
      try {
        exchange = this.#o.live.forward(channel, item.request, sink, {
          message_id: item.id,
          received_at: new Date(item.receivedAt).toISOString(),
        });
      } catch (err) {
        resolve({ ok: false, reason: (err as Error).message });
        return;
      }
      if (!exchange) resolve({ ok: false, reason: 'no tunnel client connected' });
    });
  }
}
