/**
 * Every connection's next deadline on the timing wheel: the heartbeat deadline
 * (last packet + interval x 1.5 + grace, when heartbeats are checked) or the
 * token's expiry, whichever comes first. The wheel only says "due"; this file
 * says which of the two fell due, and the core closes accordingly.
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

  /** `due` runs from advance() for a live connection whose deadline passed; it is no longer scheduled then. */
  constructor(opts: DeadlineOptions, private readonly due: (c: Connection, why: Due) => void) {
    this.wheel = new TimingWheel<Connection>({ tickMs: opts.tickMs, wheelSize: opts.wheelSize, startMs: opts.startMs });
    this.check = opts.check;
  }

  /** Connections scheduled. */
  get size(): number { return this.wheel.size; }

  /** A new connection (or one whose refresh gave it a finite expiry again): schedule from `now`. No deadline at all: not scheduled. */
  schedule(c: Connection, now: number): void {
    const d = this.next(c, now);
    if (d !== Infinity) this.wheel.schedule(c, d);
  }

  /** Any frame is liveness: O(1), no allocation. No-op for an unscheduled connection. */
  touch(c: Connection, now: number): void {
    if (c.wheelId >= 0) this.wheel.touch(c, this.next(c, now));
  }

  /** The token's expiry moved (in-band refresh): move the deadline, scheduling it if there was none. */
  reschedule(c: Connection, now: number): void {
    if (c.wheelId >= 0) this.touch(c, now);
    else this.schedule(c, now);
  }

  cancel(c: Connection): void {
    this.wheel.cancel(c);
  }

  /** Every wheel tick: report each connection whose deadline passed. */
  advance(now: number): void {
    this.now = now;
    this.wheel.advance(now, this.onExpire);
  }

  private next(c: Connection, now: number): number {
    return this.check ? Math.min(now + c.deadlineSpanMs, c.tokenExpiresAt) : c.tokenExpiresAt;
  }

  private expire(c: Connection, now: number): void {
    if (c.closed) return;
    if (now >= c.tokenExpiresAt) this.due(c, 'token');
    else if (this.check) this.due(c, 'heartbeat');
    else this.schedule(c, now);
  }
}
