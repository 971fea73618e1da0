import type { Context } from 'koa';
import { readRawBody } from '../../http/body.ts';
import { HttpError } from '../../http/errors.ts';
import type { Runtime } from '../../runtime.ts';
import type { ClusterRelay } from './cluster-relay.ts';
import type { ExchangeSink } from './exchange.ts';
import type { LiveChannels, RemoteTarget } from './live-channels.ts';
import type { ChannelRecord, ForwardedRequest } from './ports.ts';
import { headersFromRaw, isHopByHop } from './protocol.ts';
import type { QueueReplayer } from './replay.ts';

export type WebhookOutcome = 'forwarded' | 'queued' | 'rejected' | 'failed';

export interface WebhookDeps {
  rt: Runtime;
  live: LiveChannels;
  replayer: QueueReplayer;
  /** In a cluster: reaches the clients held by other nodes. */
  relay?: ClusterRelay;
  /** The channel if it exists and has not expired. */
  channel(id: string): Promise<ChannelRecord | undefined>;
  record(outcome: WebhookOutcome, startedAt: number): void;
}

/**
 * `ANY /webhook/{channel}[/...]`: hands the request to a connected tunnel
 * client and relays its answer, or, with none connected (or older requests
 * still queued), stores it for replay and answers 202.
 */
export function webhookHandler(deps: WebhookDeps) {
  const { rt, live, replayer, relay: cluster } = deps;
  const cfg = rt.config.tunnel;
  return async (ctx: Context) => {
    const startedAt = Date.now();
    const id = String(ctx.params.channel);
    const channel = await deps.channel(id);
    if (!channel || channel.kind !== 'tunnel') throw new HttpError(404, 'no such tunnel channel');
    const topic = `tunnel/${id}`;
    await rt.auth.authorize(ctx, 'publish', topic);
    const body = await readRawBody(ctx, cfg.maxBodyBytes);
    await rt.auth.verifyInbound?.(ctx, topic, body);
    const request: ForwardedRequest = {
      method: ctx.method,
      path: ctx.path.replace(/^\/webhook\/[^/]+/, ''),
      query: ctx.querystring,
      headers: forwardedHeaders(ctx),
      body,
    };
    await rt.stores.channels.touch(id);

    try {
      const [stats, elsewhere] = await Promise.all([rt.stores.channels.queueStats(id), cluster ? cluster.locate(id) : new Map<string, number>()]);
      const backlog = replayer.busy(id) || stats.count > 0;
      const remote = cluster ? cluster.targets(id, elsewhere) : [];
      if ((live.clientCount(id) > 0 || remote.length > 0) && (!backlog || cfg.offline === 'reject')) {
        if (await relay(ctx, live, id, request, remote)) {
          deps.record('forwarded', startedAt);
          return;
        }
      }
      if (cfg.offline === 'reject') {
        throw new HttpError(503, 'no tunnel client is connected to this channel', { 'retry-after': '5' });
      }
      const queued = await rt.stores.channels.enqueue(id, request, cfg.queue);
      if ('full' in queued) throw new HttpError(503, queued.full, { 'retry-after': '30' });
      replayer.kick(id);
      // The queue is shared: a node holding a client replays it now, not at its next retry.
      cluster?.kick(id, elsewhere.keys());
      ctx.status = 202;
      ctx.set('X-Hookah-Message-Id', queued.id);
      ctx.body = { id: queued.id, status: 'queued', channel: id };
      deps.record('queued', startedAt);
    } catch (err) {
      deps.record(err instanceof HttpError && err.status === 503 ? 'rejected' : 'failed', startedAt);
      throw err;
    }
  };
}

/** The sender's headers minus hop-by-hop ones, plus the usual X-Forwarded-* when absent. */
function forwardedHeaders(ctx: Context) {
  const headers = headersFromRaw(ctx.req.rawHeaders);
  headers['x-forwarded-for'] ??= ctx.req.socket.remoteAddress ?? '';
  headers['x-forwarded-host'] ??= ctx.get('host');
  headers['x-forwarded-proto'] ??= ctx.protocol;
  return headers;
}

/**
 * Sends the request through the tunnel and streams the answer back to the
 * sender. Resolves false when no client could take it after all; rejects with
 * an HttpError (502 / 504 / 503) when it failed before any answer.
 */
function relay(ctx: Context, live: LiveChannels, channel: string, request: ForwardedRequest, remote: RemoteTarget[]): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const res = ctx.res;
    let started = false;
    let streaming = false;
    let ended = false;
    let held: Buffer[] = [];
    const sink: ExchangeSink = {
      head(status, headers) {
        started = true;
        ctx.respond = false;
        res.statusCode = status;
        for (const [name, value] of Object.entries(headers)) {
          if (isHopByHop(name) && !(name === 'content-length' && request.method === 'HEAD')) continue;
          try {
            res.setHeader(name, value);
          } catch {
            // A header Node refuses (bad characters) is dropped rather than failing the answer.
          }
        }
        // A whole answer arrives in one frame (head, data and end in one go), so
        // it is sent with a Content-Length; anything longer starts streaming here.
        queueMicrotask(() => {
          if (ended || res.destroyed) return;
          streaming = true;
          res.flushHeaders();
          for (const chunk of held) res.write(chunk);
          held = [];
        });
      },
      data(chunk) {
        if (res.destroyed) return;
        if (streaming) res.write(chunk);
        else held.push(chunk);
      },
      end() {
        ended = true;
        if (!res.destroyed) {
          if (streaming) res.end();
          else res.end(Buffer.concat(held));
        }
        resolve(true);
      },
      fail(status, reason, lost) {
        // No client saw it (the node holding them went away): queue it, or refuse as offline.
        if (!started && lost) return resolve(false);
        if (!started) return reject(new HttpError(status, reason));
        res.destroy();
        resolve(true);
      },
    };
    let exchange;
    try {
      exchange = live.forward(channel, request, sink, undefined, remote);
    } catch (err) {
      reject(err);
      return;
    }
    if (!exchange) return resolve(false);
    res.once('close', () => {
      if (exchange.done) return;
      exchange.cancel('the webhook sender disconnected');
      ctx.respond = false;
      resolve(true);
    });
  });
}
