import type { Logger } from '../../log.ts';
import type { ChannelKind, ChannelStore, TunnelCluster } from './ports.ts';

export interface ExpirySweepOptions {
  kind: ChannelKind;
  store: ChannelStore;
  /** Several nodes: channels with a connection on another node are in use too. */
  cluster: TunnelCluster | undefined;
  ttlMs: number;
  log: Logger;
  /** Channels with a connection on this node. */
  connectedHere(): Iterable<string>;
}

/**
 * Deletes the channels (tunnel) or sessions (gateway) of one kind that
 * nobody used for `ttlMs` and that have no connection on any node, every
 * `ttlMs` (at least every second, at most every minute). Returns the timer,
 * unref'd, for the edge to clear on close.
 */
export function startExpirySweep(o: ExpirySweepOptions): NodeJS.Timeout {
  const what = o.kind === 'tunnel' ? 'tunnel channel' : 'gateway session';
  const inUse = async () => {
    const keep = new Set(o.connectedHere());
    if (o.cluster) for (const e of await o.cluster.entries(o.kind)) keep.add(e.channel);
    return keep;
  };
  const timer = setInterval(
    () => {
      inUse()
        .then((keep) => o.store.expire(o.kind, Date.now() - o.ttlMs, keep))
        .then((ids) => ids.length > 0 && o.log.info({ [o.kind === 'tunnel' ? 'channels' : 'sessions']: ids.length }, `expired unused ${what}s`))
        .catch((err: Error & { status?: number }) => {
          // 503: storage unreachable for now; the next sweep catches up.
          if (err.status === 503) o.log.warn({ err: err.message }, `${what} sweep skipped`);
          else o.log.error({ err }, `${what} sweep failed`);
        });
    },
    Math.max(1000, Math.min(o.ttlMs, 60_000)),
  );
  timer.unref();
  return timer;
}
