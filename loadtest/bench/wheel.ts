/**
 * Heartbeat-deadline sweep: hashed timing wheel vs the naive per-tick scan,
 * for two heartbeat profiles (loadtest/bench/wheel-workload.ts):
 *   web    30 s +-10%, deadline 30 x 1.5 + 5 = 50 s   (fixed browser-style)
 *   smart 270 s +-10%, deadline 270 x 1.5 + 5 = 410 s (the SDK's Mars-style
 *          adaptive heartbeat: learned intervals 3.5-10 min, ~4.5 typical)
 *
 *   npm run bench:wheel
 *
 * Workload (identical for both sides, precomputed so generating it is not
 * measured): n connections in steady state, each heartbeating from a random
 * phase; 1% go silent at a random moment and must be detected. Tick 1 s for
 * both sides (equal 1-tick detection accuracy); wheel size is the smallest
 * power of two covering one deadline (64 / 512 slots; the gateway's default
 * 2048 x 500 ms covers both too). Each tick first applies the heartbeats that
 * arrived during it (wheel: touch(); naive: `s.last = t`), then sweeps. Only
 * the sweep is timed:
 *   wheel: advance(now), over `timedTicks` after a warm-up of one deadline
 *          plus one rotation (wheel-workload.ts says why) (web 120 s,
 *          smart 1,200 s: the wheel's cost per second depends on the
 *          interval, so it must span several of them);
 *   naive: the classic checkSessionHeartbeat loop over every session,
 *          `now - s.last > timeout`, swap-removing the dead (array: the
 *          cheapest container a naive gateway could use). Its cost per
 *          simulated second does not depend on the interval (every session is
 *          read every tick), so it is timed over the last 120 ticks only: the
 *          table is snapshotted as a steady-state scanner would hold it just
 *          before that window. Both report ms per simulated second.
 * Correctness: both sides must detect exactly the silent connections, and
 * inside the naive window both must detect the same number.
 * Separately, ns/touch: touch() in a tight loop over already-scheduled nodes
 * with increasing deadlines (the lazy path every received frame takes), and
 * replay ns/touch: the touches of the timed window itself (wall time per
 * tick's batch), which pay for finding an entry a walk has moved; a wheel
 * that makes its sweep cheaper by making touch dearer shows it there.
 * `--wheel <module>` runs another build's wheel through the same bench.
 * The sweep is synchronous on one thread, so its wall time is its CPU time
 * unless preempted. Runs alternate sides and replay the identical workload,
 * so tick k does the same work in every run: each tick's sweep time is the
 * median over runs, and ms/s is the sum of those medians / timed ticks.
 * Per-tick medians shrug off the multi-ms preemptions of a shared 2-core box
 * that would swamp a 5 us sweep in a plain sum, and a tick during which the
 * thread was preempted (wall time over CPU time by > 0.2 ms) counts its CPU
 * time instead (see timed()). Both sides are timed the same way.
 * ns/touch is process CPU time over a >= 10M-touch loop, median over runs.
 *
 * Reading the result: ratio ~= (naive visits / wheel visits) x (naive cost
 * per session / wheel cost per visit). The first factor is the algorithmic
 * win (an entry leaves about one cell per heartbeat for a walk to look at, so
 * ~30x for web, ~270x for smart; both columns are printed). The second is
 * memory: the naive scan streams objects in allocation order
 * (prefetch-friendly, ~5-10 ns each at 1M); a wheel visit is mostly a stale
 * cell (the entry moved on at its heartbeat), one sequential 16-byte read;
 * an entry still there is re-slotted or expired, which stores its new
 * location at random. The JSON rows
 * use densely packed Conn objects (the naive scan's best case). Honest
 * baseline: the naive side scans the same connections with the same workload
 * and the cheapest container (a dense array, swap-remove); the "f64 scan"
 * column is the full scan at its floor, over a dense Float64Array of
 * last-frame times (8 sequential bytes per session, no objects), for anyone
 * who would keep liveness that way instead of on the connection objects. An extra table row per profile at 1M
 * interleaves ~1 KB of per-connection heap objects, as a real gateway's
 * socket/parser state would; it is informational and not part of the JSON.
 * Last stdout line: one JSON object (consumed by CI/docs), 1M smart last.
 */
import { TimingWheel as CurrentWheel } from '../../services/gateway/core/timing-wheel.js';
import { PROFILES, TICK_MS, buildWorkload } from './wheel-workload.js';
import type { Profile, Workload } from './wheel-workload.js';
import { makeConns, runNaive, runNaiveF64, type Conn, type SweepResult } from './wheel-baselines.js';
import { pathToFileURL } from 'node:url';
import { calibrateCpuUsage, cpuMs, gc, median, msPerSecond, timed } from './wheel-timing.js';

/** Repetitions per size (median reported); small sizes are cheap and noisier. */
const repsFor = (n: number): number => (n >= 1_000_000 ? 3 : 7);
/** `--sizes 1000000` (comma-separated) narrows the run, e.g. to the 1M rows the targets are about. */
const sizesArg = process.argv.indexOf('--sizes');
const SIZES = sizesArg > 0 ? (process.argv[sizesArg + 1] ?? '').split(',').map(Number) : [10_000, 100_000, 1_000_000];
if (SIZES.some((n) => !Number.isInteger(n) || n < 1_000)) throw new Error('--sizes: comma-separated integers >= 1000');
const SPREAD_OBJECTS = 24; // per-connection baggage for the layout row (~1 KB)
/**
 * `--wheel <module>` runs another build's TimingWheel (e.g. a previous
 * commit's compiled services/gateway/core/timing-wheel.js) through this same
 * bench: a before/after on the same code and machine.
 */
const wheelArg = process.argv.indexOf('--wheel');
const TimingWheel: typeof CurrentWheel =
  wheelArg > 0 ? ((await import(pathToFileURL(process.argv[wheelArg + 1] ?? '').href)) as { TimingWheel: typeof CurrentWheel }).TimingWheel : CurrentWheel;
type TimingWheel<N extends Conn> = CurrentWheel<N>;

// JIT hygiene. Optimized code for the sweep embeds the wheel (and the callback)
// weakly; when a finished run's wheel is collected, that code is thrown away
// ("weak objects" deopt) and the next run sweeps unoptimized for a while, which
// at 10k inflated the wheel's numbers ~10x. A gateway has one long-lived wheel,
// so keep every bench wheel alive (emptied first) and the callback module-level.
// Workloads too: once the first profile's warm-up workload was collected, the
// second's code deopted the same way and web 10k read 0.018 ms/s, not 0.005.
const retainedWheels: TimingWheel<Conn>[] = [];
const retainedWorkloads: Workload[] = [];
function workload(p: Profile, n: number): Workload {
  const w = buildWorkload(p, n);
  retainedWorkloads.push(w);
  return w;
}
let detected = 0;
function onExpire(): void {
  detected++;
}

function runWheel(w: Workload, baggage: number): SweepResult {
  const { timeoutMs, wheelSize, timedTicks } = w.p;
  const conns = makeConns(w.n, baggage);
  const wheel = new TimingWheel<Conn>({ tickMs: TICK_MS, wheelSize, startMs: 0 });
  for (let i = 0; i < w.n; i++) wheel.schedule(conns[i]!, w.initialLast[i]! + timeoutMs);
  detected = 0;
  let atNaiveFrom = 0;
  let visitedBefore = 0;
  gc?.();
  const tickMs = new Float64Array(timedTicks);
  let touchMs = 0;
  let touches = 0;
  for (let s = 1; s <= w.totalTicks; s++) {
    const t0 = performance.now();
    for (let k = w.tickStart[s]!, end = w.tickStart[s + 1]!; k < end; k++) {
      wheel.touch(conns[w.conn[k]!]!, w.at[k]! + timeoutMs);
    }
    if (s > w.warmTicks) {
      touchMs += performance.now() - t0;
      touches += w.tickStart[s + 1]! - w.tickStart[s]!;
    }
    if (s === w.warmTicks + 1) visitedBefore = wheel.stats.visited;
    const now = s * TICK_MS;
    const ms = timed(() => wheel.advance(now, onExpire));
    if (s > w.warmTicks) tickMs[s - w.warmTicks - 1] = ms;
    if (s === w.naiveFrom) atNaiveFrom = detected;
  }
  const visitsPerS = (wheel.stats.visited - visitedBefore) / timedTicks;
  for (const c of conns) wheel.cancel(c);
  retainedWheels.push(wheel);
  return { tickMs, detected, inNaiveWindow: detected - atNaiveFrom, visitsPerS, touchNs: (touchMs * 1e6) / touches };
}

/** ns per lazy touch over already-scheduled nodes, deadlines increasing. */
function measureTouch(p: Profile, n: number): number {
  const conns = makeConns(n);
  const wheel = new TimingWheel<Conn>({ tickMs: TICK_MS, wheelSize: p.wheelSize, startMs: 0 });
  for (let i = 0; i < n; i++) wheel.schedule(conns[i]!, p.timeoutMs + (i % p.intervalMs));
  const rounds = Math.max(5, Math.ceil(10_000_000 / n));
  gc?.();
  const t0 = cpuMs();
  for (let r = 1; r <= rounds; r++) {
    const base = p.timeoutMs + r * p.intervalMs;
    for (let i = 0; i < n; i++) wheel.touch(conns[i]!, base + (i % p.intervalMs));
  }
  const ns = ((cpuMs() - t0) * 1e6) / (rounds * n);
  if (wheel.stats.visited !== 0 || wheel.size !== n) throw new Error('touch bench: wheel did work it should not have');
  for (const c of conns) wheel.cancel(c);
  retainedWheels.push(wheel);
  return ns;
}

interface Row {
  profile: string;
  interval_ms: number;
  n: number;
  wheel_cpu_ms_per_s: number;
  naive_cpu_ms_per_s: number;
  ratio: number;
  /** Informational: the full scan over a dense Float64Array of last-frame times, and the wheel's ratio to it. */
  naive_f64_cpu_ms_per_s: number;
  ratio_vs_f64: number;
  ns_per_touch: number;
  /** touch() in the replay: after the walk moved the entry, with the heartbeat workload's access pattern. */
  ns_per_touch_replay: number;
}

interface Measured {
  row: Row;
  label: string;
  wheelVisitsPerS: number;
  naiveVisitsPerS: number;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function measure(w: Workload, baggage: number, label: string): Measured {
  const wheelMs: Float64Array[] = [];
  const naiveMs: Float64Array[] = [];
  const naiveF64Ms: Float64Array[] = [];
  const touchNs: number[] = [];
  const replayTouchNs: number[] = [];
  let wheelVisits = 0;
  let naiveVisits = 0;
  const id = `${w.p.name} n=${w.n}`;
  for (let rep = 0, reps = repsFor(w.n); rep < reps; rep++) {
    const a = runNaive(w, baggage);
    const b = runWheel(w, baggage);
    if (a.detected !== w.expectedDead || b.detected !== w.expectedDead) {
      throw new Error(`${id}: detected naive=${a.detected} wheel=${b.detected}, expected ${w.expectedDead}`);
    }
    if (a.inNaiveWindow !== w.expectedNaiveWindow || b.inNaiveWindow !== w.expectedNaiveWindow) {
      throw new Error(
        `${id}: in naive window detected naive=${a.inNaiveWindow} wheel=${b.inNaiveWindow}, expected ${w.expectedNaiveWindow}`,
      );
    }
    naiveMs.push(a.tickMs);
    wheelMs.push(b.tickMs);
    replayTouchNs.push(b.touchNs ?? Number.NaN);
    if (baggage === 0) {
      const c = runNaiveF64(w);
      if (c.detected !== w.expectedDead || c.inNaiveWindow !== w.expectedNaiveWindow) {
        throw new Error(`${id}: f64 scan detected ${c.detected} (${c.inNaiveWindow} in window), expected ${w.expectedDead} (${w.expectedNaiveWindow})`);
      }
      naiveF64Ms.push(c.tickMs);
    }
    naiveVisits = a.visitsPerS;
    wheelVisits = b.visitsPerS;
    if (baggage === 0) touchNs.push(measureTouch(w.p, w.n));
  }
  const wheelMed = msPerSecond(wheelMs);
  const naiveMed = msPerSecond(naiveMs);
  const f64Med = naiveF64Ms.length > 0 ? msPerSecond(naiveF64Ms) : Number.NaN;
  return {
    label,
    wheelVisitsPerS: wheelVisits,
    naiveVisitsPerS: naiveVisits,
    row: {
      profile: w.p.name,
      interval_ms: w.p.intervalMs,
      n: w.n,
      wheel_cpu_ms_per_s: round(wheelMed, 4),
      naive_cpu_ms_per_s: round(naiveMed, 4),
      ratio: round(naiveMed / wheelMed, 1),
      naive_f64_cpu_ms_per_s: round(f64Med, 4),
      ratio_vs_f64: round(f64Med / wheelMed, 1),
      ns_per_touch: round(median(touchNs), 1),
      ns_per_touch_replay: round(median(replayTouchNs), 1),
    },
  };
}

function main(): void {
  const started = performance.now();
  calibrateCpuUsage();
  // JIT warm-up of every measured path on a small population.
  for (const p of PROFILES) {
    const warm = workload(p, 20_000);
    for (let i = 0; i < 3; i++) {
      runNaive(warm, 0);
      runNaiveF64(warm);
      runWheel(warm, 0);
      measureTouch(p, 20_000);
    }
  }
  const measured: Measured[] = [];
  const extras: Measured[] = [];
  for (const p of PROFILES) {
    let last: Workload | undefined;
    for (const n of SIZES) {
      last = workload(p, n);
      measured.push(measure(last, 0, n.toLocaleString('en-US')));
    }
    if (last) extras.push(measure(last, SPREAD_OBJECTS, `${last.n.toLocaleString('en-US')}*`));
  }

  const pad = (v: string, k: number): string => v.padStart(k);
  console.log(`timing wheel vs naive scan — tick ${TICK_MS} ms for both, heartbeat jitter ±10%, deadline = interval × 1.5 + 5 s`);
  for (const p of PROFILES) {
    console.log(
      `  ${p.name}: heartbeat ${p.intervalMs / 1000}s, deadline ${p.timeoutMs / 1000}s, wheel ${p.wheelSize} slots; ` +
        `timed ${p.timedTicks} s (wheel, after ${Math.ceil(p.timeoutMs / TICK_MS) + p.wheelSize} s warm-up) / ${p.naiveTicks} s (naive)`,
    );
  }
  console.log(
    `${pad('profile', 7)} ${pad('n', 11)} ${pad('wheel ms/s', 11)} ${pad('naive ms/s', 11)} ${pad('ratio', 7)} ` +
      `${pad('wheel visits/s', 15)} ${pad('naive visits/s', 15)} ${pad('ns/touch', 9)} ${pad('f64 scan ms/s', 14)} ${pad('vs f64', 7)} ` +
      `${pad('replay ns/touch', 16)}`,
  );
  const rows = PROFILES.flatMap((p) => [...measured, ...extras].filter((m) => m.row.profile === p.name));
  for (const m of rows) {
    const r = m.row;
    console.log(
      `${pad(r.profile, 7)} ${pad(m.label, 11)} ${pad(r.wheel_cpu_ms_per_s.toFixed(4), 11)} ` +
        `${pad(r.naive_cpu_ms_per_s.toFixed(4), 11)} ${pad(`${r.ratio.toFixed(1)}x`, 7)} ` +
        `${pad(Math.round(m.wheelVisitsPerS).toLocaleString('en-US'), 15)} ` +
        `${pad(Math.round(m.naiveVisitsPerS).toLocaleString('en-US'), 15)} ` +
        `${pad(Number.isNaN(r.ns_per_touch) ? '-' : r.ns_per_touch.toFixed(1), 9)} ` +
        `${pad(Number.isNaN(r.naive_f64_cpu_ms_per_s) ? '-' : r.naive_f64_cpu_ms_per_s.toFixed(4), 14)} ` +
        `${pad(Number.isNaN(r.ratio_vs_f64) ? '-' : `${r.ratio_vs_f64.toFixed(1)}x`, 7)} ` +
        `${pad(r.ns_per_touch_replay.toFixed(1), 16)}`,
    );
  }
  console.log(`* each Conn interleaved with ${SPREAD_OBJECTS} small heap objects (~1 KB/conn); not in the JSON`);
  console.log(`(total ${((performance.now() - started) / 1000).toFixed(1)} s${gc ? '' : '; run with --expose-gc for steadier numbers'})`);
  console.log(JSON.stringify({ bench: 'wheel', results: measured.map((m) => m.row) }));
}

main();
