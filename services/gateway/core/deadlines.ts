/**
 * Every connection's next deadline on the timing wheel: the heartbeat deadline
 * (last frame + interval x 1.5 + grace, when heartbeats are checked) or the
 * token's expiry, whichever comes first. The wheel only says "due"; this file
 * says which of the two fell due, and the core closes accordingly.
 *
 * Lazy deadlines. A frame only records liveness on the connection
 * (`last`, the field its token bucket already wrote); the wheel
 * entry stays where it is. When the entry falls due, expire() computes the
 * true deadline from the connection and, if it is still ahead, schedules the
 * entry there instead of closing. Why: moving the entry on every frame costs
 * a random access to the wheel's location table plus a stale write into the
 * old bucket, about two cold cache lines per heartbeat, which dominated a
 * heartbeat's CPU beyond bare uWS; the walk instead pays one random load (the
 * connection) per connection per deadline, and with heartbeats every
 * interval against a deadline of interval x 1.5 + grace that is at most
 * ~1/1.5 of the heartbeat rate.
 *
 * Invariant that keeps this exact: the wheel's scheduled time is never later
 * than the true deadline. A frame only moves the true deadline later, so it
 * needs no wheel work; everything that can move it EARLIER (scheduling at
 * open, a renegotiated shorter interval, an expiry set earlier) goes through
 * schedule()/reschedule(), which put the entry at the true deadline. Accuracy
 * is then the wheel's: a connection is closed within [deadline, deadline +
 * tickMs) of its true deadline (a lazy entry falls due early, is rescheduled
 * once, and falls due again at the true one).
 */
import { TimingWheel } from './timing-wheel.js';
import type { Connection } from './connection.js';

/** Why a connection fell due: its token expired, or nothing arrived within its heartbeat deadline. */
export type Due = 'token' | 'heartbeat';

export interface DeadlineOptions {
  tickMs: number;
  wheelSize: number;
  startMs: number;
  /** Heartbeat deadlines enforced; otherwise only the token's expiry is. */
  check: boolean;
}

export class Deadlines {
  private readonly wheel: TimingWheel<Connection>;
  private readonly check: boolean;
  private now = 0;
  private readonly onExpire = (c: Connection): void => this.expire(c, this.now);

  /** `due` runs from advance() for a live connection whose true deadline passed; it is no longer scheduled then. */
  constructor(opts: DeadlineOptions, private readonly due: (c: Connection, why: Due) => void) {
    this.wheel = new TimingWheel<Connection>({ tickMs: opts.tickMs, wheelSize: opts.wheelSize, startMs: opts.startMs });
    this.check = opts.check;
  }

  /** Connections scheduled. */
  get size(): number { return this.wheel.size; }

  /** A new connection (or one whose refresh gave it a finite expiry again): liveness from `now`, scheduled at its true deadline. No deadline at all: not scheduled. */
  schedule(c: Connection, now: number): void {
    c.last = now;
    const d = this.next(c);
    if (d !== Infinity) this.wheel.schedule(c, d);
  }

  /**
   * Any frame is liveness: records the time only (O(1), no allocation, no
   * wheel access). Only ever moves the true deadline later, which expire()
   * catches up with; a change that moves it earlier must call reschedule().
   */
  touch(c: Connection, now: number): void {
    c.last = now;
  }

  /**
   * The deadline's inputs changed (token expiry moved, heartbeat span
   * renegotiated), possibly to an EARLIER deadline: put the entry at the true
   * deadline now (scheduling it if there was none). `now` is the time of the
   * frame that carried the change, so it also counts as liveness.
   */
  reschedule(c: Connection, now: number): void {
    if (c.wheelId < 0) { this.schedule(c, now); return; }
    c.last = now;
    const d = this.next(c);
    if (d === Infinity) this.wheel.cancel(c);
    else this.wheel.touch(c, d);
  }

  cancel(c: Connection): void {
    this.wheel.cancel(c);
  }

  /** Every wheel tick: report each connection whose true deadline passed; re-schedule the others. */
  advance(now: number): void {
    this.now = now;
    this.wheel.advance(now, this.onExpire);
  }

  /** The true deadline, from the connection's own fields. */
  private next(c: Connection): number {
    const token = c.tokenExpiresAt;
    if (!this.check) return token;
    const hb = c.last + c.deadlineSpanMs;
    return hb < token ? hb : token;
  }

  /**
   * The entry fell due (the wheel removed it): at a boundary at or after its
   * scheduled time, which is never later than the true deadline. Close if the
   * true deadline has passed too; otherwise it is ahead (a later tick than
   * this one) and the entry goes there.
   */
  private expire(c: Connection, now: number): void {
    if (c.closed) return;
    if (now >= c.tokenExpiresAt) { this.due(c, 'token'); return; }
    const d = this.next(c);
    if (now >= d) this.due(c, 'heartbeat');
    else if (d !== Infinity) this.wheel.schedule(c, d);
  }
}
