/**
 * Time as a dependency. Core modules take a `Clock` so tests drive time by hand
 * (ManualClock) instead of waiting on real timers.
 */
export interface Clock {
  /** Milliseconds, monotonic within a process (not wall time). */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for timestamps that cross processes. */
  wallNow(): number;
}

// Node's global `performance` is a lazy accessor: reading it on every call
// (every inbound frame reads the clock) runs a getter each time.
const perf = performance;

export const systemClock: Clock = Object.freeze({
  now: () => perf.now(),
  wallNow: () => Date.now(),
});

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  private t: number;
  private readonly wallOffset: number;
  constructor(start = 0, wallStart = 1_700_000_000_000) {
    this.t = start;
    this.wallOffset = wallStart - start;
  }
  now(): number { return this.t; }
  wallNow(): number { return this.t + this.wallOffset; }
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('ManualClock.advance: ms must be >= 0');
    this.t += ms;
  }
  set(ms: number): void {
    if (ms < this.t) throw new RangeError('ManualClock.set: time cannot go backwards');
    this.t = ms;
  }
}
