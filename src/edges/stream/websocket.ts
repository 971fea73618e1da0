import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { HttpError, badRequest } from '../../http/errors.ts';
import type { StreamDeps } from './deps.ts';
import { Feed } from './feed.ts';
import { sockethookFraming, wsEnvelopeFraming } from './framing.ts';
import { Outbound } from './outbound.ts';
import { MAX_TOPICS_PER_CONNECTION, checkPatterns, decodePath, parseResumeId, queryValue, queryValues } from './params.ts';
import { wsTransport } from './ws-transport.ts';

export const SOCKET_PREFIX = '/socket/';
export const WS_PATH = '/ws';

/** Largest message a client may send (subscribe/unsubscribe requests are tiny). */
const MAX_CLIENT_MESSAGE = 64 * 1024;

type Format = 'sockethook' | 'envelope';

interface Request {
  patterns: string[];
  format: Format;
  afterId: string | undefined;
}

/**
 * WebSocket subscribers:
 * - `/socket/<topic>`: sockethook-compatible messages (`{headers, endpoint, data}`);
 * - `/ws?topic=…`: envelopes, and a small protocol to change subscriptions.
 * Either takes `format=envelope|sockethook` to choose the other message shape.
 */
export class WebSocketSubscribers {
  readonly #deps: StreamDeps;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: MAX_CLIENT_MESSAGE });

  constructor(deps: StreamDeps) {
    this.#deps = deps;
  }

  static owns(pathname: string): boolean {
    return pathname === WS_PATH || pathname.startsWith(SOCKET_PREFIX);
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!WebSocketSubscribers.owns(url.pathname)) return false;
    void this.#accept(req, socket, head, url);
    return true;
  }

  close(): void {
    this.#wss.close();
  }

  async #accept(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const { rt, registry, cors } = this.#deps;
    let request: Request;
    try {
      if (!cors.allowsUpgrade(req.headers.origin)) throw new HttpError(403, 'origin not allowed (streams.corsOrigins)');
      request = parseRequest(url, req);
      for (const topic of request.patterns) await authorizeUpgrade(this.#deps, req, topic);
      request.afterId = await this.#deps.newest.resumeFrom(request.afterId);
      registry.check();
    } catch (err) {
      return rejectUpgrade(socket, err, this.#deps);
    }
    if (socket.destroyed) return;
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#attach(ws, socket, req, request));
  }

  #attach(ws: WebSocket, socket: Duplex, req: IncomingMessage, request: Request): void {
    const { rt, registry, metrics, log } = this.#deps;
    ws.on('error', (err) => log.debug({ err }, 'websocket error'));
    if (registry.closing) return void ws.close(1001, 'server is shutting down');
    const out = new Outbound(wsTransport(ws, socket), request.format === 'envelope' ? wsEnvelopeFraming : sockethookFraming, {
      kind: 'websocket',
      maxBufferBytes: rt.config.streams.maxBufferBytes,
      keepAliveMs: rt.config.streams.keepAlive,
      registry,
      metrics,
      log,
    });
    const feed = new Feed(rt.bus, 'websocket', out, rt.config.streams.maxBufferBytes);
    out.onGone(() => feed.stop());
    if (request.format === 'envelope') {
      let chain = Promise.resolve();
      ws.on('message', (data, isBinary) => {
        chain = chain.then(() => this.#onClientMessage(out, feed, req, data, isBinary));
      });
    }
    feed.start(request.patterns, request.afterId).catch((err: unknown) => {
      log.error({ err, topics: request.patterns }, 'websocket replay failed');
      out.end('internal error while replaying the backlog');
    });
  }

  /** `{"action":"subscribe"|"unsubscribe","topic":"…"}` → `{"ok":true,…}` or `{"error":"…"}`. */
  async #onClientMessage(out: Outbound, feed: Feed, req: IncomingMessage, data: RawData, isBinary: boolean): Promise<void> {
    if (out.closed) return;
    const reply = (body: object) => out.writeRaw(JSON.stringify(body));
    let msg: { action?: unknown; topic?: unknown };
    try {
      if (isBinary) throw new Error('binary');
      msg = JSON.parse(rawText(data)) as typeof msg;
      if (typeof msg !== 'object' || msg === null) throw new Error('not an object');
    } catch {
      return reply({ error: 'send JSON such as {"action":"subscribe","topic":"orders/#"}' });
    }
    const { action, topic } = msg;
    if (action !== 'subscribe' && action !== 'unsubscribe') {
      return reply({ error: `unknown action ${JSON.stringify(action)}; use "subscribe" or "unsubscribe"`, action });
    }
    if (typeof topic !== 'string') return reply({ error: "'topic' must be a string", action });
    try {
      const current = [...feed.patterns];
      if (action === 'subscribe') {
        checkPatterns([topic]);
        if (!current.includes(topic)) {
          if (current.length >= MAX_TOPICS_PER_CONNECTION) throw badRequest(`at most ${MAX_TOPICS_PER_CONNECTION} topics per connection`);
          await authorizeUpgrade(this.#deps, req, topic);
          if (out.closed) return;
          feed.setPatterns([...feed.patterns.filter((p) => p !== topic), topic]);
        }
      } else {
        feed.setPatterns(current.filter((p) => p !== topic));
      }
      reply({ ok: true, action, topic, topics: feed.patterns });
    } catch (err) {
      reply({ error: err instanceof HttpError ? err.message : 'request failed', status: err instanceof HttpError ? err.status : 500, action, topic });
    }
  }
}

/** With access control on, an authorizer that cannot judge upgrades must not mean "open". */
async function authorizeUpgrade(deps: StreamDeps, req: IncomingMessage, topic: string): Promise<void> {
  const { auth } = deps.rt;
  if (auth.authorizeRequest) return auth.authorizeRequest(req, 'subscribe', topic);
  if (auth.enabled) throw new HttpError(403, 'access control is on but cannot authorize WebSocket upgrades');
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

function parseRequest(url: URL, req: IncomingMessage): Request {
  const query: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) (query[k] ??= []).push(v);
  let patterns: string[];
  let format: Format;
  if (url.pathname === WS_PATH) {
    patterns = [...new Set(queryValues(query, 'topic'))];
    format = 'envelope';
  } else {
    // The raw path, so that %2F inside a segment still reads as part of the topic.
    patterns = [decodePath(url.pathname.slice(SOCKET_PREFIX.length))];
    format = 'sockethook';
  }
  checkPatterns(patterns);
  const requested = queryValue(query, 'format');
  if (requested !== undefined) {
    if (requested !== 'envelope' && requested !== 'sockethook') throw badRequest(`'format' must be 'envelope' or 'sockethook', got '${requested.slice(0, 40)}'`);
    format = requested;
  }
  return { patterns, format, afterId: parseResumeId(query, req.headers) };
}

/** Answers a refused upgrade with a plain HTTP error, since there is no Koa context here. */
function rejectUpgrade(socket: Duplex, err: unknown, deps: StreamDeps): void {
  const e = err as Error & { status?: number; headers?: Record<string, string> };
  const status = e instanceof HttpError ? e.status : (e.status ?? 500);
  if (status >= 500 && !(e instanceof HttpError)) deps.log.error({ err: e }, 'websocket upgrade failed');
  const message = e instanceof HttpError || status < 500 ? e.message : 'internal error';
  const body = JSON.stringify({ error: message });
  const extra = Object.entries(e.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
  );
}
