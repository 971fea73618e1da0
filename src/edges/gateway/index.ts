import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import Router from '@koa/router';
import { WebSocketServer } from 'ws';
import { IpRanges } from '../../auth/client-ip.ts';
import { keptHeaders, readRawBody } from '../../http/body.ts';
import { HttpError } from '../../http/errors.ts';
import type { Runtime } from '../../runtime.ts';
import type { Edge } from '../edge.ts';
import type { ChannelRecord } from '../tunnel/ports.ts';
import { maxFrameBytes } from '../tunnel/protocol.ts';
import { clientOrigin } from '../tunnel/client-link.ts';
import { refuseUpgrade } from '../tunnel/refuse.ts';
import { startExpirySweep } from '../tunnel/sweep.ts';
import { CHANNEL_ID_RE, hashToken, newChannelId, newToken, presentedToken, tokenMatches } from '../tunnel/token.ts';
import { CORRELATION_HEADER, deliveryReport, GatewayConnection, type ConnectionSettings, type DeliveryReport } from './connection.ts';
import { correlationSession, correlationValid } from './correlation.ts';

/**
 * Bidirectional messaging over one WebSocket (`GET /gateway`): a client
 * dispatches requests to third parties through the durable dispatcher, and
 * their later webhooks to `/gateway/callback/{correlation}` come back on the
 * same connection, or wait in the session's topic (`gateway/{session}`) until
 * it reconnects. See docs/tunnel.md.
 */
export function createGatewayEdge(rt: Runtime): Edge {
  const cfg = rt.config.tunnel;
  const log = rt.log.child({ module: 'gateway' });
  const store = rt.stores.channels;
  const connections = rt.metrics.gauge('hookah_gateway_connections', 'Gateway WebSocket connections');
  const actions = rt.metrics.counter('hookah_gateway_actions_total', 'Gateway client actions, by action and outcome', ['action', 'outcome']);
  const callbacks = rt.metrics.counter('hookah_gateway_callbacks_total', 'Third-party callbacks to /gateway/callback, by outcome', ['outcome']);
  const sessions = new Map<string, GatewayConnection>();
  /** Several nodes (redis): a session's connection may be on any of them. */
  const cluster = rt.stores.tunnelCluster;
  /** Registry id of each local connection (unique on this node). */
  const registered = new Map<GatewayConnection, string>();
  let connectionSeq = 0;
  const trustedProxies = new IpRanges(rt.config.server.trustedProxies);
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes(rt.config.server.maxBodyBytes) });
  let closing = false;

  const settings: ConnectionSettings = {
    rt,
    log,
    keepAliveMs: cfg.keepAlive,
    maxBufferBytes: cfg.gateway.maxBufferBytes,
    maxSubscriptions: cfg.gateway.maxSubscriptions,
    actions,
    closed(conn) {
      if (sessions.get(conn.session) === conn) sessions.delete(conn.session);
      const id = registered.get(conn);
      registered.delete(conn);
      if (id) cluster?.detach('gateway', conn.session, id).catch((err) => log.warn({ err, session: conn.session }, 'cannot unregister a gateway connection; its entry is corrected within seconds'));
      connections.dec();
      store.touch(conn.session).catch(() => undefined);
      log.debug({ session: conn.session }, 'gateway client disconnected');
    },
  };

  /** Nodes other than this one holding a connection of the session. */
  const elsewhere = async (session: string): Promise<Map<string, number>> => (cluster ? cluster.locate(session) : new Map());

  /**
   * Messages between nodes, `<type>\n<session>\n<json>`: `close` {code, reason}
   * (the session was resumed elsewhere or deleted), `outcome` (a DeliveryReport
   * for the session's connection: the delivery ran on another node).
   */
  const tell = (nodes: Iterable<string>, type: 'close' | 'outcome', session: string, body: unknown) => {
    for (const node of nodes) {
      cluster?.send(node, 'gateway', `${type}\n${session}\n${JSON.stringify(body)}`).catch((err) => log.warn({ err, node, type }, 'cannot reach another node'));
    }
  };
  cluster?.onMessage('gateway', (_from, payload) => {
    const a = payload.indexOf('\n');
    const b = payload.indexOf('\n', a + 1);
    if (a < 0 || b < 0) return;
    const type = payload.slice(0, a);
    const conn = sessions.get(payload.slice(a + 1, b));
    if (!conn) return;
    try {
      const body = JSON.parse(payload.slice(b + 1)) as Record<string, unknown>;
      if (type === 'close') conn.close(Number(body.code), String(body.reason));
      else if (type === 'outcome') conn.outcome(body as unknown as DeliveryReport);
    } catch (err) {
      log.warn({ err, type }, 'ignoring a malformed gateway message from another node');
    }
  });

  const stopOutcomes = rt.dispatcher.onOutcome((o) => {
    if (o.record.kind !== 'gateway' || !o.record.ref) return;
    const report = deliveryReport(o);
    if (!report) return;
    const session = o.record.ref;
    const local = sessions.get(session);
    if (local) return local.outcome(report);
    // Attempted here, but the session's connection is on another node.
    if (cluster) {
      elsewhere(session)
        .then((nodes) => tell(nodes.keys(), 'outcome', session, report))
        .catch((err) => log.warn({ err, session }, 'cannot pass a gateway delivery outcome to another node'));
    }
  });

  async function activeSession(id: string): Promise<ChannelRecord | undefined> {
    if (!CHANNEL_ID_RE.test(id)) return undefined;
    const record = await store.get(id);
    if (!record || record.kind !== 'gateway') return undefined;
    if (!sessions.has(id) && Date.now() - record.lastUsedAt > cfg.channelTtl && (await elsewhere(id)).size === 0) {
      await store.remove(id);
      return undefined;
    }
    return record;
  }

  const router = new Router();

  router.all('/gateway/callback/:correlation', async (ctx) => {
    const correlation = String(ctx.params.correlation);
    const session = correlationSession(correlation);
    const record = session ? await activeSession(session) : undefined;
    if (!record || !correlationValid(correlation, record.tokenHash)) {
      callbacks.inc({ outcome: 'unknown' });
      throw new HttpError(404, 'unknown or expired callback URL');
    }
    const topic = `gateway/${record.id}`;
    await rt.auth.authorize(ctx, 'publish', topic);
    const body = await readRawBody(ctx, rt.config.server.maxBodyBytes);
    await rt.auth.verifyInbound?.(ctx, topic, body);
    const headers = keptHeaders(ctx.headers);
    headers[CORRELATION_HEADER] = correlation;
    headers['x-hookah-callback-method'] = ctx.method;
    if (ctx.querystring) headers['x-hookah-callback-query'] = ctx.querystring;
    const event = await rt.bus.publish({
      topic,
      headers,
      contentType: ctx.get('content-type'),
      body,
      type: 'callback',
      source: 'gateway',
    });
    await store.touch(record.id);
    const connected = sessions.has(record.id) || (await elsewhere(record.id)).size > 0;
    callbacks.inc({ outcome: connected ? 'relayed' : 'stored' });
    ctx.status = 202;
    ctx.body = { id: event.id, status: connected ? 'relayed' : 'stored' };
  });

  router.get('/gateway', () => {
    throw new HttpError(426, 'this endpoint is a WebSocket: connect with an Upgrade: websocket request', { upgrade: 'websocket' });
  });

  router.delete('/gateway/sessions/:session', async (ctx) => {
    const record = await activeSession(String(ctx.params.session));
    if (!record) throw new HttpError(404, 'no such gateway session');
    if (!tokenMatches(presentedToken(ctx.req), record.tokenHash)) {
      throw new HttpError(401, 'the session token is missing or wrong', { 'www-authenticate': 'Bearer realm="hookah gateway"' });
    }
    const nodes = await elsewhere(record.id);
    await store.remove(record.id);
    sessions.get(record.id)?.close(4404, 'session deleted');
    tell(nodes.keys(), 'close', record.id, { code: 4404, reason: 'session deleted' });
    ctx.status = 204;
  });

  async function accept(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const params = new URL(req.url ?? '/', 'http://x').searchParams;
    const requested = params.get('session');
    const lastEventId = params.get('last_event_id');
    let record: ChannelRecord | undefined;
    let token: string | undefined;
    let takenOver = new Map<string, number>();
    try {
      if (closing || rt.shutdown.aborted) throw new HttpError(503, 'server is shutting down');
      if (sessions.size >= cfg.gateway.maxConnections) {
        throw new HttpError(503, `too many gateway connections (tunnel.gateway.maxConnections is ${cfg.gateway.maxConnections})`, { 'retry-after': '5' });
      }
      if (lastEventId !== null && (lastEventId.length === 0 || lastEventId.length > 64)) throw new HttpError(400, 'last_event_id must be 1-64 characters');
      if (requested) {
        await rt.auth.authorizeRequest?.(req, 'subscribe', `gateway/${requested}`);
        record = await activeSession(requested);
        if (!record) throw new HttpError(404, 'no such gateway session (it may have expired)');
        if (!tokenMatches(presentedToken(req), record.tokenHash)) throw new HttpError(401, 'the session token is missing or wrong');
      } else {
        await rt.auth.authorizeRequest?.(req, 'subscribe', 'gateway');
        if ((await store.count()) >= cfg.maxChannels) throw new HttpError(503, `the server holds its maximum of ${cfg.maxChannels} channels and sessions (tunnel.maxChannels)`);
        token = newToken();
        const cursor = (await rt.bus.log.lastId()) ?? '0';
        record = await store.create({ id: newChannelId(), kind: 'gateway', tokenHash: hashToken(token), cursor });
      }
      await store.touch(record.id);
      if (cluster && requested) takenOver = await elsewhere(record.id);
    } catch (err) {
      if ((err as { status?: number }).status === undefined) log.error({ err }, 'gateway upgrade failed');
      refuseUpgrade(socket, err);
      return;
    }
    const session = record;
    if (socket.destroyed) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (closing) return ws.close(1001, 'server is shutting down');
      sessions.get(session.id)?.close(4409, 'session resumed on another connection');
      tell(takenOver.keys(), 'close', session.id, { code: 4409, reason: 'session resumed on another connection' });
      const conn = new GatewayConnection(ws, req, session.id, session.tokenHash, settings);
      sessions.set(session.id, conn);
      connections.inc();
      if (cluster) {
        const id = `g${++connectionSeq}`;
        registered.set(conn, id);
        cluster
          .attach({ kind: 'gateway', channel: session.id, id, connectedAt: Date.now(), ...clientOrigin(req, trustedProxies) }, Infinity)
          .catch((err) => log.warn({ err, session: session.id }, 'cannot register a gateway connection; other nodes will store its callbacks as "stored"'));
      }
      ws.send(
        JSON.stringify({
          type: 'session',
          session: session.id,
          ...(token ? { token } : {}),
          resumed: token === undefined,
          callback_url_prefix: `${rt.publicUrl()}/gateway/callback/`,
        }),
      );
      log.debug({ session: session.id, resumed: token === undefined }, 'gateway client connected');
      conn.start(lastEventId ?? session.cursor ?? '0').catch((err) => {
        log.error({ err, session: session.id }, 'cannot replay gateway session');
        conn.close(1011, 'cannot replay the session backlog');
      });
    });
  }

  const sweep = startExpirySweep({ kind: 'gateway', store, cluster, ttlMs: cfg.channelTtl, log, connectedHere: () => sessions.keys() });

  return {
    name: 'gateway',
    router,
    upgrade(req, socket, head) {
      if (!/^\/gateway\/?(?:[?#]|$)/.test(req.url ?? '')) return false;
      void accept(req, socket, head);
      return true;
    },
    close() {
      closing = true;
      clearInterval(sweep);
      stopOutcomes();
      for (const conn of sessions.values()) conn.close(1001, 'server is shutting down');
      wss.close();
    },
  };
}
