import { useEffect, useRef } from 'preact/hooks';
import { api, type OverviewJson } from './api.ts';
import { ErrorNote } from './components.tsx';
import { href, usePolling, useRoute } from './hooks.ts';
import { DeliveriesView } from './views/deliveries.tsx';
import { OverviewView } from './views/overview.tsx';
import { TailView } from './views/tail.tsx';
import { TunnelView } from './views/tunnel.tsx';
import { WebSubView } from './views/websub.tsx';

const TABS = [
  { view: 'overview', label: 'Overview' },
  { view: 'tail', label: 'Live tail' },
  { view: 'deliveries', label: 'Deliveries' },
  { view: 'websub', label: 'WebSub' },
  { view: 'tunnel', label: 'Tunnel' },
];

/** Samples of each topic's 1-minute rate kept for the sparklines (one per overview poll). */
const HISTORY = 60;

function useRateHistory(data: OverviewJson | undefined): Map<string, number[]> {
  const history = useRef(new Map<string, number[]>());
  const seen = useRef('');
  if (data && data.generated_at !== seen.current) {
    seen.current = data.generated_at;
    const next = new Map<string, number[]>();
    for (const t of data.topics) next.set(t.topic, [...(history.current.get(t.topic) ?? []), t.rate_1m].slice(-HISTORY));
    history.current = next;
  }
  return history.current;
}

export function App() {
  const route = useRoute();
  const overview = usePolling(api.overview, 2000);
  const history = useRateHistory(overview.data);
  const data = overview.data;

  useEffect(() => {
    const tab = TABS.find((t) => t.view === route.view);
    document.title = `${tab ? `${tab.label} · ` : ''}Hookah`;
  }, [route.view]);

  let view;
  switch (route.view) {
    case 'tail':
      view = <TailView route={route} suggestions={data?.topics.map((t) => t.topic) ?? []} />;
      break;
    case 'deliveries':
      view = <DeliveriesView route={route} overview={data} />;
      break;
    case 'websub':
      view = <WebSubView route={route} />;
      break;
    case 'tunnel':
      view = <TunnelView />;
      break;
    default:
      view = <OverviewView data={data} error={overview.error} history={history} />;
  }

  return (
    <>
      <header class="top">
        <a class="brand" href={href('overview')}>
          <span class="logo" aria-hidden="true">
            ⌁
          </span>{' '}
          Hookah
        </a>
        <nav>
          {TABS.map((t) => (
            <a key={t.view} href={href(t.view)} class={route.view === t.view || (t.view === 'overview' && !TABS.some((x) => x.view === route.view)) ? 'active' : ''}>
              {t.label}
              {t.view === 'deliveries' && data && data.deliveries.failed > 0 && <b class="count bad">{data.deliveries.failed}</b>}
              {t.view === 'tunnel' && data && (data.tunnel.clients ?? 0) > 0 && (
                <b class="count live" title="tunnel clients connected to this node">
                  {data.tunnel.clients}
                </b>
              )}
            </a>
          ))}
        </nav>
        <div class="server" data-testid="server-info">
          {data ? (
            <>
              <span class={`dot ${overview.error ? 'bad' : 'good'}`} title={overview.error ? overview.error.message : 'connected'} />
              v{data.server.version} · {data.server.storage} · {data.server.public_url.replace(/^https?:\/\//, "")}
            </>
          ) : (
            'connecting…'
          )}
        </div>
      </header>
      <main>
        {route.view !== 'overview' && <ErrorNote error={overview.error} what="the overview" />}
        {view}
      </main>
    </>
  );
}
