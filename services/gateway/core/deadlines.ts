/**
 * Every connection's next deadline on the timing wheel: the heartbeat deadline
 * (last packet + interval x 1.5 + grace, when heartbeats are checked) or the
 * token's expiry, whichever comes first. The wheel only says "due"; this file
 * says which of the two fell due, and the core closes accordingly.
 *
 * Frames are recorded lazily. A frame (beat) only writes its time into the
 * connection's dense record (conn-records.ts); the wheel entry keeps the
 * deadline it was filed with, which a frame can only have moved later. When
 * that entry falls due, expire() recomputes the deadline from the recorded
 * time and, unless it is due at this very tick, files the entry again there.
 * So a connection closes at exactly the tick it did when every frame moved
 * its entry, and a heartbeat costs one store into a line the rate check
 * loaded anyway. What can move a deadline earlier (a shorter renegotiated
 * interval) goes through touch(), which moves the entry now. The sweep pays
 * instead: each live connection's entry falls due and is re-filed about once
 * per deadline span (a random access each, where moving at every heartbeat
 * left a sequential stale cell); at the gateway's heartbeat rates that is a
 * small fraction of the heartbeats' own cost (docs/benchmarks.md).
 */
import { TimingWheel } from './timing-wheel.js';
import type { Connection } from './connection.js';
import { SEEN, STRIDE, type ConnRecords } from './conn-records.js';

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
  constructor(opts: DeadlineOptions, private readonly recs: ConnRecords, private readonly due: (c: Connection, why: Due) => void) {
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

  /** Any frame is liveness: O(1), no allocation, one store; the wheel is not touched (see the file comment). */
  beat(c: Connection, now: number): void {
    this.recs.f64[c.rec * STRIDE + SEEN] = now;
  }

  /** A frame that may also have moved the deadline earlier (interval renegotiated): move the entry now. No-op for an unscheduled connection. */
  touch(c: Connection, now: number): void {
    this.beat(c, now);
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
    const d = this.next(c, this.recs.f64[c.rec * STRIDE + SEEN]!);
    if (!this.wheel.isDue(d)) {
      // Frames came since the entry was filed: file it at the deadline they set.
      this.wheel.schedule(c, d);
      return;
    }
    if (now >= c.tokenExpiresAt) this.due(c, 'token');
    else if (this.check) this.due(c, 'heartbeat');
    else this.schedule(c, now);
  }
}
