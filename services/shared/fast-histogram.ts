/**
 * A Prometheus histogram for hot paths: an observation is a bucket search
 * and three number increments on a pre-bound series. prom-client's
 * Histogram.observe (also through `labels()`) rebuilds and validates the
 * label set, hashes it into a string and looks the series up on every call;
 * once per push or per API request that showed in the profiles
 * (docs/benchmarks.md).
 *
 * It registers on a prom-client Registry as a metric of its own and exports
 * exactly what a prom-client Histogram with the same name, help, label names
 * and buckets would (`_bucket` with `le`, `_sum`, `_count`, series in the
 * order they were first bound). Series are bound by label values given in
 * `labelNames` order; values must be bounded (docs/metrics.md).
 */
import type { Registry } from 'prom-client';

interface Series {
  labels: Record<string, string>;
  /** Per bucket (not cumulative); the last slot counts what is above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export interface FastHistogramOptions {
  name: string;
  help: string;
  buckets: readonly number[];
  labelNames?: readonly string[];
  registers: readonly Registry[];
}

interface MetricValue { labels: Record<string, string | number>; sharedLabels: Record<string, string>; value: number; metricName: string }

export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: Float64Array;
  private readonly labelNames: readonly string[];
  private readonly series = new Map<string, Series>();

  constructor(o: FastHistogramOptions) {
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames ?? [];
    this.bounds = Float64Array.from([...o.buckets].sort((a, b) => a - b));
    for (const r of o.registers) r.registerMetric(this as never);
  }

  /** The observe function of one series (created, at 0, if new): `values` in labelNames order. */
  bind(...values: string[]): (v: number) => void {
    if (values.length !== this.labelNames.length) throw new RangeError(`${this.name}: ${this.labelNames.length} label values expected`);
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => { labels[n] = values[i]!; });
      s = { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    const series = s, bounds = this.bounds, n = bounds.length;
    return (v: number): void => {
      // Like prom-client: a value that is not a finite number is refused (it would poison the sum).
      if (!Number.isFinite(v)) return;
      let i = 0;
      while (i < n && v > bounds[i]!) i++;
      series.counts[i]!++;
      series.sum += v;
      series.count++;
    };
  }

  /** prom-client's metric interface: what a Histogram's get() returns. */
  get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      // The series' labels go in sharedLabels, `le` in labels: prom-client's layout, so the text is the same (le first).
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: s.labels, value: acc, metricName: bucket });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /** Zeroes every series (they stay bound). */
  reset(): void {
    for (const s of this.series.values()) { s.counts.fill(0); s.sum = 0; s.count = 0; }
  }
}
