import { WebSocket } from 'ws';

export type Message = Record<string, unknown> & { type: string };

export interface GatewayTestClient {
  ws: WebSocket;
  messages: Message[];
  send(action: Record<string, unknown>): void;
  /** The first message (already received or to come) that matches and was not taken before. */
  next(what: string, match?: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  close(): Promise<void>;
}

/** A raw WebSocket client of `/gateway` that records every message. */
export async function connectGateway(url: string, headers: Record<string, string> = {}): Promise<GatewayTestClient> {
  const ws = new WebSocket(url, { headers });
  const messages: Message[] = [];
  const taken = new Set<Message>();
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    messages.push(JSON.parse(data.toString()) as Message);
    for (const w of [...waiters]) w();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`gateway refused the upgrade: ${res.statusCode}`)));
  });
  return {
    ws,
    messages,
    send(action) {
      ws.send(JSON.stringify(action));
    },
    next(what, match = () => true, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find((m) => !taken.has(m) && match(m));
          if (!found) return;
          taken.add(found);
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(messages)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      const closed = new Promise<void>((r) => ws.once('close', () => r()));
      ws.close();
      await closed;
    },
  };
}
