import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { EndCause } from './connections.ts';
import { CLOSE_GRACE_MS } from './http-transport.ts';
import type { Transport } from './outbound.ts';

/** Close codes Hookah uses; 4000 is application-defined (RFC 6455 §7.4.2). */
export const WS_CLOSE = {
  normal: 1000,
  goingAway: 1001,
  internalError: 1011,
  slowConsumer: 4000,
} as const;

const TEXT = { binary: false } as const;

/** Close reasons are limited to 123 bytes by the protocol. */
function closeReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

/**
 * A WebSocket as a subscriber transport. `socket` is the raw connection the
 * upgrade came on: its drain event is what paces a replay.
 */
export function wsTransport(ws: WebSocket, socket: Duplex): Transport {
  let alive = true;
  ws.on('pong', () => (alive = true));
  ws.on('message', () => (alive = true));
  return {
    write(chunk) {
      if (ws.readyState === WebSocket.OPEN) ws.send(chunk, TEXT);
    },
    buffered: () => ws.bufferedAmount,
    congested: () => socket.writableNeedDrain,
    drained() {
      return new Promise<void>((resolve) => {
        if (!socket.writableNeedDrain || ws.readyState !== WebSocket.OPEN) return resolve();
        const done = () => {
          socket.off('drain', done);
          ws.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        ws.on('close', done);
      });
    },
    end(cause: EndCause, reason: string) {
      if (ws.readyState === WebSocket.CLOSED) return;
      if (cause === 'dead') return ws.terminate();
      const code = cause === 'slow_consumer' ? WS_CLOSE.slowConsumer : cause === 'shutdown' ? WS_CLOSE.goingAway : WS_CLOSE.internalError;
      if (ws.readyState === WebSocket.OPEN) ws.close(code, closeReason(reason));
      // ws would wait 30 s for the peer's close frame; a stuck peer gets cut off sooner.
      const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
      timer.unref();
      ws.once('close', () => clearTimeout(timer));
    },
    onClose(fn) {
      if (ws.readyState === WebSocket.CLOSED) fn();
      else ws.once('close', fn);
    },
    heartbeat() {
      // No pong since the last ping: the peer is gone without a FIN (e.g. a dropped NAT mapping).
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    },
  };
}
