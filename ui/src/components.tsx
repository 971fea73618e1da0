import type { ComponentChildren } from 'preact';
import { ApiError } from './api.ts';

export function Card(props: { title: string; children: ComponentChildren; testId?: string }) {
  return (
    <section class="card" data-testid={props.testId}>
      <h3>{props.title}</h3>
      {props.children}
    </section>
  );
}

export function Stat(props: { label: string; value: ComponentChildren; tone?: 'bad' | 'warn' | 'good' | 'info'; testId?: string }) {
  return (
    <div class={`stat ${props.tone ?? ''}`} data-testid={props.testId}>
      <span class="value">{props.value}</span>
      <span class="label">{props.label}</span>
    </div>
  );
}

const STATUS_TONE: Record<string, string> = {
  delivered: 'good',
  failed: 'bad',
  pending: 'warn',
  in_flight: 'info',
  active: 'good',
  expired: 'bad',
  expiring: 'warn',
  live: 'good',
  connecting: 'info',
  retrying: 'warn',
  stopped: 'muted',
};

export function Badge(props: { status: string; label?: string }) {
  return <span class={`badge ${STATUS_TONE[props.status] ?? 'muted'}`}>{props.label ?? props.status.replace('_', ' ')}</span>;
}

/** Subscriber counts by kind, as small labelled chips; nothing for none. */
export function Subscribers(props: { counts: Record<string, number>; hideInternal?: boolean }) {
  const entries = Object.entries(props.counts)
    .filter(([kind, n]) => n > 0 && !(props.hideInternal && kind === 'internal'))
    .sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <span class="muted">none</span>;
  return (
    <span class="chips">
      {entries.map(([kind, n]) => (
        <span class={`chip kind-${kind}`} key={kind} title={`${n} ${kind} subscriber${n === 1 ? '' : 's'}`}>
          {kind} <b>{n}</b>
        </span>
      ))}
    </span>
  );
}

/** A tiny line chart of recent values (no axes: the number next to it says how much). */
export function Sparkline(props: { values: number[]; width?: number; height?: number }) {
  const w = props.width ?? 90;
  const h = props.height ?? 22;
  const values = props.values;
  if (values.length < 2) return <svg class="spark" width={w} height={h} aria-hidden="true" />;
  const max = Math.max(...values, 1e-9);
  const step = w / (values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`).join(' ');
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} aria-hidden="true">
      <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}

export function ErrorNote(props: { error: Error | undefined; what: string; testId?: string }) {
  if (!props.error) return null;
  const auth = props.error instanceof ApiError && (props.error.status === 401 || props.error.status === 403);
  return (
    <div class="error-note" role="alert" data-testid={props.testId} data-status={props.error instanceof ApiError ? props.error.status : undefined}>
      Could not load {props.what}: {props.error.message}
      {auth && ' — this needs an admin user; reload the page to sign in again.'}
    </div>
  );
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}
