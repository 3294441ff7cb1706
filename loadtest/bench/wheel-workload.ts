/**
 * Heartbeat profiles and the precomputed workload for loadtest/bench/wheel.ts.
 *
 * Timeline (ticks of TICK_MS, tick s sweeps at now = s * TICK_MS):
 *   1 .. warmTicks                 untimed warm-up: one deadline, then one rotation
 *   warmTicks+1 .. totalTicks      the wheel's timed window (timedTicks)
 *   naiveFrom+1 .. totalTicks      the naive scan's timed window (its tail)
 * The warm-up matters because every connection starts "just re-slotted"
 * (deadline = last frame + timeout), so for the first timeout - interval
 * seconds the wheel visits nothing; and because the wheel's buckets reach the
 * capacity a slot needs per rotation only as slots are walked (touch() never
 * allocates: into a bucket without room it records the deadline instead of
 * moving the entry, and a walk re-slots it later, as a freshly started gateway
 * does for about a deadline). Timing starts once every initial entry has been
 * visited and every slot walked since: the steady state of a long-running
 * gateway.
 */
import { rng } from '../lib/rand.js';
import { heartbeatDeadlineMs } from '../../protocol/index.js';

export interface Profile {
  name: string;
  intervalMs: number;
  /** Uniform jitter, +- this many ms around each beat. */
  jitterMs: number;
  /** Server deadline after a frame: interval x 1.5 + 5 s grace (config hbGraceMs). */
  timeoutMs: number;
  /** Smallest power of two whose rotation covers a whole deadline: no revisits. */
  wheelSize: number;
  /** Wheel's timed window in ticks (several intervals). */
  timedTicks: number;
  /** Naive scan's timed window in ticks (the tail of the wheel's). */
  naiveTicks: number;
}

export const TICK_MS = 1_000;
/** Fraction of connections that go silent at a random moment and must be detected. */
const DEAD_FRACTION = 0.01;

function profile(name: string, intervalMs: number, timedTicks: number, naiveTicks: number): Profile {
  const timeoutMs = heartbeatDeadlineMs(intervalMs, 5_000);
  let wheelSize = 2;
  while (wheelSize * TICK_MS < timeoutMs) wheelSize *= 2;
  return { name, intervalMs, jitterMs: intervalMs * 0.1, timeoutMs, wheelSize, timedTicks, naiveTicks };
}

/**
 * web: browser-style fixed 30 s heartbeat (the bench's original profile).
 * smart: the SDK's adaptive heartbeat (Tencent Mars): clients settle between
 * 3.5 and 10 min, 4.5 min is typical. The naive scan costs the same per
 * simulated second whatever the interval (it reads every session every tick),
 * so it is timed over 120 ticks; the wheel's cost per second depends on the
 * interval, so it is timed over 1,200 s (~4.4 intervals).
 */
export const PROFILES: readonly Profile[] = [profile('web', 30_000, 120, 120), profile('smart', 270_000, 1_200, 120)];

export interface Workload {
  p: Profile;
  n: number;
  warmTicks: number;
  totalTicks: number;
  /** Tick after which the naive scan's table is snapshotted (its window follows). */
  naiveFrom: number;
  /** Time of each connection's last frame before t=0 (steady state, random phase). */
  initialLast: Float64Array;
  /** Each connection's last frame at or before naiveFrom * TICK_MS. */
  lastAtNaiveFrom: Float64Array;
  /** Heartbeats bucketed by the tick they are applied in (CSR, index = tick). */
  tickStart: Int32Array;
  conn: Int32Array;
  at: Float64Array;
  /** Silent connections overdue by the end (both sides must detect exactly these). */
  expectedDead: number;
  /** Of those, the ones first overdue inside the naive window. */
  expectedNaiveWindow: number;
}

export function buildWorkload(p: Profile, n: number): Workload {
  const r = rng(n ^ p.intervalMs);
  const warmTicks = Math.ceil(p.timeoutMs / TICK_MS) + p.wheelSize;
  const totalTicks = warmTicks + p.timedTicks;
  const naiveFrom = totalTicks - p.naiveTicks;
  const totalMs = totalTicks * TICK_MS;
  const snapMs = naiveFrom * TICK_MS;
  const initialLast = new Float64Array(n);
  const lastAtNaiveFrom = new Float64Array(n);
  // Pass 1: arrivals in connection order (flat), counted per tick.
  const flat: number[] = [];
  const connStart = new Int32Array(n + 1);
  const counts = new Int32Array(totalTicks + 2);
  let expectedDead = 0;
  let expectedNaiveWindow = 0;
  for (let i = 0; i < n; i++) {
    const phase = r() * p.intervalMs;
    let last = phase - p.intervalMs;
    initialLast[i] = last;
    lastAtNaiveFrom[i] = last;
    // Silent at a random moment early enough that the deadline falls in the run.
    const deathAt = r() < DEAD_FRACTION ? r() * (totalMs - p.timeoutMs) : Infinity;
    for (let t = phase; ; t += p.intervalMs) {
      const at = Math.max(0.001, t + (r() * 2 - 1) * p.jitterMs);
      if (at > deathAt || at > totalMs) break;
      flat.push(at);
      last = at;
      if (at <= snapMs) lastAtNaiveFrom[i] = at;
      counts[Math.ceil(at / TICK_MS)]! += 1;
    }
    connStart[i + 1] = flat.length;
    if (last + p.timeoutMs < totalMs) {
      expectedDead++;
      // Same test the naive sweep applies at its snapshot tick.
      if (!(snapMs - lastAtNaiveFrom[i]! > p.timeoutMs)) expectedNaiveWindow++;
    }
  }
  // Pass 2: bucket by tick.
  const tickStart = new Int32Array(totalTicks + 3);
  for (let s = 0; s <= totalTicks + 1; s++) tickStart[s + 1] = tickStart[s]! + counts[s]!;
  const conn = new Int32Array(flat.length);
  const at = new Float64Array(flat.length);
  const fill = tickStart.slice(0, totalTicks + 2);
  for (let i = 0; i < n; i++) {
    for (let j = connStart[i]!, end = connStart[i + 1]!; j < end; j++) {
      const a = flat[j]!;
      const s = Math.ceil(a / TICK_MS);
      const k = fill[s]!;
      fill[s] = k + 1;
      conn[k] = i;
      at[k] = a;
    }
  }
  return {
    p,
    n,
    warmTicks,
    totalTicks,
    naiveFrom,
    initialLast,
    lastAtNaiveFrom,
    tickStart,
    conn,
    at,
    expectedDead,
    expectedNaiveWindow,
  };
}
