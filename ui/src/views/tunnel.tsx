import { api, ApiError, type TunnelChannelJson, type TunnelChannelListJson } from '../api.ts';
import { Empty, ErrorNote } from '../components.tsx';
import { bytes, dateTime, relativeTime } from '../format.ts';
import { useNow, usePolling } from '../hooks.ts';

/** As often as the overview: a client that connects or drops should show within a couple of seconds. */
const POLL_MS = 2000;

const MODE_HINT: Record<TunnelChannelListJson['mode'], string> = {
  balance: 'a channel with several clients gives each request to one of them, in turn',
  broadcast: 'a channel with several clients sends each request to all of them; the first answer wins',
};

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * 404 (a server older than this listing) is a fact about the server, not a
 * failure: say so plainly instead of raising an alarm.
 */
function Unavailable(props: { error: Error | undefined; stale: boolean }) {
  const { error } = props;
  if (error instanceof ApiError && error.status === 404) {
    return (
      <div class="info-note" role="status" data-testid="tunnel-error" data-status={error.status}>
        This server does not list tunnel channels (GET /admin/tunnel/channels answered 404); it may be an older version.
      </div>
    );
  }
  return <ErrorNote error={error} what={props.stale ? 'the latest tunnel channels (showing the previous ones)' : 'tunnel channels'} testId="tunnel-error" />;
}

function Expiry(props: { channel: TunnelChannelJson; now: number }) {
  const { channel } = props;
  if (channel.clients.length > 0) return <span class="good-text">connected — never expires</span>;
  if (!channel.expires_at) return <span class="muted">never</span>;
  return <span title={dateTime(channel.expires_at)}>{relativeTime(channel.expires_at, props.now)}</span>;
}

function ChannelRows(props: { channel: TunnelChannelJson; now: number }) {
  const { channel: ch, now } = props;
  const live = ch.clients.length > 0;
  return (
    <tbody data-channel={ch.channel} data-clients={ch.clients.length}>
      <tr class={live ? 'has-clients' : ''}>
        <td class="mono">{ch.channel}</td>
        <td data-testid="client-count">{live ? <span class="badge good plain">{ch.clients.length} connected</span> : <span class="muted">none</span>}</td>
        <td class={`num ${ch.queued > 0 ? 'warn-text' : ''}`} title={`${ch.queued} requests, ${ch.queued_bytes} bytes`} data-testid="queued">
          {ch.queued} · {bytes(ch.queued_bytes)}
        </td>
        <td title={dateTime(ch.last_used_at)}>{relativeTime(ch.last_used_at, now)}</td>
        <td data-testid="expiry">
          <Expiry channel={ch} now={now} />
        </td>
        <td title={dateTime(ch.created_at)}>{relativeTime(ch.created_at, now)}</td>
      </tr>
      {live && (
        <tr class="clients-row">
          <td colSpan={6}>
            <table class="grid inner">
              <thead>
                <tr>
                  <th>Client</th>
                  <th>Node</th>
                  <th>Remote address</th>
                  <th>User agent</th>
                  <th>Connected</th>
                  <th class="num">In flight</th>
                </tr>
              </thead>
              <tbody>
                {ch.clients.map((c) => (
                  // Client ids count per node, so the node is part of the key.
                  <tr key={`${c.node ?? ''}/${c.id}`} class="arrive" data-client={c.id}>
                    <td class="mono">{c.id}</td>
                    <td class="mono">{c.node ?? <span class="muted">—</span>}</td>
                    <td class="mono">{c.remote_address}</td>
                    <td class="ua" title={c.user_agent ?? ''}>
                      {c.user_agent ?? <span class="muted">not sent</span>}
                    </td>
                    <td title={dateTime(c.connected_at)}>{relativeTime(c.connected_at, now)}</td>
                    <td class={`num ${c.in_flight > 0 ? 'info-text' : ''}`}>{c.in_flight}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </td>
        </tr>
      )}
    </tbody>
  );
}

export function TunnelView() {
  const now = useNow();
  const list = usePolling(api.tunnelChannels, POLL_MS);
  const data = list.data;
  // In the server's order: channels with clients first, then the most recently used.
  const channels = data?.channels ?? [];
  const inUse = channels.filter((c) => c.clients.length > 0);
  const clients = inUse.reduce((n, c) => n + c.clients.length, 0);

  return (
    <section class="panel">
      <header class="panel-head">
        <h2>Tunnel channels</h2>
        {data && (
          <span class="muted" data-testid="tunnel-summary">
            {plural(data.total, 'channel')} · {inUse.length} with clients · {plural(clients, 'client')} connected
            {data.truncated ? ` · ${data.channels.length} shown` : ''}
          </span>
        )}
        {data && (
          <span class="tail-state" title={MODE_HINT[data.mode]} data-testid="tunnel-mode">
            mode <span class="badge info plain">{data.mode}</span>
          </span>
        )}
      </header>
      <Unavailable error={list.error} stale={data !== undefined} />
      {!data && !list.error && <Empty>Loading…</Empty>}
      {data && channels.length === 0 && (
        <Empty>
          No tunnel channels. <code>hookah client --server-url … --target-url http://localhost:3000</code> creates one, or <code>GET /new</code>.
        </Empty>
      )}
      {channels.length > 0 && (
        <table class="grid channels" data-testid="tunnel-table">
          <thead>
            <tr>
              <th>Channel</th>
              <th>Clients</th>
              <th class="num">Queued</th>
              <th>Last used</th>
              <th>Expires</th>
              <th>Created</th>
            </tr>
          </thead>
          {channels.map((c) => (
            <ChannelRows key={c.channel} channel={c} now={now} />
          ))}
        </table>
      )}
      {data?.truncated && (
        <p class="hint">
          Showing {data.channels.length} of {data.total} channels.
        </p>
      )}
      {data && <p class="hint">Mode {data.mode}: {MODE_HINT[data.mode]} (tunnel.multiClient). Queued requests wait for a client to connect; a channel unused for tunnel.channelTtl is deleted.</p>}
    </section>
  );
}
