import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { VERSION } from '../../version.ts';
import { CHANNEL_ID_RE } from './token.ts';
import { maxFrameBytes, parseServerFrame, type HelloFrame, type RequestFrame } from './protocol.ts';
import { replayToTarget, type SendFrame } from './target.ts';

/**
 * The local half of the tunnel (`hookah client`): keeps one WebSocket to the
 * server open for a channel, reconnecting with exponential backoff and
 * keeping the same channel, and replays every request it receives to the
 * local target.
 */

export interface TunnelClientOptions {
  /** Base URL of the Hookah server, e.g. https://hooks.example.com */
  serverUrl: string;
  /** Where requests are replayed, e.g. http://localhost:3000 (its path is a prefix). */
  targetUrl: string;
  /** Reuse an existing channel; both or neither of channel and token. */
  channel?: string;
  token?: string;
  /** The server's own access token (sent as Authorization: Bearer) when it has access control. */
  authToken?: string;
  /** Reconnect delays: initialMs doubling up to maxMs, ±20 % jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Largest frame accepted from the server. Default fits a 256 MiB body. */
  maxFrameBytes?: number;
}

export interface ChannelInfo {
  channel: string;
  token: string;
  webhookUrl: string;
  wsUrl: string;
  /** True when this client asked the server for a new channel. */
  issued: boolean;
}

/** One forwarded request, for the log line. */
export interface ForwardRecord {
  id: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  bytes: number;
  error?: string;
  aborted?: string;
  /** The offline-queue message id when the request had been queued. */
  queuedId?: string;
}

export interface TunnelClientEvents {
  connected: [HelloFrame];
  disconnected: [{ code: number; reason: string; retryInMs: number }];
  forwarded: [ForwardRecord];
  /** The server refused for good (wrong token, channel gone): the client stopped. */
  fatal: [Error];
  warning: [string];
}

export class TunnelClientError extends Error {
  override name = 'TunnelClientError';
}

const FATAL_STATUSES = new Set([400, 401, 403, 404, 410]);

function authHeaders(authToken: string | undefined): Record<string, string> {
  return authToken ? { authorization: `Bearer ${authToken}` } : {};
}

/** Asks the server for a new channel (`GET /new`). */
export async function issueChannel(serverUrl: string, authToken?: string): Promise<ChannelInfo> {
  const url = `${serverUrl.replace(/\/+$/, '')}/new`;
  let res: Response;
  try {
    res = await fetch(url, { headers: authHeaders(authToken), signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new TunnelClientError(`cannot reach ${url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new TunnelClientError(`${url} answered ${res.status}: ${text.slice(0, 500)}`);
  const body = JSON.parse(text) as { channel?: string; token?: string; webhook_url?: string; ws_url?: string };
  if (!body.channel || !body.token || !body.webhook_url || !body.ws_url) throw new TunnelClientError(`${url} did not return a channel: ${text.slice(0, 500)}`);
  return { channel: body.channel, token: body.token, webhookUrl: body.webhook_url, wsUrl: body.ws_url, issued: true };
}

function channelUrls(serverUrl: string, channel: string) {
  const base = serverUrl.replace(/\/+$/, '');
  return { webhookUrl: `${base}/webhook/${channel}`, wsUrl: `${base.replace(/^http/, 'ws')}/ws/${channel}` };
}

export class TunnelClient extends EventEmitter<TunnelClientEvents> {
  readonly info: ChannelInfo;
  readonly #options: TunnelClientOptions;
  readonly #target: URL;
  readonly #inflight = new Map<string, AbortController>();
  #ws: WebSocket | undefined;
  #attempt = 0;
  #retry: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #keepAliveMs = 30_000;
  #connected = false;
  #stopped = false;
  #closed: Promise<void> | undefined;

  private constructor(options: TunnelClientOptions, info: ChannelInfo, target: URL) {
    super();
    this.#options = options;
    this.info = info;
    this.#target = target;
  }

  /**
   * Resolves the channel (issuing one unless channel and token are given)
   * and starts connecting. Connection state is reported through events.
   */
  static async start(options: TunnelClientOptions): Promise<TunnelClient> {
    let target: URL;
    try {
      target = new URL(options.targetUrl);
    } catch {
      throw new TunnelClientError(`--target-url is not a URL: ${options.targetUrl}`);
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new TunnelClientError('--target-url must be http:// or https://');
    try {
      const server = new URL(options.serverUrl);
      if (server.protocol !== 'http:' && server.protocol !== 'https:') throw new Error();
    } catch {
      throw new TunnelClientError(`--server-url must be an http:// or https:// URL, got ${options.serverUrl}`);
    }
    if ((options.channel === undefined) !== (options.token === undefined)) {
      throw new TunnelClientError('--channel and --token go together: give both to reuse a channel, or neither to get a new one');
    }
    let info: ChannelInfo;
    if (options.channel !== undefined && options.token !== undefined) {
      if (!CHANNEL_ID_RE.test(options.channel)) throw new TunnelClientError(`--channel is not a channel id: ${options.channel}`);
      info = { channel: options.channel, token: options.token, ...channelUrls(options.serverUrl, options.channel), issued: false };
    } else info = await issueChannel(options.serverUrl, options.authToken);
    const client = new TunnelClient(options, info, target);
    client.#connect();
    return client;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Resolves on the next (or current) successful connection. */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.#connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`tunnel client not connected within ${timeoutMs} ms`));
      }, timeoutMs);
      const ok = () => (cleanup(), resolve());
      const bad = (err: Error) => (cleanup(), reject(err));
      const cleanup = () => {
        clearTimeout(timer);
        this.off('connected', ok);
        this.off('fatal', bad);
      };
      this.on('connected', ok);
      this.on('fatal', bad);
    });
  }

  /** Stops reconnecting, cancels requests being replayed and closes the socket. */
  close(): Promise<void> {
    return (this.#closed ??= new Promise<void>((resolve) => {
      this.#stopped = true;
      clearTimeout(this.#retry);
      clearTimeout(this.#watchdog);
      for (const ctl of this.#inflight.values()) ctl.abort();
      const ws = this.#ws;
      if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
      ws.once('close', () => resolve());
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'client closing');
      setTimeout(() => ws.terminate(), 2000).unref();
    }));
  }

  #connect(): void {
    if (this.#stopped) return;
    const ws = new WebSocket(this.info.wsUrl, {
      headers: { 'x-hookah-channel-token': this.info.token, 'user-agent': `hookah-client/${VERSION}`, ...authHeaders(this.#options.authToken) },
      maxPayload: this.#options.maxFrameBytes ?? maxFrameBytes(256 * 1024 * 1024),
      handshakeTimeout: 15_000,
    });
    this.#ws = ws;
    let refusal: { status: number; reason: string } | undefined;

    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if ((size += c.length) <= 4096) chunks.push(c);
      });
      const done = () => {
        let reason = Buffer.concat(chunks).toString('utf8');
        try {
          reason = (JSON.parse(reason) as { error?: string }).error ?? reason;
        } catch {
          // not JSON: keep the text
        }
        refusal = { status: res.statusCode ?? 0, reason: reason || `HTTP ${res.statusCode}` };
        ws.terminate();
      };
      res.once('end', done);
      res.once('error', done);
    });
    ws.on('open', () => this.#feedWatchdog());
    ws.on('ping', () => this.#feedWatchdog());
    ws.on('message', (data, isBinary) => {
      this.#feedWatchdog();
      if (isBinary) return;
      const parsed = parseServerFrame(data.toString());
      if (!parsed.ok) {
        this.emit('warning', `ignoring a frame from the server: ${parsed.error}`);
        return;
      }
      const frame = parsed.frame;
      if (frame.type === 'hello') {
        this.#connected = true;
        this.#attempt = 0;
        this.#keepAliveMs = frame.keepalive_ms;
        this.#feedWatchdog();
        this.emit('connected', frame);
      } else if (frame.type === 'request') void this.#handle(ws, frame);
      else this.#inflight.get(frame.id)?.abort();
    });
    ws.on('error', () => {
      // 'close' follows and decides what to do.
    });
    ws.on('close', (code, reasonBuf) => {
      clearTimeout(this.#watchdog);
      const wasConnected = this.#connected;
      this.#connected = false;
      for (const ctl of this.#inflight.values()) ctl.abort();
      if (this.#stopped) return;
      if (refusal && FATAL_STATUSES.has(refusal.status)) {
        this.#stopped = true;
        this.emit('fatal', new TunnelClientError(`the server refused the tunnel (${refusal.status}): ${refusal.reason}`));
        return;
      }
      if (code === 4404) {
        this.#stopped = true;
        this.emit('fatal', new TunnelClientError(`the channel was deleted on the server: ${reasonBuf.toString() || 'channel deleted'}`));
        return;
      }
      const delay = this.#nextDelay();
      const reason = refusal ? `server answered ${refusal.status}: ${refusal.reason}` : reasonBuf.toString() || (wasConnected ? 'connection closed' : 'cannot connect');
      this.emit('disconnected', { code, reason, retryInMs: delay });
      this.#retry = setTimeout(() => this.#connect(), delay);
    });
  }

  #nextDelay(): number {
    const initial = this.#options.backoff?.initialMs ?? 500;
    const max = this.#options.backoff?.maxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** Math.min(this.#attempt++, 30));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  /** A server that stops pinging is presumed gone: reconnect instead of waiting forever. */
  #feedWatchdog(): void {
    clearTimeout(this.#watchdog);
    const ws = this.#ws;
    this.#watchdog = setTimeout(() => ws?.terminate(), this.#keepAliveMs * 2 + 5000);
    this.#watchdog.unref();
  }

  async #handle(ws: WebSocket, frame: RequestFrame): Promise<void> {
    const ctl = new AbortController();
    this.#inflight.set(frame.id, ctl);
    const started = Date.now();
    const send: SendFrame = (out) =>
      new Promise<void>((resolve, reject) => {
        if (ws.readyState !== WebSocket.OPEN) return reject(new Error('tunnel connection closed'));
        ws.send(JSON.stringify(out), (err) => (err ? reject(err) : resolve()));
      });
    try {
      const result = await replayToTarget(this.#target, frame, send, ctl.signal);
      const record: ForwardRecord = {
        id: frame.id,
        method: frame.method,
        path: `${frame.path || '/'}${frame.query ? `?${frame.query}` : ''}`,
        status: result.status,
        durationMs: Date.now() - started,
        bytes: result.bytes,
      };
      if (result.error) record.error = result.error;
      if (result.aborted) record.aborted = result.aborted;
      if (frame.queued) record.queuedId = frame.queued.message_id;
      this.emit('forwarded', record);
    } catch (err) {
      this.emit('warning', `could not answer ${frame.method} ${frame.path || '/'}: ${(err as Error).message}`);
    } finally {
      this.#inflight.delete(frame.id);
    }
  }
}

/** The log line for one forwarded request: method, path, status and duration. */
export function formatForward(r: ForwardRecord): string {
  const outcome = r.aborted ? `${r.status || '-'} (aborted: ${r.aborted})` : r.error ? `${r.status} (${r.error.replace(/_/g, ' ')})` : String(r.status);
  const queued = r.queuedId ? ` [queued #${r.queuedId}]` : '';
  return `${r.method} ${r.path} -> ${outcome} ${r.durationMs} ms${queued}`;
}
