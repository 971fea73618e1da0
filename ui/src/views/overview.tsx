import type { OverviewJson } from '../api.ts';
import { Card, Empty, ErrorNote, Sparkline, Stat, Subscribers } from '../components.tsx';
import { bytes, rate, relativeTime, uptime } from '../format.ts';
import { href, useNow } from '../hooks.ts';

export function OverviewView(props: { data: OverviewJson | undefined; error: Error | undefined; history: Map<string, number[]> }) {
  const now = useNow();
  const { data } = props;
  if (!data) return props.error ? <ErrorNote error={props.error} what="the overview" /> : <Empty>Loading…</Empty>;
  const q = data.deliveries;
  const nullable = (n: number | null) => (n === null ? '—' : n);
  return (
    <div class="stack">
      <ErrorNote error={props.error} what="the latest overview (showing the previous one)" />
      <div class="cards">
        <Card title="Delivery queue" testId="queue-card">
          <div class="stats">
            <Stat label="pending" value={q.pending} tone={q.pending > 0 ? 'warn' : undefined} />
            <Stat label="in flight" value={q.in_flight} tone="info" />
            <Stat label="failed" value={<a href={href('deliveries', { status: 'failed' })}>{q.failed}</a>} tone={q.failed > 0 ? 'bad' : undefined} testId="failed-count" />
            <Stat label="delivered" value={q.delivered} tone="good" />
          </div>
        </Card>
        <Card title="Subscribers" testId="subscribers-card">
          <Subscribers counts={data.subscribers} hideInternal />
          <p class="hint">Live connections on this node, plus WebSub subscriptions with a running lease.</p>
        </Card>
        <Card title="Tunnel and gateway" testId="tunnel-card">
          <div class="stats">
            <Stat label="channels stored" value={nullable(data.tunnel.channels)} />
            <Stat label="clients connected" value={<a href={href('tunnel')}>{nullable(data.tunnel.clients)}</a>} tone={data.tunnel.clients ? 'good' : undefined} />
            <Stat label="gateway connections" value={nullable(data.tunnel.gateway_connections)} />
          </div>
          <p class="hint">
            <a href={href('tunnel')}>Channels and their clients</a>
          </p>
        </Card>
        <Card title="Server" testId="server-card">
          <dl class="facts">
            <dt>version</dt>
            <dd>{data.server.version}</dd>
            <dt>storage</dt>
            <dd>{data.server.storage}</dd>
            <dt>up for</dt>
            <dd>{uptime(data.server.uptime_seconds)}</dd>
            <dt>access control</dt>
            <dd>{data.server.auth_enabled ? 'on' : 'off (open server)'}</dd>
            <dt>WebSub</dt>
            <dd>
              <a href={href('websub')}>{nullable(data.websub.active_subscriptions)} active subscriptions</a>
            </dd>
          </dl>
        </Card>
      </div>

      <section class="panel">
        <header class="panel-head">
          <h2>Topics</h2>
          <span class="muted">
            {data.topics_total} topic{data.topics_total === 1 ? '' : 's'}
            {data.topics_truncated ? `, the ${data.topics.length} most active shown` : ''} · rates count messages published on this node
          </span>
        </header>
        {data.topics.length === 0 ? (
          <Empty>No topics yet. Publish with POST /dispatch?_topic=… or /hook/&lt;topic&gt;.</Empty>
        ) : (
          <table class="grid" data-testid="topics-table">
            <thead>
              <tr>
                <th>Topic</th>
                <th class="num">Rate (1 min)</th>
                <th />
                <th class="num">Rate (5 min)</th>
                <th class="num">Published</th>
                <th class="num">Backlog</th>
                <th>Last message</th>
                <th>Subscribers</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.topics.map((t) => (
                <tr key={t.topic} data-topic={t.topic}>
                  <td class="mono">{t.topic}</td>
                  <td class="num">{rate(t.rate_1m)}</td>
                  <td>
                    <Sparkline values={props.history.get(t.topic) ?? []} />
                  </td>
                  <td class="num">{rate(t.rate_5m)}</td>
                  <td class="num">{t.published}</td>
                  <td class="num" title={`${t.count} messages, ${t.bytes} bytes`}>
                    {t.count} · {bytes(t.bytes)}
                  </td>
                  <td title={t.last_at ?? ''}>{relativeTime(t.last_at, now)}</td>
                  <td>
                    <Subscribers counts={t.subscribers} hideInternal />
                  </td>
                  <td>
                    <a class="button small" href={href('tail', { topic: t.topic })}>
                      Tail
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
