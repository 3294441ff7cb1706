/**
 * Timers whose clock the owner moves: `setNow(t)` sets the time (never
 * backwards) and `runDue()` runs the callbacks due by then. Two kinds of
 * owner drive the SDK's timer-based parts (heartbeat scheduler, ack batching)
 * with it instead of platform timers:
 *  - tests, through FakeTimers (fake-timers.ts), which steps from deadline to
 *    deadline so each callback sees `now()` equal to its own deadline;
 *  - poll loops (the load tools' sessions: one k6 VU, or one sweep over
 *    thousands of Node sockets), which set the time they were woken at and
 *    run what is due, as a late platform timer would.
 * Plain code, no platform APIs (bundles for k6).
 */
import type { Timer, Timers } from './timers.js';

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

export class ManualTimers implements Timers {
  protected t: number;
  private readonly wallOffset: number;
  private seq = 0;
  private entries: Entry[] = [];
  /** Cancelled entries still in `entries` (dropped lazily, so a poll that finds nothing due allocates nothing). */
  private dead = 0;

  constructor(start = 0, wallStart = 1_700_000_000_000) {
    this.t = start;
    this.wallOffset = wallStart - start;
  }

  now(): number { return this.t; }
  wallNow(): number { return this.t + this.wallOffset; }

  setTimeout(fn: () => void, ms: number): Timer {
    const e: Entry = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, live: true };
    this.entries.push(e);
    return { cancel: () => { if (e.live) { e.live = false; this.dead++; } } };
  }

  /** Number of timers armed and not yet fired or cancelled. */
  get pending(): number {
    return this.entries.filter((e) => e.live).length;
  }

  /** Deadline of the next live timer, or undefined. */
  nextAt(): number | undefined {
    let best: Entry | undefined;
    for (const e of this.entries) if (e.live && (best === undefined || e.at < best.at || (e.at === best.at && e.seq < best.seq))) best = e;
    return best?.at;
  }

  /** Moves the clock to `t`; an earlier `t` is ignored (the clock is monotonic). Runs nothing. */
  setNow(t: number): void {
    if (t > this.t) this.t = t;
  }

  /** Runs every timer due at the current time, in deadline order (ties in the order armed), including ones armed meanwhile. */
  runDue(): void {
    for (;;) {
      const e = this.popDue(this.t);
      if (e === undefined) return;
      e.fn();
    }
  }

  /** Removes and returns the earliest live timer due by `end`. */
  protected popDue(end: number): Entry | undefined {
    let best: Entry | undefined;
    let idx = -1;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (!e.live || e.at > end) continue;
      if (best === undefined || e.at < best.at || (e.at === best.at && e.seq < best.seq)) { best = e; idx = i; }
    }
    if (best === undefined) {
      if (this.dead > 0) {
        this.entries = this.entries.filter((e) => e.live);
        this.dead = 0;
      }
      return undefined;
    }
    best.live = false;
    this.entries.splice(idx, 1);
    return best;
  }
}
