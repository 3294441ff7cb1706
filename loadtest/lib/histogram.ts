/**
 * Fixed-size log-linear latency histogram in microseconds: exact below
 * 128 µs, then 64 sub-buckets per power of two (≤ 1.6 % relative error), so
 * memory stays bounded whatever the sample count. Workers ship it sparse
 * ([bucket, count] pairs) and the parent merges.
 */
export const HIST_BUCKETS = 2048;

export function bucketOf(us: number): number {
  const v = us <= 0 ? 0 : Math.floor(us);
  if (v < 128) return v;
  const e = 31 - Math.clz32(Math.min(v, 0x7fffffff)) - 6;
  return Math.min(HIST_BUCKETS - 1, 128 + (e - 1) * 64 + ((Math.min(v, 0x7fffffff) >>> e) - 64));
}

/** Midpoint (µs) of a bucket. */
export function bucketValue(i: number): number {
  if (i < 128) return i;
  const e = Math.floor((i - 128) / 64) + 1;
  const m = ((i - 128) % 64) + 64;
  return (m * 2 ** e + (m + 1) * 2 ** e - 1) / 2;
}

export type Sparse = Array<[number, number]>;

/**
 * Nearest-rank percentile of raw samples already sorted ascending (q in
 * [0, 1]): the value at rank ceil(q·n), exact. NaN for no samples. For the
 * few-thousand-sample reports; large counts go into a Histogram.
 */
export function percentileOf(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** What reports print of a histogram: count and latencies in ms (2 decimals; -1 for no data). */
export interface LatencySummary { n: number; p50: number; p95: number; p99: number; p999: number; max: number; mean: number }

export class Histogram {
  readonly counts = new Uint32Array(HIST_BUCKETS);
  n = 0;
  maxUs = 0;
  sumUs = 0;

  recordMs(ms: number): void {
    const us = Math.max(0, ms * 1000);
    this.counts[bucketOf(us)]!++;
    this.n++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** Percentile in ms (q in 0..1); NaN when empty. */
  percentileMs(q: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < HIST_BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(bucketValue(i), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }

  meanMs(): number { return this.n === 0 ? NaN : this.sumUs / this.n / 1000; }

  summary(): LatencySummary {
    return { n: this.n, p50: r2(this.percentileMs(0.5)), p95: r2(this.percentileMs(0.95)), p99: r2(this.percentileMs(0.99)),
      p999: r2(this.percentileMs(0.999)), max: r2(this.maxUs / 1000), mean: r2(this.meanMs()) };
  }

  toSparse(): { b: Sparse; n: number; maxUs: number; sumUs: number } {
    const b: Sparse = [];
    this.counts.forEach((c, i) => { if (c > 0) b.push([i, c]); });
    return { b, n: this.n, maxUs: this.maxUs, sumUs: this.sumUs };
  }

  merge(s: { b: Sparse; n: number; maxUs: number; sumUs: number }): void {
    for (const [i, c] of s.b) this.counts[i]! += c;
    this.n += s.n;
    this.sumUs += s.sumUs;
    if (s.maxUs > this.maxUs) this.maxUs = s.maxUs;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.maxUs = 0;
    this.sumUs = 0;
  }
}

/** Rounds for reports: 2 decimals, -1 for "no data" (JSON has no NaN). */
export const r2 = (v: number): number => (Number.isFinite(v) ? Math.round(v * 100) / 100 : -1);
