import { WebSocket } from 'ws';
import { TunnelClient, type ForwardRecord, type TunnelClientOptions } from '../../src/edges/tunnel/tunnel-client.ts';
import { nextEvent } from '../helpers/wait.ts';

export interface IssuedChannel {
  channel: string;
  token: string;
  webhook_url: string;
  ws_url: string;
}

export async function issue(baseUrl: string): Promise<IssuedChannel> {
  const res = await fetch(`${baseUrl}/new`);
  if (res.status !== 200) throw new Error(`/new answered ${res.status}`);
  return (await res.json()) as IssuedChannel;
}

/** Starts the real tunnel client in-process and waits until it is connected. */
export async function connectClient(options: TunnelClientOptions): Promise<TunnelClient> {
  const client = await TunnelClient.start({ backoff: { initialMs: 50, maxMs: 500 }, ...options });
  try {
    await client.waitConnected(10_000);
  } catch (err) {
    await client.close();
    throw err;
  }
  return client;
}

export function nextForward(client: TunnelClient, what: string, match?: (r: ForwardRecord) => boolean): Promise<ForwardRecord> {
  return nextEvent<ForwardRecord>(
    (fn) => {
      client.on('forwarded', fn);
      return () => client.off('forwarded', fn);
    },
    what,
    10_000,
    match,
  );
}

/** Tries a WebSocket upgrade and reports the HTTP status the server refused it with (101 when accepted). */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        ws.terminate();
      });
    });
    ws.on('open', () => {
      resolve({ status: 101, body: '' });
      ws.close();
    });
    ws.on('error', (err) => {
      if (!/closed before the connection/.test(err.message)) reject(err);
    });
  });
}
