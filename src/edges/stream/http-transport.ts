import type { ServerResponse } from 'node:http';
import type { Transport } from './outbound.ts';

/** How long a closing stream may take to flush its final message before the socket is destroyed. */
export const CLOSE_GRACE_MS = 2000;

/** A long-lived HTTP response as a subscriber transport. */
export function httpTransport(res: ServerResponse): Transport {
  return {
    write(chunk) {
      res.write(chunk);
    },
    // Includes what sits in the socket's own buffer, not only the response's.
    buffered: () => res.writableLength,
    congested: () => res.writableNeedDrain,
    drained() {
      return new Promise<void>((resolve) => {
        if (!res.writableNeedDrain || res.destroyed) return resolve();
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    },
    end() {
      if (!res.writableEnded) res.end();
      if (res.destroyed) return;
      // A client that stopped reading never lets the end flush: cut it off.
      const timer = setTimeout(() => res.destroy(), CLOSE_GRACE_MS);
      timer.unref();
      res.once('close', () => clearTimeout(timer));
    },
    onClose(fn) {
      if (res.destroyed || res.closed) fn();
      else res.once('close', fn);
    },
  };
}
