import { createServer, type IncomingHttpHeaders, type ServerResponse, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SinkRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  at: number;
}

export type SinkHandler = (req: SinkRequest, res: ServerResponse, raw: IncomingMessage) => void | Promise<void>;

export interface Sink {
  url: string;
  requests: SinkRequest[];
  /** Replace how the sink answers (default: 200 "ok"). */
  handle(fn: SinkHandler): void;
  /** Resolves once `n` requests have arrived (bounded by `timeoutMs`). */
  waitForRequests(n: number, timeoutMs?: number): Promise<SinkRequest[]>;
  close(): Promise<void>;
}

/** A real HTTP receiver on loopback that records every request it gets. */
export async function startSink(handler?: SinkHandler): Promise<Sink> {
  let current: SinkHandler = handler ?? ((_req, res) => void res.end('ok'));
  const requests: SinkRequest[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((raw, res) => {
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    raw.on('end', () => {
      const req: SinkRequest = { method: raw.method ?? '', url: raw.url ?? '', headers: raw.headers, body: Buffer.concat(chunks), at: Date.now() };
      requests.push(req);
      for (const w of waiters) w();
      Promise.resolve(current(req, res, raw)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    handle(fn) {
      current = fn;
    },
    waitForRequests(n, timeoutMs = 5000) {
      if (requests.length >= n) return Promise.resolve(requests.slice(0, n));
      return new Promise((resolve, reject) => {
        const check = () => {
          if (requests.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(requests.slice(0, n));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`sink got ${requests.length} of ${n} requests within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
