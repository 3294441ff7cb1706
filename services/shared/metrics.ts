/**
 * prom-client helpers for metrics read at scrape time from plain counters a
 * core bumps on its hot paths (an integer increment instead of a prom-client
 * call per event). Counters keep their Prometheus type: `collect` resets and
 * re-sets them from the source, which only ever grows.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export class ScrapeMetrics<S> {
  readonly registry = new Registry();
  private source: S | undefined;

  constructor(private readonly prefix: string, opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Binds the collectors to the running component they read from. */
  bind(source: S): void {
    this.source = source;
  }

  counter(name: string, help: string, read: (s: S) => number): void {
    const src = (): S | undefined => this.source;
    new Counter({
      name: this.prefix + name, help, registers: [this.registry],
      collect() {
        this.reset();
        const v = src(); if (v !== undefined) this.inc(read(v));
      },
    });
  }

  labeledCounter(name: string, help: string, label: string, read: (s: S) => ReadonlyMap<string, number>): void {
    const src = (): S | undefined => this.source;
    new Counter({
      name: this.prefix + name, help, labelNames: [label], registers: [this.registry],
      collect() {
        this.reset();
        const v = src(); if (v !== undefined) for (const [k, n] of read(v)) this.inc({ [label]: k }, n);
      },
    });
  }

  gauge(name: string, help: string, read: (s: S) => number): void {
    const src = (): S | undefined => this.source;
    new Gauge({ name: this.prefix + name, help, registers: [this.registry], collect() { const v = src(); if (v !== undefined) this.set(read(v)); } });
  }
}
