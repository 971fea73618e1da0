import { request, type IncomingMessage } from 'node:http';
import { waitFor } from '../helpers/wait.ts';

export type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

/** A streaming HTTP response read with node:http, as a curl-like client sees it. */
export interface RawStream {
  res: IncomingMessage;
  /** Everything received so far, decoded as UTF-8. */
  text(): string;
  bytes(): Buffer;
  /** Resolves once `check(text)` is truthy. */
  until<T>(check: (text: string) => T, what: string, timeoutMs?: number): Promise<Truthy<T>>;
  ended(): boolean;
  close(): void;
}

export function openRaw(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let ended = false;
      const bytes = () => {
        if (chunks.length > 1) chunks.splice(0, chunks.length, Buffer.concat(chunks));
        return chunks[0] ?? Buffer.alloc(0);
      };
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => (ended = true));
      res.on('error', () => (ended = true));
      res.on('aborted', () => (ended = true));
      res.on('close', () => (ended = true));
      resolve({
        res,
        text: () => bytes().toString('utf8'),
        bytes,
        until: async <T,>(check: (text: string) => T, what: string, timeoutMs = 8000) =>
          (await waitFor(() => check(bytes().toString('utf8')), what, timeoutMs)) as Truthy<T>,
        ended: () => ended,
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Reads the whole (non-streaming) response. */
export function rawGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The complete JSON lines of an ndjson stream (blank keep-alive lines skipped). */
export function jsonLines(text: string): Record<string, unknown>[] {
  const lines = text.split('\r\n');
  lines.pop(); // the last piece is incomplete (or empty)
  return lines.filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function hook(base: string, topic: string, body: string | Buffer, contentType = 'application/json', method = 'POST', headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${base}/hook/${topic}`, { method, body: typeof body === 'string' ? body : new Uint8Array(body), headers: { 'content-type': contentType, ...headers } });
  if (res.status !== 200) throw new Error(`hook answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  return id;
}
