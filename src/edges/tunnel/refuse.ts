import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpError } from '../../http/errors.ts';

/**
 * Answers a WebSocket upgrade that will not be accepted with a plain HTTP
 * error on the raw socket (there is no Koa context there), in the same
 * `{"error": reason}` shape as every other error.
 */
export function refuseUpgrade(socket: Duplex, err: unknown): void {
  if (socket.destroyed) return;
  const e = err as Error & { status?: number; expose?: boolean; headers?: Record<string, string> };
  const status = e instanceof HttpError ? e.status : (e.status ?? 500);
  const reason = e instanceof HttpError || (e.expose ?? status < 500) ? e.message : 'internal error';
  const body = JSON.stringify({ error: reason });
  const extra = Object.entries(e.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
  );
}
