/**
 * How the timing-wheel bench (wheel.ts) times sweeps on a shared machine:
 * wall time unless the thread was preempted (then CPU time), medians per tick
 * across repetitions.
 */
import { performance } from 'node:perf_hooks';

export const gc = (globalThis as { gc?: () => void }).gc;

/** Process CPU time (user + system) in ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Times one sweep: wall time, unless the thread lost the CPU during it (a
 * shared 2-core box preempts multi-ms sweeps often, and a preempted tick's
 * wall time is mostly someone else's work); then the process CPU time of the
 * sweep, less the cost of the two cpuUsage() calls around it.
 */
let cpuUsageCostMs = 0;
export function timed(sweep: () => void): number {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  sweep();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1000 - cpuUsageCostMs;
  return wall - cpu > 0.2 ? Math.max(0, cpu) : wall;
}
export function calibrateCpuUsage(): void {
  const xs: number[] = [];
  for (let i = 0; i < 2_000; i++) {
    const c0 = process.cpuUsage();
    const c = process.cpuUsage(c0);
    xs.push((c.user + c.system) / 1000);
  }
  xs.sort((a, b) => a - b);
  cpuUsageCostMs = xs[Math.floor(xs.length / 2)] ?? 0;
}

export function median(xs: ArrayLike<number>): number {
  const s = Array.from(xs).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** Sum over ticks of the per-tick median across runs, per simulated second. */
export function msPerSecond(runs: Float64Array[]): number {
  const ticks = runs[0]?.length ?? 0;
  let sum = 0;
  for (let t = 0; t < ticks; t++) sum += median(runs.map((r) => r[t] ?? 0));
  return sum / ticks;
}
