/**
 * When to try again. `schedule[i]` is the delay before attempt i+1, so
 * schedule[0] is the first attempt's delay (normally 0); attempts past the end
 * reuse the last delay.
 */
export function retryDelay(schedule: number[], attemptsMade: number, jitter: number, random = Math.random): number {
  const base = schedule[Math.min(attemptsMade, schedule.length - 1)] ?? 0;
  if (jitter === 0 || base === 0) return base;
  return Math.max(0, Math.round(base * (1 + jitter * (random() * 2 - 1))));
}

/** Parses a Retry-After header (seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
