/**
 * How long refused session starts are told to wait (Retry-After): a return
 * *schedule*, not a window. Each refusal takes the next free slot of a
 * timetable that advances by 1 / rate per refusal, and is told to come back
 * at a random point inside its slot:
 *
 *   slot       = max(nextFree, now + minWaitMs);  nextFree = slot + 1000 / rate
 *   Retry-After = slot − now + random × slot width   (ms, capped at maxMs)
 *
 * so the refused crowd returns at `rate` per second, spread evenly, and the
 * last one returns when the ones before it have been served. Why: a window
 * (uniform waits in [1, W] s) sized from the crowd brought clients back in
 * clumps, and once sized during a few seconds of congestion it sent
 * thousands of clients to sleep for up to 30 s while the gateway stood idle
 * (bench:storm, fixed-retry clients: 10,000 waiting, admissions at 10 ms
 * latency, no refusal, for the last 28 s of a 68 s recovery).
 *
 * The rate is `headroom` × the best admission rate of recent periods
 * (decaying by `capacityDecay` per period), and never below a floor the
 * caller gives (the gateway: what its adaptive limit admits at the current
 * start latency, limit / latency, Little's law; it is the only estimate
 * before the first admission): a schedule at exactly the measured rate would be self-fulfilling
 * (admissions can never exceed arrivals), so it asks for a little more and
 * the limit refuses, and re-schedules, what does not fit. Waits beyond
 * `maxMs` are not reserved: those clients are told `maxMs` (jittered down
 * by up to a tenth) and take a slot when they return.
 *
 * Returns with a shortest wait (`refuseAfter`: a start a router shed, with
 * the time its queue takes to drain) are never told less than that wait,
 * and run on their own timetable (`shedNextFree`): the first free slot at
 * or after the hint, behind the refusals already booked, spread at the same
 * rate, but they never move `nextFree`. Why: one router's queue estimate
 * (up to 30 s) booked into the shared timetable sent every later refusal of
 * the whole gateway behind it (one 9 s shed, then a full limit: the next
 * refusal was told 9.5 s instead of 0.5 s). Where the two timetables overlap
 * the gateway sees up to twice the rate for a while; the limit refuses, and
 * re-books, what does not fit. A hint beyond `maxMs` is not reserved either:
 * told the hint plus up to a tenth (upward: the router asked for no sooner).
 * Pure, caller-supplied time and randomness.
 */
export interface RetryScheduleOptions {
  /** Longest wait handed out (ms). */
  maxMs: number;
  /** Shortest wait (ms): the limit is full now, so the next room is at least a start's latency away. */
  minWaitMs: number;
  /** Period over which admissions are counted (ms). */
  periodMs: number;
  /** The schedule runs this much faster than the measured admission rate (> 1 probes for more). */
  headroom: number;
  /** Per-period decay of the remembered best admission rate (0–1; default 0.9). */
  capacityDecay?: number;
}

export class RetrySchedule {
  private nextFree: number;
  /** Next free slot of the returns with a shortest wait (router sheds); never moves `nextFree`. */
  private shedNextFree: number;
  private periodStart: number;
  private admitted = 0;
  /** Best recent admissions per second (decaying). */
  private capacity = 0;
  private lastRate = 0;
  /** Whether the last refusal took a slot (false: its wait was past `maxMs`, nothing reserved). */
  private lastBooked = false;

  constructor(private readonly o: RetryScheduleOptions, now: number) {
    if (!(o.maxMs >= 1000) || !(o.minWaitMs >= 0 && o.minWaitMs < o.maxMs) || !(o.periodMs > 0) || !(o.headroom >= 1)) {
      throw new RangeError('RetrySchedule: maxMs >= 1000, 0 <= minWaitMs < maxMs, periodMs > 0, headroom >= 1');
    }
    this.nextFree = now;
    this.shedNextFree = now;
    this.periodStart = now;
  }

  /** Time until the last scheduled return (ms, at most `maxMs`): the longest booked wait currently handed out. */
  horizonMs(now: number): number { return Math.max(0, Math.min(this.o.maxMs, Math.max(this.nextFree, this.shedNextFree) - now)); }
  /** The return rate of the last refusal (per second). */
  get rate(): number { return this.lastRate; }
  /** Whether the last refusal (`refuse` or `refuseAfter`) was given a reserved slot; false when told a wait past `maxMs`. */
  get booked(): boolean { return this.lastBooked; }

  admit(now: number): void { this.roll(now); this.admitted++; }

  /**
   * Counts a refusal and returns its wait (ms): the next slot of the
   * timetable. `floorPerS`: the rate the admission limit supports at its
   * target latency (limit × 1000 / target).
   */
  refuse(now: number, random: () => number, floorPerS: number): number {
    const width = this.width(now, floorPerS);
    const slot = Math.max(this.nextFree, now + this.o.minWaitMs);
    this.lastBooked = slot - now < this.o.maxMs;
    if (!this.lastBooked) return this.unbooked(0, random);
    this.nextFree = slot + width;
    return Math.round(Math.min(this.o.maxMs, slot - now + random() * width));
  }

  /**
   * A refusal that must wait at least `notBeforeMs` (a router's hint: its
   * queue drains no sooner): the first free slot at or after it, behind the
   * refusals booked so far, on the timetable of such returns, which
   * `refuse` does not queue behind. The wait is never below `notBeforeMs`.
   */
  refuseAfter(now: number, random: () => number, floorPerS: number, notBeforeMs: number): number {
    const width = this.width(now, floorPerS);
    const wait = Math.max(this.o.minWaitMs, notBeforeMs);
    const slot = Math.max(this.nextFree, this.shedNextFree, now + wait);
    this.lastBooked = slot - now < this.o.maxMs;
    if (!this.lastBooked) return this.unbooked(wait, random);
    this.shedNextFree = slot + width;
    return Math.round(Math.min(this.o.maxMs, slot - now + random() * width));
  }

  /** No slot within `maxMs`: nothing reserved. `maxMs` jittered down by up to a tenth, or a longer shortest wait jittered up by up to a tenth. */
  private unbooked(notBeforeMs: number, random: () => number): number {
    return notBeforeMs >= 0.9 * this.o.maxMs ? Math.max(Math.ceil(notBeforeMs), Math.round(notBeforeMs * (1 + 0.1 * random()))) : Math.round(this.o.maxMs * (1 - 0.1 * random()));
  }

  /** The slot width (ms) at the current rate, counting the refusal. */
  private width(now: number, floorPerS: number): number {
    this.roll(now);
    this.lastRate = Math.max(1, floorPerS, this.o.headroom * this.capacity);
    return 1000 / this.lastRate;
  }

  private roll(now: number): void {
    if (now - this.periodStart < this.o.periodMs) return;
    // Admissions over the time since the last roll (no call in between means none happened).
    const elapsed = now - this.periodStart;
    const decay = (this.o.capacityDecay ?? 0.9) ** Math.floor(elapsed / this.o.periodMs);
    this.capacity = Math.max((this.admitted * 1000) / elapsed, this.capacity * decay);
    this.periodStart = now;
    this.admitted = 0;
  }
}
