export { formatBytes as bytes, formatUptime as uptime } from '../../src/text/format.ts';
/** Small display helpers; all times are shown in the browser's locale and zone. */

export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((t - now) / 1000);
  const abs = Math.abs(s);
  const [n, unit] =
    abs < 60 ? [abs, 's'] : abs < 3600 ? [Math.round(abs / 60), 'min'] : abs < 86400 ? [Math.round(abs / 3600), 'h'] : [Math.round(abs / 86400), 'd'];
  if (abs < 2) return 'now';
  return s < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

export function clockTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleTimeString(undefined, { hour12: false }) + `.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { hour12: false });
}


export function rate(perSecond: number): string {
  if (perSecond === 0) return '0';
  if (perSecond < 0.1) return `${(perSecond * 60).toFixed(1)}/min`;
  return `${perSecond < 10 ? perSecond.toFixed(2) : Math.round(perSecond)}/s`;
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}


/** A message body for one glance: compact JSON or text, cut to `max` characters. */
export function excerpt(data: unknown, encoding: string | undefined, max = 400): string {
  let s: string;
  if (encoding === 'base64') s = `<binary, base64> ${String(data)}`;
  else if (typeof data === 'string') s = data;
  else s = JSON.stringify(data);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** A length of time in its largest sensible units: "10 d", "6 h 30 min", "45 s". */
export function span(seconds: number): string {
  if (seconds >= 86400) {
    const d = Math.floor(seconds / 86400);
    const h = Math.round((seconds % 86400) / 3600);
    return h ? `${d} d ${h} h` : `${d} d`;
  }
  if (seconds >= 3600) {
    const h = Math.floor(seconds / 3600);
    const m = Math.round((seconds % 3600) / 60);
    return m ? `${h} h ${m} min` : `${h} h`;
  }
  if (seconds >= 60) return `${Math.round(seconds / 60)} min`;
  return `${seconds} s`;
}
