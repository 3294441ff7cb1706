/**
 * Parent-side bookkeeping of the load generator: merges the workers' samples
 * into timeline points and run-wide totals (counters by phase, latency
 * histograms, close codes). Pure (no I/O), so tests can feed it samples.
 */
import { Histogram, r2 } from '../lib/histogram.js';
import { zeroCounts, type Counts, type Sample } from './worker.js';
import type { Point } from './report.js';

const addCounts = (a: Counts, b: Counts): void => { for (const k of Object.keys(a) as Array<keyof Counts>) a[k] += b[k]; };
const addMap = (a: Record<string, number>, b: Record<string, number>): void => { for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v; };

export class Aggregator {
  /** Latest gauges per worker. */
  private readonly gauges = new Map<number, Pick<Sample, 'open' | 'connecting' | 'waiting' | 'attempted'>>();
  private pending = zeroCounts();
  private readonly pendingHb = new Histogram();
  private readonly pendingPush = new Histogram();
  readonly totals = zeroCounts();
  readonly byPhase = new Map<string, { counts: Counts; hb: Histogram; push: Histogram; connect: Histogram }>();
  readonly codes: Record<string, number> = {};
  readonly statuses: Record<string, number> = {};
  readonly errors: Record<string, number> = {};
  /** Retry-After values of the 503s clients received (whole seconds → count). */
  readonly retryAfter: Record<string, number> = {};
  readonly points: Point[] = [];
  /** Per-client time from a 'mark' to its next hello (storm bench). */
  readonly reconnect = new Histogram();
  peakOpen = 0;
  /** Worst worker event-loop delay seen (ms), overall and in the current interval. */
  lagMaxMs = 0;
  private pendingLag = 0;
  private pendingSamples = 0;
  private pendingAge = 0;
  private lastPointAt: number;

  constructor(private readonly t0: number, public phase = 'ramp') { this.lastPointAt = t0; }

  private phaseBucket(): { counts: Counts; hb: Histogram; push: Histogram; connect: Histogram } {
    let b = this.byPhase.get(this.phase);
    if (!b) this.byPhase.set(this.phase, (b = { counts: zeroCounts(), hb: new Histogram(), push: new Histogram(), connect: new Histogram() }));
    return b;
  }

  add(worker: number, s: Sample): void {
    this.gauges.set(worker, { open: s.open, connecting: s.connecting, waiting: s.waiting, attempted: s.attempted });
    addCounts(this.pending, s.d);
    addCounts(this.totals, s.d);
    const b = this.phaseBucket();
    addCounts(b.counts, s.d);
    b.hb.merge(s.hb); b.push.merge(s.push); b.connect.merge(s.connect);
    this.reconnect.merge(s.reconnect);
    this.lagMaxMs = Math.max(this.lagMaxMs, s.lagMaxMs);
    this.pendingLag = Math.max(this.pendingLag, s.lagMaxMs);
    this.stepLag = Math.max(this.stepLag, s.lagMaxMs);
    this.pendingSamples++;
    this.pendingAge = Math.max(this.pendingAge, Date.now() - s.t);
    this.pendingHb.merge(s.hb);
    this.pendingPush.merge(s.push);
    addMap(this.codes, s.codes); addMap(this.statuses, s.statuses); addMap(this.errors, s.errors);
    if (s.retryAfter) addMap(this.retryAfter, s.retryAfter);
  }

  /** Worst worker event-loop delay since the last call (ms); the storm bench's per-step view (it does not use `point`). */
  takeStepLag(): number { const l = this.stepLag; this.stepLag = 0; return l; }
  private stepLag = 0;

  gauge(): { open: number; connecting: number; waiting: number; attempted: number } {
    const g = { open: 0, connecting: 0, waiting: 0, attempted: 0 };
    for (const x of this.gauges.values()) { g.open += x.open; g.connecting += x.connecting; g.waiting += x.waiting; g.attempted += x.attempted; }
    return g;
  }

  /** Closes the current sample interval into a timeline point. */
  point(now: number): Point {
    const g = this.gauge();
    const dt = Math.max(0.001, (now - this.lastPointAt) / 1000);
    this.lastPointAt = now;
    this.peakOpen = Math.max(this.peakOpen, g.open);
    const p: Point = {
      t: r2((now - this.t0) / 1000), open: g.open, connecting: g.connecting, waiting: g.waiting,
      openedPerS: Math.round(this.pending.opened / dt), hbPerS: Math.round(this.pending.hbSent / dt), pushesPerS: Math.round(this.pending.pushes / dt),
      hbP50: r2(this.pendingHb.percentileMs(0.5)), hbP95: r2(this.pendingHb.percentileMs(0.95)), hbP99: r2(this.pendingHb.percentileMs(0.99)),
      pushP50: r2(this.pendingPush.percentileMs(0.5)), pushP95: r2(this.pendingPush.percentileMs(0.95)), pushP99: r2(this.pendingPush.percentileMs(0.99)),
      unexpectedCloses: this.totals.unexpectedCloses, failed: this.totals.failed, workerLagMs: this.pendingLag,
      samples: this.pendingSamples, sampleAgeMs: this.pendingAge,
    };
    this.pendingLag = 0;
    this.pendingSamples = 0;
    this.pendingAge = 0;
    this.points.push(p);
    this.pending = zeroCounts();
    this.pendingHb.reset();
    this.pendingPush.reset();
    return p;
  }

  /** Histograms merged over the given phases. */
  merged(phases: string[]): { counts: Counts; hb: Histogram; push: Histogram; connect: Histogram } {
    const out = { counts: zeroCounts(), hb: new Histogram(), push: new Histogram(), connect: new Histogram() };
    for (const ph of phases) {
      const b = this.byPhase.get(ph);
      if (!b) continue;
      addCounts(out.counts, b.counts);
      out.hb.merge(b.hb.toSparse()); out.push.merge(b.push.toSparse()); out.connect.merge(b.connect.toSparse());
    }
    return out;
  }
}
