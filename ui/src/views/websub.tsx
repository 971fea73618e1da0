import { useState } from 'preact/hooks';
import { api, type HubSubscriptionJson } from '../api.ts';
import { Badge, Empty, ErrorNote } from '../components.tsx';
import { dateTime, relativeTime, span } from '../format.ts';
import { navigate, useNow, usePolling, type Route } from '../hooks.ts';

/** A lease ending within a day is worth a warning: the subscriber must renew it. */
const EXPIRING_MS = 24 * 3600 * 1000;

function leaseState(sub: HubSubscriptionJson, now: number): 'active' | 'expiring' | 'expired' {
  const ends = Date.parse(sub.expires_at);
  if (sub.expired || ends <= now) return 'expired';
  return ends - now < EXPIRING_MS ? 'expiring' : 'active';
}

export function WebSubView(props: { route: Route }) {
  const topic = props.route.params.get('topic') ?? '';
  const [draft, setDraft] = useState(topic);
  const now = useNow();
  const subs = usePolling(() => api.subscriptions({ topic }), 5000, topic);
  const [ending, setEnding] = useState<string | undefined>();

  const end = async (sub: HubSubscriptionJson) => {
    if (!window.confirm(`End the subscription of ${sub.callback} to ${sub.topic} now? No notice is sent to the subscriber.`)) return;
    setEnding(sub.id);
    try {
      await api.endSubscription(sub.id);
    } finally {
      setEnding(undefined);
      subs.refresh();
    }
  };

  return (
    <section class="panel">
      <header class="panel-head">
        <h2>WebSub subscriptions</h2>
        <form
          class="toolbar"
          onSubmit={(e) => {
            e.preventDefault();
            navigate('websub', { topic: draft.trim() });
          }}
        >
          <input placeholder="filter by exact topic" value={draft} onInput={(e) => setDraft((e.target as HTMLInputElement).value)} aria-label="Topic" />
          <button class="button" type="submit">
            Filter
          </button>
        </form>
      </header>
      <ErrorNote error={subs.error} what="subscriptions" />
      {subs.data && subs.data.subscriptions.length === 0 && <Empty>No subscriptions{topic ? ` to ${topic}` : ''}.</Empty>}
      {subs.data && subs.data.subscriptions.length > 0 && (
        <table class="grid" data-testid="websub-table">
          <thead>
            <tr>
              <th>Lease</th>
              <th>Topic</th>
              <th>Callback</th>
              <th>Expires</th>
              <th class="num">Lease length</th>
              <th>Verified</th>
              <th>Secret</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {subs.data.subscriptions.map((s) => {
              const state = leaseState(s, now);
              return (
                <tr key={s.id} data-id={s.id}>
                  <td>
                    <Badge status={state} />
                  </td>
                  <td class="mono">{s.topic}</td>
                  <td class="mono url" title={s.callback}>
                    {s.callback}
                  </td>
                  <td title={dateTime(s.expires_at)}>{relativeTime(s.expires_at, now)}</td>
                  <td class="num">{span(s.lease_seconds)}</td>
                  <td title={dateTime(s.verified_at)}>{relativeTime(s.verified_at, now)}</td>
                  <td>{s.has_secret ? 'yes' : 'no'}</td>
                  <td>
                    <button class="button small danger" disabled={ending === s.id} onClick={() => void end(s)}>
                      End
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {subs.data?.next_after && <p class="hint">Showing the first 200; filter by topic to see others.</p>}
    </section>
  );
}
