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
    const self = this;
    new Counter({
      name: this.prefix + name, help, registers: [this.registry],
      collect() {
        this.reset();
        if (self.source !== undefined) this.inc(read(self.source));
      },
    });
  }

  labeledCounter(name: string, help: string, label: string, read: (s: S) => ReadonlyMap<string, number>): void {
    const self = this;
    new Counter({
      name: this.prefix + name, help, labelNames: [label], registers: [this.registry],
      collect() {
        this.reset();
        if (self.source !== undefined) for (const [k, v] of read(self.source)) this.inc({ [label]: k }, v);
      },
    });
  }

  gauge(name: string, help: string, read: (s: S) => number): void {
    const self = this;
    new Gauge({ name: this.prefix + name, help, registers: [this.registry], collect() { if (self.source !== undefined) this.set(read(self.source)); } });
  }
}
