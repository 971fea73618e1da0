import type Router from '@koa/router';
import { limitParam } from '../../http/query.ts';
import type { TunnelChannelListJson } from '../../openapi/schemas.ts';
import type { Runtime } from '../../runtime.ts';
import type { ChannelSummary, TunnelClientInfo } from './ports.ts';

export const DEFAULT_CHANNEL_LIST = 200;
export const MAX_CHANNEL_LIST = 2000;
/** Channel records read at once for the connected channels (they may be many). */
const READ_BATCH = 100;

const iso = (ms: number) => new Date(ms).toISOString();

export interface TunnelAdminDeps {
  rt: Runtime;
  /** Every connected tunnel client (on every node of a cluster). */
  clients(): Promise<TunnelClientInfo[]>;
}

/**
 * `GET /admin/tunnel/channels`: the tunnel channels with their connected
 * clients, for operators and the dashboard. Channels with clients come first
 * (whether or not they were used lately), then the most recently used.
 */
export function mountTunnelAdmin(router: Router, deps: TunnelAdminDeps): void {
  const { rt } = deps;
  const cfg = rt.config.tunnel;
  const store = rt.stores.channels;

  async function summary(id: string): Promise<ChannelSummary | undefined> {
    const [record, queue] = await Promise.all([store.get(id), store.queueStats(id)]);
    return record && record.kind === 'tunnel' ? { ...record, queued: queue.count, queuedBytes: queue.bytes } : undefined;
  }

  router.get('/admin/tunnel/channels', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin', 'tunnel');
    const limit = limitParam(ctx.query.limit, DEFAULT_CHANNEL_LIST, MAX_CHANNEL_LIST);

    const [clients, page] = await Promise.all([deps.clients(), store.list('tunnel', limit)]);
    const byChannel = new Map<string, TunnelClientInfo[]>();
    for (const c of clients) {
      const list = byChannel.get(c.channel);
      if (list) list.push(c);
      else byChannel.set(c.channel, [c]);
    }
    const listed = new Map(page.channels.map((c) => [c.id, c]));
    const connected: ChannelSummary[] = [];
    const ids = [...byChannel.keys()];
    for (let i = 0; i < ids.length; i += READ_BATCH) {
      const batch = await Promise.all(ids.slice(i, i + READ_BATCH).map((id) => listed.get(id) ?? summary(id)));
      // A client may outlive its channel by a moment (deleted, closing): it is not listed.
      for (const s of batch) if (s) connected.push(s);
    }
    const byRecentUse = (a: ChannelSummary, b: ChannelSummary) => b.lastUsedAt - a.lastUsedAt || a.id.localeCompare(b.id);
    connected.sort(byRecentUse);
    const rows = [...connected, ...page.channels.filter((c) => !byChannel.has(c.id))].slice(0, limit);

    const body: TunnelChannelListJson = {
      channels: rows.map((c) => {
        const attached = (byChannel.get(c.id) ?? []).sort((a, b) => a.connectedAt - b.connectedAt || a.id.localeCompare(b.id));
        return {
          channel: c.id,
          created_at: iso(c.createdAt),
          last_used_at: iso(c.lastUsedAt),
          expires_at: attached.length > 0 ? null : iso(c.lastUsedAt + cfg.channelTtl),
          queued: c.queued,
          queued_bytes: c.queuedBytes,
          clients: attached.map((k) => ({
            id: k.id,
            node: k.node,
            connected_at: iso(k.connectedAt),
            remote_address: k.remoteAddress,
            user_agent: k.userAgent,
            in_flight: k.inFlight,
          })),
        };
      }),
      total: Math.max(page.total, rows.length),
      truncated: false,
      mode: cfg.multiClient,
    };
    body.truncated = body.total > rows.length;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  });
}
