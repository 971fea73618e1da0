import type { Counter } from 'prom-client';
import type { Metrics } from '../../metrics.ts';

/** The four streaming subscriber types; also the `type` label of every stream metric. */
export type StreamKind = 'stream' | 'sse' | 'websocket' | 'poll';

export const STREAM_KINDS: readonly StreamKind[] = ['stream', 'sse', 'websocket', 'poll'];

export interface StreamMetrics {
  sent: Counter<'type'>;
  slowConsumers: Counter<'type'>;
  rejected: Counter<'reason'>;
}

/**
 * Instruments of the streams edge. The connected-subscribers gauge is read from
 * the connection registry at scrape time, so it can never drift.
 */
export function createStreamMetrics(metrics: Metrics, connected: () => Record<StreamKind, number>): StreamMetrics {
  metrics.gauge('hookah_stream_subscribers', 'Connected streaming subscribers, by type', ['type'], function () {
    const counts = connected();
    for (const kind of STREAM_KINDS) this.set({ type: kind }, counts[kind]);
  });
  return {
    sent: metrics.counter('hookah_stream_messages_sent_total', 'Messages written to streaming subscribers, by type', ['type']),
    slowConsumers: metrics.counter(
      'hookah_stream_slow_consumer_disconnects_total',
      'Streaming subscribers disconnected because their outbound buffer overflowed, by type',
      ['type'],
    ),
    rejected: metrics.counter('hookah_stream_connections_rejected_total', 'Streaming connections refused, by reason', ['reason']),
  };
}
