import type { IncomingMessage } from 'node:http';
import type { Counter } from 'prom-client';
import type { WebSocket } from 'ws';
import { toEnvelope, decodeBody, isJsonType, type StoredEvent } from '../../core/event.ts';
import { requestFingerprint } from '../../core/idempotency.ts';
import { matchTopic, validatePattern, validateTopic } from '../../core/topic-pattern.ts';
import type { DeliveryOutcome } from '../../dispatcher/types.ts';
import type { Logger } from '../../log.ts';
import type { Runtime } from '../../runtime.ts';
import { parseAction, payloadOf, type DispatchAction, type GatewayAction, type PublishAction } from './actions.ts';
import { newCorrelationId } from './correlation.ts';

export const CORRELATION_HEADER = 'x-hookah-correlation-id';
export const CALLBACK_HEADER = 'x-hookah-callback-url';

/** Topics that belong to other sessions and channels: never readable or writable through actions. */
const RESERVED = /^(gateway|tunnel)\//;
const MAX_PENDING_ACTIONS = 100;
const MAX_TRACKED_DELIVERIES = 10_000;
const RECENT_EVENTS = 1024;

/** What a gateway client is told when a dispatch finished; plain data, so it can travel between nodes. */
export interface DeliveryReport {
  id: string;
  status: 'delivered' | 'failed';
  attempts: number;
  httpStatus: number | null;
  error: string | null;
}

/** The report of a final dispatcher outcome; undefined while the delivery is still retrying. */
export function deliveryReport(o: DeliveryOutcome): DeliveryReport | undefined {
  if (!o.final || (o.record.status !== 'delivered' && o.record.status !== 'failed')) return undefined;
  return {
    id: o.record.id,
    status: o.record.status,
    attempts: o.record.attemptCount,
    httpStatus: o.attempt.status ?? null,
    error: o.record.status === 'failed' ? (o.record.lastError ?? null) : null,
  };
}

export interface ConnectionSettings {
  rt: Runtime;
  log: Logger;
  keepAliveMs: number;
  maxBufferBytes: number;
  maxSubscriptions: number;
  actions: Counter<'action' | 'outcome'>;
  closed(conn: GatewayConnection): void;
}

type ClientId = string | number | undefined;

class ActionError extends Error {}

interface Subscription {
  patterns: Set<string>;
  unsubscribe: () => void;
}

/**
 * One gateway WebSocket. Runs the client's actions in order, relays the
 * callbacks addressed to its session (live, or replayed from the session
 * topic's backlog after a reconnect) and the events of its subscriptions.
 */
export class GatewayConnection {
  readonly session: string;
  readonly #ws: WebSocket;
  readonly #req: IncomingMessage;
  readonly #key: string;
  readonly #s: ConnectionSettings;
  readonly #subs: Subscription[] = [];
  readonly #deliveries = new Map<string, { correlationId: string; id: ClientId }>();
  readonly #recent = new Set<string>();
  #sessionFeed: (() => void) | undefined;
  #chain: Promise<void> = Promise.resolve();
  #pending = 0;
  #alive = true;
  #closed = false;
  readonly #ping: NodeJS.Timeout;

  constructor(ws: WebSocket, req: IncomingMessage, session: string, key: string, settings: ConnectionSettings) {
    this.#ws = ws;
    this.#req = req;
    this.session = session;
    this.#key = key;
    this.#s = settings;
    ws.on('pong', () => (this.#alive = true));
    ws.on('message', (data, isBinary) => {
      this.#alive = true;
      if (isBinary) return this.#send({ type: 'error', error: 'send actions as JSON text frames' });
      if (this.#pending >= MAX_PENDING_ACTIONS) {
        return this.#send({ type: 'error', error: `more than ${MAX_PENDING_ACTIONS} actions waiting; slow down` });
      }
      this.#pending++;
      const text = data.toString();
      this.#chain = this.#chain
        .then(() => this.#handle(text))
        .catch((err) => this.#s.log.error({ err, session }, 'gateway action crashed'))
        .finally(() => this.#pending--);
    });
    ws.on('error', (err) => this.#s.log.debug({ err, session }, 'gateway socket error'));
    ws.on('close', () => this.#cleanup());
    this.#ping = setInterval(() => {
      if (!this.#alive) return void ws.terminate();
      this.#alive = false;
      ws.ping();
    }, settings.keepAliveMs);
    this.#ping.unref();
  }

  /** Starts relaying the session's callbacks, first those after `afterId` from the backlog. */
  async start(afterId: string): Promise<void> {
    const topic = `gateway/${this.session}`;
    const unsubscribe = await this.#s.rt.bus.follow([topic], (event) => this.#callback(event), {
      kind: 'websocket',
      afterId,
      replayLimit: 10_000,
      onGap: () => this.#send({ type: 'warning', message: 'some callbacks of this session were dropped by backlog retention before they could be sent' }),
    });
    if (this.#closed) unsubscribe();
    else this.#sessionFeed = unsubscribe;
  }

  close(code: number, reason: string): void {
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) this.#ws.close(code, reason);
    setTimeout(() => this.#ws.terminate(), 2000).unref();
  }

  /** The final outcome of one of this session's deliveries (attempted on this node or another). */
  outcome(r: DeliveryReport): void {
    const tracked = this.#deliveries.get(r.id);
    if (!tracked) return;
    this.#deliveries.delete(r.id);
    this.#send({
      type: 'delivery',
      id: tracked.id,
      message_id: r.id,
      correlation_id: tracked.correlationId,
      status: r.status,
      attempts: r.attempts,
      http_status: r.httpStatus,
      error: r.error,
    });
  }

  #cleanup(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ping);
    this.#sessionFeed?.();
    for (const sub of this.#subs) sub.unsubscribe();
    this.#subs.length = 0;
    this.#s.closed(this);
  }

  #send(message: Record<string, unknown>): void {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) return;
    if (this.#ws.bufferedAmount > this.#s.maxBufferBytes) {
      this.#s.log.warn({ session: this.session, buffered: this.#ws.bufferedAmount }, 'gateway client too slow; closing');
      this.close(1013, 'too slow: outgoing buffer full');
      return;
    }
    this.#ws.send(JSON.stringify(message));
  }

  #callback(event: StoredEvent): void {
    const { data, encoding } = decodeBody(event.contentType, event.body);
    const message: Record<string, unknown> = {
      type: 'callback',
      id: event.id,
      correlation_id: event.headers[CORRELATION_HEADER] ?? null,
      received_at: new Date(event.receivedAt).toISOString(),
      content_type: event.contentType,
      headers: event.headers,
      data,
    };
    if (encoding) message.encoding = encoding;
    this.#send(message);
    this.#s.rt.stores.channels.setCursor(this.session, event.id).catch((err) => this.#s.log.warn({ err }, 'cannot save gateway cursor'));
  }

  async #handle(text: string): Promise<void> {
    const parsed = parseAction(text);
    if (!parsed.ok) {
      this.#s.actions.inc({ action: 'invalid', outcome: 'error' });
      return this.#send({ type: 'error', ...(parsed.id !== undefined ? { id: parsed.id } : {}), error: parsed.error });
    }
    const action = parsed.action;
    try {
      await this.#run(action);
      this.#s.actions.inc({ action: action.action, outcome: 'ok' });
    } catch (err) {
      this.#s.actions.inc({ action: action.action, outcome: 'error' });
      const e = err as Error & { status?: number; expose?: boolean };
      const expose = err instanceof ActionError || err instanceof RangeError || e.expose === true || (e.status !== undefined && e.status < 500);
      if (!expose) this.#s.log.error({ err, session: this.session, action: action.action }, 'gateway action failed');
      this.#send({ type: 'error', ...(action.id !== undefined ? { id: action.id } : {}), action: action.action, error: expose ? e.message : 'internal error' });
    }
  }

  async #run(action: GatewayAction): Promise<void> {
    switch (action.action) {
      case 'dispatch':
        return this.#dispatch(action);
      case 'publish':
        return this.#publish(action);
      case 'subscribe':
        return this.#subscribe(action.topics, action.id, action.last_event_id);
      case 'unsubscribe':
        return this.#unsubscribe(action.topics, action.id);
      case 'ping':
        return this.#send({ type: 'pong', ...(action.id !== undefined ? { id: action.id } : {}) });
    }
  }

  async #dispatch(a: DispatchAction): Promise<void> {
    const { rt } = this.#s;
    let url: URL;
    try {
      url = new URL(a.url);
    } catch {
      throw new ActionError('url must be an absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ActionError('url must be an absolute http(s) URL');
    await rt.auth.authorizeRequest?.(this.#req, 'publish', url.href);
    const payload = payloadOf(a);
    if (typeof payload === 'string') throw new ActionError(payload);

    const correlationId = newCorrelationId(this.session, this.#key);
    const callbackUrl = `${rt.publicUrl()}/gateway/callback/${correlationId}`;
    let body = payload.body;
    if (payload.object && isJsonType(payload.contentType)) {
      // The third party learns where to answer from the payload too, not only from a header.
      const o = payload.object;
      body = Buffer.from(JSON.stringify({ ...o, callback_url: o.callback_url ?? callbackUrl, correlation_id: o.correlation_id ?? correlationId }));
    }
    if (body.length > rt.config.server.maxBodyBytes) {
      throw new ActionError(`data is ${body.length} bytes; the limit is ${rt.config.server.maxBodyBytes} (server.maxBodyBytes)`);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(a.headers ?? {})) headers[k.toLowerCase()] = v;
    headers['content-type'] = payload.contentType;
    const method = a.method ?? 'POST';
    // The action as the client sent it: the correlation Hookah adds below is new each time.
    const fingerprint = a.idempotency_key !== undefined ? requestFingerprint([method, url.href, headers, String(a.max_attempts ?? '')], payload.body) : undefined;
    headers[CALLBACK_HEADER] = callbackUrl;
    headers[CORRELATION_HEADER] = correlationId;

    // In a namespace no /dispatch key can reach (those cannot hold control characters; user names hold no ':').
    const idempotencyKey = a.idempotency_key !== undefined ? `\x1fgateway:${this.session}\x1f${a.idempotency_key}` : undefined;
    await rt.dispatcher.assertRoom(idempotencyKey);
    const queued = await rt.dispatcher.enqueue({
      kind: 'gateway',
      url: url.href,
      method,
      headers,
      body,
      ref: this.session,
      ...(a.max_attempts !== undefined ? { maxAttempts: a.max_attempts } : {}),
      ...(idempotencyKey !== undefined ? { idempotencyKey, idempotencyFingerprint: fingerprint! } : {}),
    });
    if (this.#deliveries.size >= MAX_TRACKED_DELIVERIES) this.#deliveries.delete(this.#deliveries.keys().next().value!);
    this.#deliveries.set(queued.id, { correlationId, id: a.id });
    this.#send({
      type: 'dispatched',
      ...(a.id !== undefined ? { id: a.id } : {}),
      message_id: queued.id,
      duplicate: queued.duplicate,
      correlation_id: correlationId,
      callback_url: callbackUrl,
    });
  }

  async #publish(a: PublishAction): Promise<void> {
    const invalid = validateTopic(a.topic);
    if (invalid) throw new ActionError(invalid);
    if (RESERVED.test(a.topic)) throw new ActionError('topics under gateway/ and tunnel/ are reserved');
    await this.#s.rt.auth.authorizeRequest?.(this.#req, 'publish', a.topic);
    const payload = payloadOf(a);
    if (typeof payload === 'string') throw new ActionError(payload);
    if (payload.body.length > this.#s.rt.config.server.maxBodyBytes) {
      throw new ActionError(`data is ${payload.body.length} bytes; the limit is ${this.#s.rt.config.server.maxBodyBytes} (server.maxBodyBytes)`);
    }
    const event = await this.#s.rt.bus.publish({
      topic: a.topic,
      headers: { 'content-type': payload.contentType },
      contentType: payload.contentType,
      body: payload.body,
      source: 'gateway',
      ...(a.event !== undefined ? { type: a.event } : {}),
    });
    this.#send({ type: 'published', ...(a.id !== undefined ? { id: a.id } : {}), event_id: event.id, topic: a.topic });
  }

  async #subscribe(topics: string[], id: ClientId, afterId: string | undefined): Promise<void> {
    const patterns = [...new Set(topics)];
    for (const p of patterns) {
      const invalid = validatePattern(p);
      if (invalid) throw new ActionError(`${p}: ${invalid}`);
      if (RESERVED.test(p)) throw new ActionError(`${p}: topics under gateway/ and tunnel/ are reserved`);
    }
    const count = this.#subs.reduce((n, s) => n + s.patterns.size, 0);
    if (count + patterns.length > this.#s.maxSubscriptions) {
      throw new ActionError(`at most ${this.#s.maxSubscriptions} topic patterns per connection (tunnel.gateway.maxSubscriptions)`);
    }
    for (const p of patterns) await this.#s.rt.auth.authorizeRequest?.(this.#req, 'subscribe', p);
    const sub: Subscription = { patterns: new Set(patterns), unsubscribe: () => undefined };
    this.#subs.push(sub);
    try {
      const listener = (event: StoredEvent) => {
        // A pattern unsubscribed on its own stays on the bus until its siblings go too.
        for (const p of sub.patterns) if (matchTopic(p, event.topic)) return this.#event(event);
      };
      sub.unsubscribe = await this.#s.rt.bus.follow(patterns, listener, {
        kind: 'websocket',
        ...(afterId !== undefined ? { afterId } : {}),
        replayLimit: 1000,
        onGap: () => this.#send({ type: 'warning', ...(id !== undefined ? { id } : {}), message: 'events were dropped by backlog retention or the replay limit since last_event_id' }),
      });
    } catch (err) {
      this.#subs.splice(this.#subs.indexOf(sub), 1);
      throw err;
    }
    if (this.#closed) sub.unsubscribe();
    this.#send({ type: 'subscribed', ...(id !== undefined ? { id } : {}), topics: patterns });
  }

  #unsubscribe(topics: string[], id: ClientId): void {
    for (const sub of [...this.#subs]) {
      for (const t of topics) sub.patterns.delete(t);
      if (sub.patterns.size === 0) {
        sub.unsubscribe();
        this.#subs.splice(this.#subs.indexOf(sub), 1);
      }
    }
    this.#send({ type: 'unsubscribed', ...(id !== undefined ? { id } : {}), topics });
  }

  #event(event: StoredEvent): void {
    if (RESERVED.test(event.topic)) return;
    // Overlapping subscriptions would otherwise deliver the same event twice.
    if (this.#recent.has(event.id)) return;
    this.#recent.add(event.id);
    if (this.#recent.size > RECENT_EVENTS) this.#recent.delete(this.#recent.values().next().value!);
    // The envelope's own `type` (the event name) would clash with the message type.
    const { type: name, ...envelope } = toEnvelope(event);
    this.#send({ type: 'event', ...envelope, ...(name !== undefined ? { event: name } : {}) });
  }
}
