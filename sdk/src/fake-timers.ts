/**
 * Deterministic timers for tests (the SDK's own and apps'): time moves only
 * when `advance()` is called, and due callbacks run in deadline order (ties in
 * the order they were armed), each seeing `now()` equal to its deadline.
 */
import { ManualTimers } from './manual-timers.js';

export class FakeTimers extends ManualTimers {
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
}
