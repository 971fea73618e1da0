import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  /** Fetch now instead of waiting for the next tick. */
  refresh: () => void;
}

/**
 * Calls `load` now and every `intervalMs` while the tab is visible, never
 * two at a time. A change of `key` starts over (and drops the old data).
 */
export function usePolling<T>(load: () => Promise<T>, intervalMs: number, key = ''): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  const tick = useRef<() => void>(() => {});

  useEffect(() => {
    let stopped = false;
    let running = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setData(undefined);
    setError(undefined);
    const run = async () => {
      clearTimeout(timer);
      if (stopped || running) return;
      running = true;
      try {
        const value = await loadRef.current();
        if (!stopped) {
          setData(value);
          setError(undefined);
        }
      } catch (err) {
        if (!stopped) setError(err as Error);
      } finally {
        running = false;
        if (!stopped && document.visibilityState === 'visible') timer = setTimeout(run, intervalMs);
      }
    };
    const onVisible = () => {
      if (document.visibilityState === 'visible') void run();
    };
    tick.current = () => void run();
    document.addEventListener('visibilitychange', onVisible);
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [intervalMs, key]);

  const refresh = useCallback(() => tick.current(), []);
  return { data, error, refresh };
}

export interface Route {
  view: string;
  params: URLSearchParams;
}

function parseHash(): Route {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [view = '', query = ''] = hash.split('?', 2);
  return { view: view || 'overview', params: new URLSearchParams(query) };
}

/** Views live in the URL fragment (#/tail?topic=…), so reloads and links keep them. */
export function useRoute(): Route {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const onChange = () => setRoute(parseHash());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function href(view: string, params: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return `#/${view}${s ? `?${s}` : ''}`;
}

export function navigate(view: string, params: Record<string, string | undefined> = {}): void {
  window.location.hash = href(view, params);
}

/** Re-renders every `ms` so relative times ("3 s ago") stay true. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
