/**
 * How long a gateway's request sat before this router read it, without
 * synchronised clocks.
 *
 * Why: a router that is stopped or starved (SIGSTOP, CPU starvation, a long
 * GC) reads requests late. Its queue deadlines count from the read, so after
 * the stall it started store work on session starts whose gateway had
 * already given up (answered the client with a `reconnect` frame and 1013).
 * The gateway stamps each request with its send time on its own clock and the
 * id of that clock (`sentAt`, `clock`: ResumeRequest); the router turns the
 * stamp into an age.
 *
 * How: for each sender clock, a sample is `routerNow − sentAt` = the clocks'
 * offset + transit + the time the request sat unread. Its minimum over recent
 * samples estimates the offset (the fastest requests' transit is close to 0,
 * as in NTP's filters), so `age = routerNow − sentAt − minimum`. The estimate
 * can only err low (transit > 0 in every sample): an age read here is never
 * more than the true one, unless the sender's clock went back (see below).
 * Nothing assumes the clocks agree: a gateway an hour off is judged right
 * from its first sample.
 *
 * The minimum is over a sliding window of two buckets of `windowMs` each,
 * turned over when a sample arrives after the current bucket's time is up:
 * the previous bucket is kept however long ago it closed, so after a stall
 * (no samples read for a long time) the backlog is judged against the minimum
 * from before the stall, not against itself.
 *
 * Bad stamps: a missing, non-numeric, non-positive or implausible stamp
 * (more than `maxSkewMs` from this router's wall clock) gives age 0, as for
 * an older gateway that sends none: such a request is judged as before. A
 * stamp far in the future would lower the minimum and make every later
 * request of that clock look old; a sample more than `outlierMs` below the
 * minimum is therefore held until a second one confirms it (a clock that
 * jumped ahead is believed at its second request; until then ages read low,
 * never high). A clock that went back (its samples rise) is believed once
 * the samples from before the jump left the window: within 2 × `windowMs`.
 * Gateways stamp with a clock that does not step (their start time plus
 * monotonic time) and a new clock id per process, so this takes a forged or
 * broken stamp, not an NTP correction. Only a forged first stamp of a clock
 * id is believed at once; it leaves the window like any other sample.
 *
 * Bounded: at most `maxClocks` clocks are tracked (least recently sampled
 * dropped first). O(1) per request.
 */
import type { Clock } from '../../shared/clock.js';

export interface RequestAgeOptions {
  /** Length of one of the two window buckets (ms). Default 10 s. */
  windowMs?: number;
  /** A stamp further than this from the router's wall clock is ignored (ms). Default 24 h. */
  maxSkewMs?: number;
  /** A sample this far below the minimum waits for a second one to confirm it (ms). Default 1 s. */
  outlierMs?: number;
  /** Sender clocks tracked at most. Default 4096. */
  maxClocks?: number;
}

interface Track {
  /** Minimum of the current bucket and of the previous one (Infinity: none). */
  cur: number;
  prev: number;
  /** When the current bucket opened (router clock.now()). */
  opened: number;
  /** An unconfirmed sample far below the minimum (Infinity: none). */
  low: number;
}

const MAX_CLOCK_ID = 128;

export class RequestAges {
  private readonly tracks = new Map<string, Track>();
  private readonly windowMs: number;
  private readonly maxSkewMs: number;
  private readonly outlierMs: number;
  private readonly maxClocks: number;
  /** Requests whose stamp was unusable (present but malformed or implausible). */
  ignored = 0;

  constructor(private readonly clock: Clock, o: RequestAgeOptions = {}) {
    this.windowMs = o.windowMs ?? 10_000;
    this.maxSkewMs = o.maxSkewMs ?? 24 * 3600_000;
    this.outlierMs = o.outlierMs ?? 1000;
    this.maxClocks = o.maxClocks ?? 4096;
  }

  get clocks(): number { return this.tracks.size; }

  /**
   * The request's age at this read (ms, ≥ 0) from its stamp; 0 when it has
   * none or an unusable one. Takes the stamp as a sample: call once per request.
   */
  ageOf(clockId: unknown, sentAt: unknown): number {
    if (clockId === undefined && sentAt === undefined) return 0;
    if (typeof clockId !== 'string' || clockId.length === 0 || clockId.length > MAX_CLOCK_ID
      || typeof sentAt !== 'number' || !Number.isFinite(sentAt) || sentAt <= 0
      || Math.abs(sentAt - this.clock.wallNow()) > this.maxSkewMs) {
      this.ignored++;
      return 0;
    }
    const now = this.clock.now();
    const sample = now - sentAt;
    let t = this.tracks.get(clockId);
    if (t === undefined) {
      if (this.tracks.size >= this.maxClocks) this.tracks.delete(this.tracks.keys().next().value!);
      t = { cur: sample, prev: Infinity, opened: now, low: Infinity };
      this.tracks.set(clockId, t);
      return 0;
    }
    // Least recently sampled first in the map's order.
    this.tracks.delete(clockId);
    this.tracks.set(clockId, t);
    if (now - t.opened >= this.windowMs) {
      // Turned over once, however long it has been: the previous bucket holds the last minimum seen.
      t.prev = t.cur;
      t.cur = Infinity;
      t.opened = now;
      t.low = Infinity;
    }
    const min = Math.min(t.cur, t.prev);
    if (sample < min - this.outlierMs) {
      if (t.low === Infinity) { t.low = sample; return 0; }
      // Confirmed: two samples far below the minimum. The higher of the two (a lone extreme one stays out).
      const v = Math.max(t.low, sample);
      t.low = Infinity;
      t.cur = Math.min(t.cur, v);
      t.prev = Math.min(t.prev, v);
      return Math.max(0, sample - v);
    }
    if (sample < t.cur) t.cur = sample;
    return Math.max(0, sample - Math.min(t.cur, t.prev));
  }
}
