import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import Router from '@koa/router';
import type { Context } from 'koa';
import { WebSocketServer } from 'ws';
import { IpRanges } from '../../auth/client-ip.ts';
import { HttpError } from '../../http/errors.ts';
import type { Runtime } from '../../runtime.ts';
import type { Edge } from '../edge.ts';
import { mountTunnelAdmin } from './admin.ts';
import { clientOrigin } from './client-link.ts';
import { ClusterRelay } from './cluster-relay.ts';
import { LiveChannels } from './live-channels.ts';
import type { ChannelRecord, TunnelClientInfo } from './ports.ts';
import { PROTOCOL_VERSION, maxFrameBytes, type HelloFrame } from './protocol.ts';
import { refuseUpgrade } from './refuse.ts';
import { QueueReplayer } from './replay.ts';
import { startExpirySweep } from './sweep.ts';
import { CHANNEL_ID_RE, hashToken, newChannelId, newToken, presentedToken, tokenMatches } from './token.ts';
import { webhookHandler, type WebhookOutcome } from './webhook.ts';

/**
 * The tunnel to localhost: `GET /new` issues a channel, `hookah client`
 * holds `GET /ws/{channel}` open, and every request to
 * `/webhook/{channel}[/...]` is relayed through it (or queued while no client
 * is connected). See docs/tunnel.md.
 */
export function createTunnelEdge(rt: Runtime): Edge {
  const cfg = rt.config.tunnel;
  const log = rt.log.child({ module: 'tunnel' });
  const store = rt.stores.channels;
  /** Several nodes share the store (redis): clients on any node serve webhooks arriving at any node. */
  const cluster = rt.stores.tunnelCluster;
  const m = rt.metrics;
  const clients = m.gauge('hookah_tunnel_clients', 'Tunnel clients connected');
  const requests = m.counter('hookah_tunnel_requests_total', 'Webhook requests to tunnel channels, by outcome', ['outcome']);
  const duration = m.histogram('hookah_tunnel_request_seconds', 'Time to relay a webhook through the tunnel (or queue it)', ['outcome'], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  const replayed = m.counter('hookah_tunnel_replayed_total', 'Queued tunnel requests replayed, by outcome', ['outcome']);
  m.gauge('hookah_tunnel_channels', 'Tunnel channels and gateway sessions stored', [], async function () {
    this.set(await store.count());
  });

  const claimTtl = Math.max(30_000, 3 * cfg.requestTimeout);
  const live: LiveChannels = new LiveChannels({
    mode: cfg.multiClient,
    timeoutMs: cfg.requestTimeout,
    maxBodyBytes: cfg.maxBodyBytes,
    maxClientsPerChannel: cfg.maxClientsPerChannel,
    maxInFlight: cfg.maxInFlight,
    keepAliveMs: cfg.keepAlive,
    log,
    onAttach: (channel) => replayer.kick(channel),
    onDetach: (channel, id) => {
      cluster?.detach('tunnel', channel, id).catch((err) => log.warn({ err, channel }, 'cannot unregister a tunnel client; its entry is corrected within seconds'));
    },
    onClientCount: (delta) => clients.inc(delta),
  });
  cluster?.reportInFlight('tunnel', (channel, id) => live.inFlight(channel, id));
  const replayer = new QueueReplayer({
    store,
    live,
    retryIntervalMs: cfg.queue.retryInterval,
    log,
    onReplayed: (outcome) => replayed.inc({ outcome }),
    ...(cluster && {
      claims: {
        // Long enough for one queued request's answer; renewed while it lasts.
        claim: (channel: string) => cluster.claimReplay(channel, claimTtl),
        renew: (channel: string, token: string) => cluster.renewReplay(channel, token, claimTtl),
        release: (channel: string, token: string) => cluster.releaseReplay(channel, token),
        renewEveryMs: Math.floor(claimTtl / 3),
      },
    }),
  });
  const relay = cluster && new ClusterRelay({ cluster, live, log, kick: (channel) => replayer.kick(channel) });
  // Safety net for a claim whose node died, or a kick that was lost: look at every local channel's queue now and then.
  const recheck = cluster
    ? setInterval(() => {
        for (const channel of live.connectedChannels()) if (!replayer.busy(channel)) replayer.kick(channel);
      }, cfg.queue.retryInterval)
    : undefined;
  recheck?.unref();
  const trustedProxies = new IpRanges(rt.config.server.trustedProxies);
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes(cfg.maxBodyBytes) });
  let closing = false;

  const urls = (id: string) => {
    const base = rt.publicUrl();
    return { webhook_url: `${base}/webhook/${id}`, ws_url: `${base.replace(/^http/, 'ws')}/ws/${id}` };
  };

  /** The other nodes holding clients of the channel (none on a single node). */
  const elsewhere = async (id: string): Promise<Map<string, number>> => (relay ? relay.locate(id) : new Map());
  const sum = (nodes: Map<string, number>) => [...nodes.values()].reduce((a, b) => a + b, 0);

  /** The channel if it exists and has not expired; an expired one is deleted on the spot. */
  async function activeChannel(id: string): Promise<ChannelRecord | undefined> {
    if (!CHANNEL_ID_RE.test(id)) return undefined;
    const record = await store.get(id);
    if (!record || record.kind !== 'tunnel') return undefined;
    if (live.clientCount(id) === 0 && Date.now() - record.lastUsedAt > cfg.channelTtl && (await elsewhere(id)).size === 0) {
      await store.remove(id);
      return undefined;
    }
    return record;
  }

  async function ownedChannel(ctx: Context): Promise<ChannelRecord> {
    const id = String(ctx.params.channel);
    const record = await activeChannel(id);
    if (!record) throw new HttpError(404, 'no such tunnel channel');
    if (!tokenMatches(presentedToken(ctx.req), record.tokenHash)) {
      throw new HttpError(401, 'the channel token is missing or wrong', { 'www-authenticate': 'Bearer realm="hookah tunnel"' });
    }
    return record;
  }

  /** Every connected client: this node's as they are now, the others' as of their last report. */
  async function allClients(): Promise<TunnelClientInfo[]> {
    if (!cluster) return live.describe();
    const here = live.describe().map((c) => ({ ...c, node: cluster.node }));
    const there = (await cluster.entries('tunnel')).filter((e) => e.node !== cluster.node);
    return [...here, ...there.map(({ kind: _kind, ...e }) => e)];
  }

  const router = new Router();
  mountTunnelAdmin(router, { rt, clients: allClients });

  const issue = async (ctx: Context) => {
    await rt.auth.authorize(ctx, 'subscribe', 'tunnel');
    if ((await store.count()) >= cfg.maxChannels) {
      throw new HttpError(503, `the server holds its maximum of ${cfg.maxChannels} channels (tunnel.maxChannels)`);
    }
    const token = newToken();
    const record = await store.create({ id: newChannelId(), kind: 'tunnel', tokenHash: hashToken(token) });
    log.info({ channel: record.id }, 'tunnel channel issued');
    ctx.status = ctx.method === 'POST' ? 201 : 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { channel: record.id, token, ...urls(record.id), ttl_seconds: Math.round(cfg.channelTtl / 1000) };
  };
  router.get('/new', issue);
  router.post('/new', issue);

  router.get('/channels/:channel', async (ctx) => {
    const record = await ownedChannel(ctx);
    const [queue, nodes] = await Promise.all([store.queueStats(record.id), elsewhere(record.id)]);
    const connected = live.clientCount(record.id) + sum(nodes);
    ctx.body = {
      channel: record.id,
      ...urls(record.id),
      created_at: new Date(record.createdAt).toISOString(),
      last_used_at: new Date(record.lastUsedAt).toISOString(),
      expires_at: connected > 0 ? null : new Date(record.lastUsedAt + cfg.channelTtl).toISOString(),
      clients: connected,
      queued: queue.count,
      queued_bytes: queue.bytes,
      mode: cfg.multiClient,
      offline: cfg.offline,
    };
  });

  router.delete('/channels/:channel', async (ctx) => {
    const record = await ownedChannel(ctx);
    const nodes = await elsewhere(record.id);
    await store.remove(record.id);
    live.disconnect(record.id, 4404, 'channel deleted');
    relay?.disconnect(record.id, nodes.keys(), 4404, 'channel deleted');
    log.info({ channel: record.id }, 'tunnel channel deleted');
    ctx.status = 204;
  });

  router.get('/ws/:channel', () => {
    throw new HttpError(426, 'this endpoint is a WebSocket: connect with an Upgrade: websocket request (hookah client does)', { upgrade: 'websocket' });
  });

  const record = (outcome: WebhookOutcome, startedAt: number) => {
    requests.inc({ outcome });
    duration.observe({ outcome }, (Date.now() - startedAt) / 1000);
  };
  router.all('/webhook/:channel{/*rest}', webhookHandler({ rt, live, replayer, ...(relay && { relay }), channel: activeChannel, record }));

  async function accept(req: IncomingMessage, socket: Duplex, head: Buffer, id: string): Promise<void> {
    const origin = clientOrigin(req, trustedProxies);
    const clientId = live.nextClientId();
    let registered = false;
    const unregister = () => {
      if (registered) cluster?.detach('tunnel', id, clientId).catch(() => undefined);
      registered = false;
    };
    try {
      if (closing || rt.shutdown.aborted) throw new HttpError(503, 'server is shutting down');
      await rt.auth.authorizeRequest?.(req, 'subscribe', `tunnel/${id}`);
      const record = await activeChannel(id);
      if (!record) throw new HttpError(404, 'no such tunnel channel');
      if (!tokenMatches(presentedToken(req), record.tokenHash)) throw new HttpError(401, 'the channel token is missing or wrong');
      live.checkRoom(id);
      if (cluster) {
        // tunnel.maxClientsPerChannel counts the clients on every node, atomically.
        registered = await cluster.attach({ kind: 'tunnel', channel: id, id: clientId, connectedAt: Date.now(), ...origin }, cfg.maxClientsPerChannel);
        if (!registered) throw live.full();
      }
      await store.touch(id);
    } catch (err) {
      unregister();
      if ((err as { status?: number }).status === undefined) log.error({ err }, 'tunnel upgrade failed');
      refuseUpgrade(socket, err);
      return;
    }
    if (socket.destroyed) return unregister();
    // A handshake that never completes must not leave the client registered.
    socket.once('close', unregister);
    wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('close', unregister);
      if (closing) {
        unregister();
        return ws.close(1001, 'server is shutting down');
      }
      // From here on the client's own close unregisters it (LiveChannels' onDetach).
      registered = false;
      const hello: HelloFrame = {
        type: 'hello',
        version: PROTOCOL_VERSION,
        channel: id,
        webhook_url: urls(id).webhook_url,
        keepalive_ms: cfg.keepAlive,
        mode: cfg.multiClient,
        max_body_bytes: cfg.maxBodyBytes,
      };
      live.attach(id, ws, JSON.stringify(hello), origin, clientId);
    });
  }

  const sweep = startExpirySweep({ kind: 'tunnel', store, cluster, ttlMs: cfg.channelTtl, log, connectedHere: () => live.connectedChannels() });

  return {
    name: 'tunnel',
    router,
    upgrade(req, socket, head) {
      const match = /^\/ws\/([^/?#]*)\/?(?:[?#]|$)/.exec(req.url ?? '');
      if (!match) return false;
      void accept(req, socket, head, match[1]!);
      return true;
    },
    close() {
      closing = true;
      clearInterval(sweep);
      clearInterval(recheck);
      relay?.close();
      replayer.close();
      live.closeAll('server is shutting down');
      wss.close();
    },
  };
}
