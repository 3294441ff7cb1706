/**
 * Event-loop delay sampled by a periodic timer the process runs anyway,
 * instead of a timer of its own.
 *
 * prom-client's default `nodejs_eventloop_lag_*` gauges read a
 * `monitorEventLoopDelay` histogram: a libuv timer that fires every
 * `resolution` ms and records the time since it last fired. At 100 ms that is
 * 10 wake-ups a second of an otherwise idle process; the gateway's wheel tick
 * already wakes it twice a second. A gateway measured idle (0 connections,
 * 2026-12-07) went from ~14 to ~2 wake-ups a second without it.
 *
 * What is recorded: the timer's lateness, `now - previous fire - period`
 * (ns, at least 1, as a histogram needs a positive value). A stall of S ms
 * that a tick falls into reads as about S, as it did with prom-client's
 * sampler; an idle loop reads about 0 (prom-client's own histogram holds
 * whole intervals, so its idle reading is the resolution itself, 0.1 s).
 * Resolution: one sample per tick; a stall shorter than the tick that falls
 * between two ticks delays the next tick only if it overlaps its due time.
 *
 * Node's setInterval arms the next fire from when the current one started,
 * so consecutive fires are `period + lateness` apart. Pure: the caller passes
 * a monotonic clock reading (ms) in; no timers here.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

export class LoopDelaySampler {
  /** Lateness per tick, ns. Read and reset at scrape time (shared/metrics.ts). */
  readonly histogram: RecordableHistogram = createHistogram();
  private prev = NaN;

  /** `periodMs`: the interval the caller's timer was armed with. */
  constructor(private readonly periodMs: number) {}

  /** From the periodic timer's callback, with the clock's reading (ms). */
  sample(nowMs: number): void {
    const late = nowMs - this.prev - this.periodMs;
    const first = Number.isNaN(this.prev);
    this.prev = nowMs;
    if (first) return; // nothing to compare with yet
    // Early (setInterval rounds to whole ms) or a clock that went backwards: 1 ns, i.e. on time.
    this.histogram.record(late > 0 ? Math.max(1, Math.round(late * 1e6)) : 1);
  }
}
