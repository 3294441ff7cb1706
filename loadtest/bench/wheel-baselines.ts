/**
 * The timing-wheel bench's (wheel.ts) connection shape and its baselines: the
 * classic full scan per tick over connection objects, and the same scan over
 * a dense Float64Array (the cheapest full scan there is), replaying the same
 * workload (wheel-workload.ts) as the wheel.
 */
import type { WheelNode } from '../../services/gateway/core/timing-wheel.js';
import { TICK_MS, type Workload } from './wheel-workload.js';
import { gc, timed } from './wheel-timing.js';

/** Shape a gateway connection would have: the wheel's record index plus the naive side's field. */
export class Conn implements WheelNode {
  wheelId = -1;
  last = 0;
  extra: { a: number; b: number }[] | null = null;
  constructor(readonly id: number) {}
}

/** `baggage` > 0 interleaves that many small heap objects with each Conn. */
export function makeConns(n: number, baggage = 0): Conn[] {
  gc?.();
  const conns = new Array<Conn>(n);
  for (let i = 0; i < n; i++) {
    const c = new Conn(i);
    if (baggage > 0) {
      const extra: { a: number; b: number }[] = [];
      for (let k = 0; k < baggage; k++) extra.push({ a: k, b: i });
      c.extra = extra;
    }
    conns[i] = c;
  }
  return conns;
}

export interface SweepResult {
  /** Sweep wall time (ms) of each timed tick. */
  tickMs: Float64Array;
  /** Silent connections detected over the whole run. */
  detected: number;
  /** Of those, detected inside the naive window. */
  inNaiveWindow: number;
  /** Entries examined per timed simulated second. */
  visitsPerS: number;
  /** Wheel only: wall ns per touch() inside the replay (timed ticks; the touches that follow a walk's moves). */
  touchNs?: number;
}

/** Classic scan; swap-remove keeps the array dense like a real session table would. */
function naiveSweep(sessions: Conn[], len: number, now: number, timeoutMs: number): number {
  let i = 0;
  while (i < len) {
    const s = sessions[i]!;
    if (now - s.last > timeoutMs) {
      len--;
      sessions[i] = sessions[len]!;
    } else {
      i++;
    }
  }
  return len;
}

/**
 * The same scan over a data-oriented table: last-frame times in a dense
 * Float64Array (swap-remove), heartbeats writing through a position map. It
 * reads 8 sequential bytes per session, no objects: the cheapest full scan
 * there is (informational: a naive gateway keeps the time on its objects).
 */
function naiveSweepF64(last: Float64Array, ids: Int32Array, pos: Int32Array, len: number, now: number, timeoutMs: number): number {
  let i = 0;
  while (i < len) {
    if (now - last[i]! > timeoutMs) {
      pos[ids[i]!] = -1;
      len--;
      const moved = ids[len]!;
      last[i] = last[len]!;
      ids[i] = moved;
      pos[moved] = i;
    } else {
      i++;
    }
  }
  return len;
}

export function runNaiveF64(w: Workload): SweepResult {
  const { timeoutMs, naiveTicks } = w.p;
  gc?.();
  const last = w.lastAtNaiveFrom.slice();
  const ids = new Int32Array(w.n);
  const pos = new Int32Array(w.n);
  for (let i = 0; i < w.n; i++) ids[i] = pos[i] = i;
  let len = naiveSweepF64(last, ids, pos, w.n, w.naiveFrom * TICK_MS, timeoutMs);
  const before = len;
  let visits = 0;
  const tickMs = new Float64Array(naiveTicks);
  for (let s = w.naiveFrom + 1; s <= w.totalTicks; s++) {
    for (let k = w.tickStart[s]!, end = w.tickStart[s + 1]!; k < end; k++) {
      const p = pos[w.conn[k]!]!;
      if (p >= 0) last[p] = w.at[k]!;
    }
    const now = s * TICK_MS;
    visits += len;
    tickMs[s - w.naiveFrom - 1] = timed(() => { len = naiveSweepF64(last, ids, pos, len, now, timeoutMs); });
  }
  return { tickMs, detected: w.n - len, inNaiveWindow: before - len, visitsPerS: visits / naiveTicks };
}

export function runNaive(w: Workload, baggage: number): SweepResult {
  const { timeoutMs, naiveTicks } = w.p;
  const conns = makeConns(w.n, baggage);
  for (let i = 0; i < w.n; i++) conns[i]!.last = w.lastAtNaiveFrom[i]!;
  const sessions = conns.slice();
  // Untimed: what a scanner running since t=0 would already have removed.
  let len = naiveSweep(sessions, sessions.length, w.naiveFrom * TICK_MS, timeoutMs);
  const before = len;
  let visits = 0;
  gc?.();
  const tickMs = new Float64Array(naiveTicks);
  for (let s = w.naiveFrom + 1; s <= w.totalTicks; s++) {
    for (let k = w.tickStart[s]!, end = w.tickStart[s + 1]!; k < end; k++) conns[w.conn[k]!]!.last = w.at[k]!;
    const now = s * TICK_MS;
    visits += len;
    tickMs[s - w.naiveFrom - 1] = timed(() => { len = naiveSweep(sessions, len, now, timeoutMs); });
  }
  return { tickMs, detected: w.n - len, inNaiveWindow: before - len, visitsPerS: visits / naiveTicks };
}
