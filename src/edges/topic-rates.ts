/**
 * Publish rates per topic for the dashboard, as exponentially weighted moving
 * averages (like the Unix load average): O(1) memory and work per topic, no
 * buckets to rotate. Counts only what this node published.
 */

const WINDOWS_MS = { m1: 60_000, m5: 300_000 } as const;

interface TopicRate {
  total: number;
  /** When the averages below were last decayed. */
  at: number;
  m1: number;
  m5: number;
}

export interface RateView {
  /** Messages published on this node since it started (while tracked). */
  total: number;
  /** Messages per second, averaged over about the last minute / five minutes. */
  perSecond1m: number;
  perSecond5m: number;
}

export class TopicRates {
  readonly #topics = new Map<string, TopicRate>();
  readonly #max: number;

  /** Beyond `maxTopics` the least recently published topic is forgotten, so memory stays bounded. */
  constructor(maxTopics = 10_000) {
    this.#max = maxTopics;
  }

  record(topic: string, now = Date.now()): void {
    let r = this.#topics.get(topic);
    if (r) {
      decay(r, now);
      // Re-inserted so that Map order is least recently published first.
      this.#topics.delete(topic);
    } else {
      r = { total: 0, at: now, m1: 0, m5: 0 };
      if (this.#topics.size >= this.#max) this.#topics.delete(this.#topics.keys().next().value!);
    }
    r.total++;
    r.m1++;
    r.m5++;
    this.#topics.set(topic, r);
  }

  get(topic: string, now = Date.now()): RateView {
    const r = this.#topics.get(topic);
    if (!r) return { total: 0, perSecond1m: 0, perSecond5m: 0 };
    const m1 = r.m1 * Math.exp(-Math.max(0, now - r.at) / WINDOWS_MS.m1);
    const m5 = r.m5 * Math.exp(-Math.max(0, now - r.at) / WINDOWS_MS.m5);
    return { total: r.total, perSecond1m: round(m1 / (WINDOWS_MS.m1 / 1000)), perSecond5m: round(m5 / (WINDOWS_MS.m5 / 1000)) };
  }

  topics(): string[] {
    return [...this.#topics.keys()];
  }
}

function decay(r: TopicRate, now: number): void {
  const dt = Math.max(0, now - r.at);
  r.m1 *= Math.exp(-dt / WINDOWS_MS.m1);
  r.m5 *= Math.exp(-dt / WINDOWS_MS.m5);
  r.at = now;
}

const round = (n: number) => Math.round(n * 1000) / 1000;
