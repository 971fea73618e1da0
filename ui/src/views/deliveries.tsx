import { useEffect, useState } from 'preact/hooks';
import { api, type MessageJson, type OverviewJson } from '../api.ts';
import { Badge, Empty, ErrorNote } from '../components.tsx';
import { dateTime, duration, relativeTime } from '../format.ts';
import { href, navigate, useNow, usePolling, type Route } from '../hooks.ts';

const STATUSES = ['', 'failed', 'pending', 'in_flight', 'delivered'];
const KINDS = ['', 'dispatch', 'websub', 'errback', 'callback', 'tunnel', 'gateway'];
const PAGE = 50;
const MAX_LIMIT = 500;

export function DeliveriesView(props: { route: Route; overview: OverviewJson | undefined }) {
  const { params } = props.route;
  const status = params.get('status') ?? '';
  const kind = params.get('kind') ?? '';
  const selected = params.get('id') ?? '';
  const [limit, setLimit] = useState(PAGE);
  const now = useNow();
  const list = usePolling(() => api.messages({ status, kind, limit: String(limit) }), 2000, `${status}|${kind}|${limit}`);
  const go = (next: Record<string, string | undefined>) => navigate('deliveries', { status, kind, id: selected, ...next });
  const counts = props.overview?.deliveries;

  return (
    <div class="split">
      <section class="panel">
        <header class="panel-head">
          <h2>Deliveries</h2>
          <div class="filters" role="group" aria-label="Status">
            {STATUSES.map((s) => (
              <a key={s} class={`button small ${s === status ? 'active' : ''}`} href={href('deliveries', { status: s, kind, id: selected })} data-status={s || 'all'}>
                {s ? s.replace('_', ' ') : 'all'}
                {counts && s && <b class="count">{counts[s as keyof typeof counts]}</b>}
              </a>
            ))}
          </div>
          <select aria-label="Kind" value={kind} onChange={(e) => go({ kind: (e.target as HTMLSelectElement).value })}>
            {KINDS.map((k) => (
              <option value={k} key={k}>
                {k || 'every kind'}
              </option>
            ))}
          </select>
        </header>
        <ErrorNote error={list.error} what="deliveries" />
        {list.data && list.data.messages.length === 0 && <Empty>No {status ? status.replace('_', ' ') : ''} deliveries.</Empty>}
        {list.data && list.data.messages.length > 0 && (
          <table class="grid clickable" data-testid="messages-table">
            <thead>
              <tr>
                <th>Status</th>
                <th>Destination</th>
                <th>Kind</th>
                <th class="num">Attempts</th>
                <th>Last error</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.messages.map((m) => (
                <tr
                  key={m.id}
                  data-id={m.id}
                  class={m.id === selected ? 'selected' : ''}
                  onClick={() => go({ id: m.id })}
                  tabIndex={0}
                  onKeyDown={(e) => e.key === 'Enter' && go({ id: m.id })}
                >
                  <td>
                    <Badge status={m.status} />
                  </td>
                  <td class="mono url" title={m.url}>
                    <span class="method">{m.method}</span> {m.url}
                  </td>
                  <td>{m.kind}</td>
                  <td class="num">
                    {m.attempt_count}/{m.max_attempts}
                  </td>
                  <td class="error-text" title={m.last_error ?? ''}>
                    {m.last_error ?? ''}
                  </td>
                  <td title={m.created_at}>{relativeTime(m.created_at, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {list.data?.next && limit < MAX_LIMIT && (
          <button class="button" onClick={() => setLimit(Math.min(limit + PAGE, MAX_LIMIT))}>
            Show more
          </button>
        )}
      </section>
      {selected && <MessageDetail id={selected} onClose={() => go({ id: undefined })} onChange={list.refresh} />}
    </div>
  );
}

function MessageDetail(props: { id: string; onClose: () => void; onChange: () => void }) {
  const detail = usePolling(() => api.message(props.id), 1000, props.id);
  const [resend, setResend] = useState<{ state: 'idle' | 'sending' | 'sent' | 'error'; note?: string }>({ state: 'idle' });
  const m = detail.data;
  // The list beside it shows the same message: keep it in step.
  useEffect(() => props.onChange(), [m?.status, m?.attempt_count]);

  const onResend = async (msg: MessageJson) => {
    setResend({ state: 'sending' });
    try {
      await api.retry(msg.id);
      setResend({ state: 'sent', note: `Attempt ${msg.attempt_count + 1} queued.` });
    } catch (err) {
      setResend({ state: 'error', note: (err as Error).message });
    }
    detail.refresh();
  };

  return (
    <section class="panel detail" data-testid="message-detail" data-id={props.id}>
      <header class="panel-head">
        <h2 class="mono">{props.id}</h2>
        <button class="button small" onClick={props.onClose} aria-label="Close">
          ✕
        </button>
      </header>
      <ErrorNote error={detail.error} what="the message" />
      {m && (
        <>
          <div class="toolbar">
            <span data-testid="message-status">
              <Badge status={m.status} />
            </span>
            <button
              class="button primary"
              data-testid="resend"
              disabled={m.status === 'delivered' || resend.state === 'sending'}
              title={m.status === 'delivered' ? 'Already delivered' : 'Attempt the delivery again now'}
              onClick={() => void onResend(m)}
            >
              {resend.state === 'sending' ? 'Resending…' : 'Resend'}
            </button>
            {resend.note && <span class={resend.state === 'error' ? 'error-text' : 'muted'}>{resend.note}</span>}
          </div>
          <dl class="facts">
            <dt>destination</dt>
            <dd class="mono">
              {m.method} {m.url}
            </dd>
            <dt>kind</dt>
            <dd>{m.kind}</dd>
            <dt>attempts</dt>
            <dd>
              {m.attempt_count} of {m.max_attempts} (timeout {duration(m.timeout_ms)})
            </dd>
            <dt>created</dt>
            <dd>{dateTime(m.created_at)}</dd>
            {m.next_attempt_at && (
              <>
                <dt>next attempt</dt>
                <dd>{dateTime(m.next_attempt_at)}</dd>
              </>
            )}
            {m.delivered_at && (
              <>
                <dt>delivered</dt>
                <dd>{dateTime(m.delivered_at)}</dd>
              </>
            )}
            {m.last_error && (
              <>
                <dt>last error</dt>
                <dd class="error-text">{m.last_error}</dd>
              </>
            )}
            {m.topic && (
              <>
                <dt>topic</dt>
                <dd class="mono">
                  {m.topic}
                  {m.event_id ? ` #${m.event_id}` : ''}
                </dd>
              </>
            )}
            {m.ref && (
              <>
                <dt>ref</dt>
                <dd class="mono">{m.ref}</dd>
              </>
            )}
            {m.errback && (
              <>
                <dt>errback</dt>
                <dd class="mono">{m.errback}</dd>
              </>
            )}
            {m.callback && (
              <>
                <dt>callback</dt>
                <dd class="mono">{m.callback}</dd>
              </>
            )}
          </dl>
          <h3>Attempts</h3>
          {m.attempts.length === 0 ? (
            <Empty>No attempt yet.</Empty>
          ) : (
            <table class="grid attempts" data-testid="attempts-table">
              <thead>
                <tr>
                  <th class="num">#</th>
                  <th>Started</th>
                  <th class="num">Duration</th>
                  <th>Status</th>
                  <th>Response</th>
                </tr>
              </thead>
              <tbody>
                {[...m.attempts].reverse().map((a) => (
                  <tr key={a.n} data-attempt={a.n}>
                    <td class="num">{a.n}</td>
                    <td>{dateTime(a.started_at)}</td>
                    <td class="num">{duration(a.duration_ms)}</td>
                    <td data-testid="attempt-status">
                      {a.status !== null ? (
                        <Badge status={a.status >= 200 && a.status < 300 ? 'delivered' : 'failed'} label={String(a.status)} />
                      ) : (
                        <Badge status="failed" label="no response" />
                      )}
                    </td>
                    <td>
                      {a.error && <div class="error-text">{a.error}</div>}
                      {a.response_excerpt ? <pre class="excerpt">{a.response_excerpt}</pre> : !a.error && <span class="muted">empty</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
