/**
 * Deterministic timers for tests (the SDK's own and apps'): time moves only
 * when `advance()` is called, and due callbacks run in deadline order (ties in
 * the order they were armed), each seeing `now()` equal to its deadline.
 */
import type { Timer, Timers } from './timers.js';

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

export class FakeTimers implements Timers {
  private t: number;
  private readonly wallOffset: number;
  private seq = 0;
  private entries: Entry[] = [];

  constructor(start = 0, wallStart = 1_700_000_000_000) {
    this.t = start;
    this.wallOffset = wallStart - start;
  }

  now(): number { return this.t; }
  wallNow(): number { return this.t + this.wallOffset; }

  setTimeout(fn: () => void, ms: number): Timer {
    const e: Entry = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, live: true };
    this.entries.push(e);
    return { cancel: () => { e.live = false; } };
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

  /** Moves time forward by `ms`, running every timer that falls due on the way (including ones armed meanwhile). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('FakeTimers.advance: ms must be >= 0');
    const end = this.t + ms;
    for (;;) {
      const e = this.popDue(end);
      if (e === undefined) break;
      this.t = e.at;
      e.fn();
    }
    this.t = end;
  }

  /** Runs timers until none is left or `limitMs` of fake time passed; returns the time advanced. */
  runAll(limitMs = 3_600_000): number {
    const start = this.t;
    for (;;) {
      const at = this.nextAt();
      if (at === undefined || at - start > limitMs) break;
      this.advance(at - this.t);
    }
    return this.t - start;
  }

  private popDue(end: number): Entry | undefined {
    let best: Entry | undefined;
    let idx = -1;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (!e.live || e.at > end) continue;
      if (best === undefined || e.at < best.at || (e.at === best.at && e.seq < best.seq)) { best = e; idx = i; }
    }
    if (best === undefined) {
      this.entries = this.entries.filter((e) => e.live);
      return undefined;
    }
    best.live = false;
    this.entries.splice(idx, 1);
    return best;
  }
}
