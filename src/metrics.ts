import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per running server (tests start several in one process).
 * Subsystems register their own instruments through `registry`.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly published: Counter<'source'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'hookah_process_' });
    this.published = new Counter({
      name: 'hookah_events_published_total',
      help: 'Events published to the topic bus, by ingress',
      labelNames: ['source'],
      registers: [this.registry],
    });
  }

  counter<L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: L[] = [], collect?: (this: Gauge<L>) => void | Promise<void>): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry], ...(collect ? { collect } : {}) });
  }

  histogram<L extends string>(name: string, help: string, labelNames: L[] = [], buckets?: number[]): Histogram<L> {
    return new Histogram({ name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) });
  }
}
