/**
 * An adaptive concurrency limit on session starts, driven by their measured
 * latency against a target (the idea of Netflix's concurrency-limits, from
 * TCP congestion control): by Little's law the concurrency a backend takes
 * without queueing is its throughput × its latency, and neither is known in
 * advance nor constant (a slower machine, a busy Redis, a CPU hog next door).
 * So the limit is found by probing:
 *
 * - a start that finished within `targetMs` while the limit was in use
 *   (in flight ≥ half the limit) raises the limit by half its headroom,
 *   ½ × (target / latency − 1), at most one: per round trip (one sample per
 *   slot) the limit moves half way to what Little's law says fits the target
 *   at the measured latency, and at most doubles (TCP's slow start), so it
 *   approaches the target without overshooting it by much;
 * - a start slower than the target lowers it in proportion,
 *   limit × max(minRatio, target / latency) (the gradient of Netflix's
 *   Gradient limit), and a start that failed (timed out, or refused by an
 *   overloaded router) halves it;
 * - a start still waiting after more than the target counts as a slow sample
 *   already (its latency can only grow): the limit reacts within the target,
 *   not when the backend finally answers or the start times out;
 * - both only once per congestion episode: a sample that started before the
 *   queue in front of the last decrease had drained (the decrease's time plus
 *   the latency that caused it) reflects the old limit, so it cannot cut
 *   again (TCP reacts once per window);
 * - a cut must buy latency: the starts admitted after that drain judge it.
 *   If their mean latency did not fall by at least half of what the cut
 *   would buy were all of the latency queueing here (limit × f → latency
 *   × f), the latency is not queueing behind this limit (a CPU-starved
 *   machine: every hop of a start waits for a time slice, whatever the
 *   limit), so the cut is undone and latencies up to 1.25 × the judged one
 *   no longer cut (Gradient2's lesson: do not chase latency the limit does
 *   not cause). Cuts are judged together once they add up to a quarter of
 *   the limit (a 10 % cut buys 5 % at best, lost in the noise); until then
 *   they go on as before, after that only latency over twice the one that
 *   started them cuts again before the judgement: the mean of the starts
 *   admitted before the first cut, once there are as many as a judgement
 *   takes (the age check's trigger is only just over the target, and a
 *   starved machine's starts always grow twice as old while waiting), else
 *   the trigger. A slow sample that cuts nothing (the limit at its floor,
 *   or suppressed as above) leaves the judgement alone: it neither restarts
 *   the sample count nor moves the drain time, or a starved machine would
 *   never be judged and the limit would sit at its floor. A judgement that
 *   sees no sample for a while (traffic stopped) is dropped, not judged
 *   later against a stale episode. A cut that did buy latency, or any
 *   failure, re-arms latency cuts. Failures are never undone: they are
 *   overload (a start timed out, or a router shed it).
 *
 * The limit stays within [min, max]; `max` is the static ceiling
 * (LONGLINK_MAX_STARTING_SESSIONS). The target sits well below the resume
 * timeout, so starts admitted under the limit finish before the gateway
 * gives up on them: overload turns into cheap refusals before the upgrade
 * (503) instead of session starts that time out (1011).
 *
 * Pure: no timers, the caller passes the time (ms, monotonic). O(1) per call.
 */

export interface AdaptiveLimitOptions {
  /** Limit at start. */
  initial: number;
  /** Never below this (≥ 1), so a starved gateway still probes. */
  min: number;
  /** The static ceiling. */
  max: number;
  /** Session-start latency the limit aims for (ms). */
  targetMs: number;
  /** Smallest factor one slow sample may cut the limit by (0 < r < 1). */
  minRatio: number;
  /** Weight of a new sample in the smoothed latency (0 < a ≤ 1). */
  smoothing: number;
}

/**
 * initial: enough for a burst of connects to a fresh gateway, small enough
 * that the first seconds of a storm do not flood the routers before any
 * start has answered (the age check then cuts it within the target).
 */
export const DEFAULT_LIMIT_OPTIONS: Readonly<Omit<AdaptiveLimitOptions, 'max' | 'targetMs'>> = Object.freeze({
  initial: 500, min: 4, minRatio: 0.5, smoothing: 0.1,
});

export type SampleOutcome = 'ok' | 'failed' | 'ignore';

export interface AdaptiveLimitStats {
  increases: number;
  decreases: number;
  /** Samples that failed (timeouts, router refusals). */
  failures: number;
  /** Cuts undone because the starts after them were not faster. */
  reverts: number;
}

/** Ok samples (at most; fewer when the limit is smaller) that judge a cut. */
const JUDGE_SAMPLES = 16;
/** Cuts are judged once they add up to at least this much (limit ≤ this × the limit before them). */
const JUDGE_MIN_CUT = 0.75;
/** Latency up to this multiple of one a cut did not lower does not cut again. */
const NO_QUEUE_MARGIN = 1.25;
/**
 * A judgement with no sample for this many targets (and this many times its episode's latency:
 * a start in flight that long has timed out, the resume timeout being at most 4 × the latency)
 * is dropped: traffic stopped, and what comes later belongs to another episode.
 */
const JUDGE_STALE_TARGETS = 8;
const JUDGE_STALE_LATENCIES = 4;

export function validateLimitOptions(o: AdaptiveLimitOptions): AdaptiveLimitOptions {
  if (!(o.min >= 1 && o.max >= o.min)) throw new RangeError(`need 1 <= min <= max, got min ${o.min} max ${o.max}`);
  if (!(o.targetMs > 0)) throw new RangeError(`targetMs must be > 0, got ${o.targetMs}`);
  if (!(o.minRatio > 0 && o.minRatio < 1)) throw new RangeError(`minRatio must be in (0, 1), got ${o.minRatio}`);
  if (!(o.smoothing > 0 && o.smoothing <= 1)) throw new RangeError(`smoothing must be in (0, 1], got ${o.smoothing}`);
  return o;
}

export class AdaptiveLimit {
  readonly stats: AdaptiveLimitStats = { increases: 0, decreases: 0, failures: 0, reverts: 0 };
  private value: number;
  private running = 0;
  /** Smoothed latency of completed starts (ms); 0 until the first sample. */
  private smoothed = 0;
  private lastDecreaseAt = -Infinity;
  /** Samples that started before this reflect the queue in front of the last cut. */
  private settleUntil = -Infinity;
  /**
   * The cuts since the last judgement: the limit before the first and when it was cut; the latency
   * under the old limit (the trigger's, and the mean of starts admitted before the cut that complete
   * after it: the trigger of the age check is only a lower bound); the judging samples so far.
   */
  private judging: {
    before: number; at: number; trigger: number; oldN: number; oldSum: number; n: number; sum: number;
    /** Last cut or sample (ms): see JUDGE_STALE_TARGETS. */
    lastAt: number;
  } | undefined;
  /** Latency a cut was shown not to lower (0: none); slow samples up to NO_QUEUE_MARGIN × this do not cut. */
  private noQueueMs = 0;
  /** Starts in flight per start time, oldest first (a monotonic clock inserts in order). */
  private readonly pending = new Map<number, number>();
  /** oldestSettled()'s cache: valid while ageKnown (see there). */
  private ageKey: number | undefined;
  private ageKnown = false;

  constructor(private readonly o: AdaptiveLimitOptions) {
    validateLimitOptions(o);
    this.value = Math.min(o.max, Math.max(o.min, o.initial));
  }

  /** The current limit (whole starts). */
  get limit(): number { return Math.floor(this.value); }
  get inFlight(): number { return this.running; }
  /** Smoothed session-start latency (ms), 0 before any sample. */
  get latencyMs(): number { return this.smoothed; }
  get targetMs(): number { return this.o.targetMs; }

  /** True while a start may begin (in flight below the limit). */
  get hasRoom(): boolean { return this.running < this.limit; }

  /**
   * Takes a slot; the caller must `release` it exactly once. Not refused here:
   * the caller checked `hasRoom` when it admitted the connection. With `now`,
   * the start's age is watched (see `observe`) until it is released with the
   * same time as `startedAt`.
   */
  acquire(now?: number): void {
    this.running++;
    if (now === undefined) return;
    this.pending.set(now, (this.pending.get(now) ?? 0) + 1);
    if (this.ageKnown && this.ageKey === undefined && now >= this.settleUntil) this.ageKey = now;
  }

  /**
   * The age check: a start in flight for longer than the target is slow already; cut once for it.
   * Only starts admitted after the last cut's queue drained count (settleUntil), and one admitted
   * before it that is still waiting does not hide them: the check used to look at the oldest start
   * only, so a single straggler from before a cut blocked it until it settled, and the limit sat at
   * 2 × the capacity for seconds while latency climbed to 2.4 s (bench:storm, SDK: admissions at
   * 40 % of the peak, no cut for 3 s).
   */
  observe(now: number): void {
    this.expireJudging(now);
    const oldest = this.oldestSettled();
    if (oldest === undefined) return;
    const age = now - oldest;
    if (age > this.o.targetMs) this.slow(age, now);
  }

  /**
   * Start time of the oldest start in flight admitted at or after settleUntil. Cached: keys are
   * inserted in time order, so it stays the answer until it leaves `pending` or settleUntil moves;
   * `ageKnown` with no key means none yet, and the next acquire after settleUntil is it.
   */
  private oldestSettled(): number | undefined {
    if (this.ageKnown && (this.ageKey === undefined || this.pending.has(this.ageKey))) return this.ageKey;
    this.ageKey = undefined;
    for (const t of this.pending.keys()) if (t >= this.settleUntil) { this.ageKey = t; break; }
    this.ageKnown = true;
    return this.ageKey;
  }

  /** Latency that no longer cuts (a cut was shown not to lower it); 0 while latency cuts are armed. */
  get noQueueLatencyMs(): number { return this.noQueueMs; }

  /**
   * Returns a slot. `startedAt`: when it was acquired; `now`: when the start
   * settled. 'ignore' frees the slot without a sample (e.g. the client left).
   */
  release(startedAt: number, now: number, outcome: SampleOutcome): void {
    const wasRunning = this.running;
    this.running = Math.max(0, this.running - 1);
    const n = this.pending.get(startedAt);
    if (n !== undefined) { if (n > 1) this.pending.set(startedAt, n - 1); else this.pending.delete(startedAt); }
    if (outcome === 'ignore') return;
    this.expireJudging(now);
    const latency = Math.max(0, now - startedAt);
    this.smoothed = this.smoothed === 0 ? latency : this.smoothed + this.o.smoothing * (latency - this.smoothed);
    if (outcome === 'failed') {
      this.stats.failures++;
      if (startedAt >= this.lastDecreaseAt) {
        // Overload, not starvation: never undone, and latency cuts are armed again.
        this.judging = undefined;
        this.noQueueMs = 0;
        this.decrease(0.5, now, latency);
      }
      return;
    }
    const settled = startedAt >= this.settleUntil;
    if (this.judging) {
      this.judging.lastAt = now;
      if (settled) this.judge(latency);
      else if (startedAt < this.judging.at) { this.judging.oldN++; this.judging.oldSum += latency; }
    }
    if (latency > this.o.targetMs) {
      if (settled) this.slow(latency, now);
      return;
    }
    // Grow only while the limit is what holds admission back (not when traffic is light).
    if (wasRunning * 2 >= this.value && this.value < this.o.max) {
      const step = latency <= 0 ? 1 : Math.min(1, 0.5 * (this.o.targetMs / latency - 1));
      if (step > 0) {
        this.value = Math.min(this.o.max, this.value + step);
        this.stats.increases++;
      }
    }
  }

  /** A start slower than the target (completed, or still waiting at that age): cut, unless such latency was shown not to be queueing. */
  private slow(latency: number, now: number): void {
    if (latency <= NO_QUEUE_MARGIN * this.noQueueMs) return;
    // Once the cuts add up to one worth judging, no more until it is judged, unless latency has doubled: that is no starvation.
    if (this.judging && this.value <= JUDGE_MIN_CUT * this.judging.before && latency <= 2 * this.episodeLatency(this.judging)) return;
    const factor = Math.max(this.o.minRatio, Math.min(0.9, this.o.targetMs / latency));
    // At the floor nothing is cut: leave the judgement (its samples, its drain time) as it is.
    if (Math.max(this.o.min, this.value * factor) >= this.value) return;
    this.judging ??= { before: this.value, at: now, trigger: latency, oldN: 0, oldSum: 0, n: 0, sum: 0, lastAt: now };
    // Only starts admitted after this cut's queue drained judge the cuts so far.
    this.judging.n = 0;
    this.judging.sum = 0;
    this.judging.lastAt = now;
    this.decrease(factor, now, latency);
  }

  /**
   * Latency under the limit before the cuts: the mean of the starts admitted before the first cut,
   * once there are as many as a judgement takes (fewer are noise), else the trigger (for the age
   * check only a lower bound: just over the target).
   */
  private episodeLatency(j: NonNullable<AdaptiveLimit['judging']>): number {
    const enough = j.oldN >= Math.min(JUDGE_SAMPLES, Math.max(1, Math.floor(j.before)));
    return enough ? Math.max(j.trigger, j.oldSum / j.oldN) : j.trigger;
  }

  /** Drops a judgement that saw no sample for long (traffic stopped): see JUDGE_STALE_TARGETS. */
  private expireJudging(now: number): void {
    const j = this.judging;
    if (!j) return;
    const old = Math.max(j.trigger, j.oldN > 0 ? j.oldSum / j.oldN : 0);
    if (now - j.lastAt > Math.max(JUDGE_STALE_TARGETS * this.o.targetMs, JUDGE_STALE_LATENCIES * old)) this.judging = undefined;
  }

  /** One ok sample admitted after the last cut's queue drained. */
  private judge(latency: number): void {
    const j = this.judging!;
    j.n++;
    j.sum += latency;
    if (j.n < Math.min(JUDGE_SAMPLES, Math.max(1, this.limit))) return;
    const mean = j.sum / j.n;
    if (this.value > JUDGE_MIN_CUT * j.before) {
      // Too shallow to tell from noise (a 10 % cut buys 5 % at best): wait for more cuts, unless latency is back within the target.
      if (mean <= this.o.targetMs) { this.judging = undefined; this.noQueueMs = 0; }
      else { j.n = 0; j.sum = 0; }
      return;
    }
    this.judging = undefined;
    const old = Math.max(j.trigger, j.oldN > 0 ? j.oldSum / j.oldN : 0);
    // Were all of the latency queueing behind this limit, cutting it by f would scale latency by f.
    const f = this.value / j.before;
    if (mean <= old * (1 - (1 - f) / 2)) { this.noQueueMs = 0; return; }
    this.noQueueMs = mean;
    if (j.before > this.value) { this.value = j.before; this.stats.reverts++; }
  }

  private decrease(factor: number, now: number, latency: number): void {
    const next = Math.max(this.o.min, this.value * factor);
    if (next < this.value) this.stats.decreases++;
    this.value = next;
    this.lastDecreaseAt = now;
    this.settleUntil = now + latency;
    this.ageKnown = false;
  }
}
