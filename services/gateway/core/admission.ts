/**
 * Admission control, decided before the upgrade, so an overloaded or draining
 * gateway spends nothing on a connection it will not keep. In order:
 *
 * 1. `precheck` (before anything else): draining, or at the connection limit.
 * 2. The source's own budget (source-budget.ts), spent by every attempt, so
 *    one address flooding upgrades cannot use up anyone else's admission.
 * 3. The transport verifies the token (synchronous, cheap): an upgrade with a
 *    bad token is refused 401 before it touches the shared budget below.
 * 4. `admitVerified`: the adaptive limit on session starts (adaptive-limit.ts:
 *    how many connections may wait for the router's resume answer at once,
 *    learned from their latency, capped by LONGLINK_MAX_STARTING_SESSIONS),
 *    then the connect-rate token bucket as a static ceiling.
 *
 * Refusals are 503 (429 for a source over its budget) with a Retry-After;
 * the session-start one is a place in a return schedule (RetrySchedule:
 * refused clients come back spread at the rate the gateway admits), sent
 * exactly as Retry-After-Ms beside the whole-second Retry-After.
 * The place is remembered per client (ReturnLine, by the token's user and
 * device): a client back on its time is admitted even when the limit is
 * full, up to RETURN_OVERSHOOT over it, instead of being refused again and
 * sent behind clients refused after it; one back early is told the rest of
 * its wait and keeps its place (nothing new booked).
 * Existing sessions are never affected.
 */
import { Errors, type ErrorSpec } from '../../shared/errors.js';
import { AdaptiveLimit, DEFAULT_LIMIT_OPTIONS, type SampleOutcome } from './adaptive-limit.js';
import { RetrySchedule } from './retry-schedule.js';
import { ReturnLine } from './return-line.js';
import { SourceBudget } from './source-budget.js';
import { newBucket, take, waitMs, type BucketState } from '../../shared/token-bucket.js';

/** A refusal's wait: `retryAfterS` (whole seconds, the Retry-After header) and, where the gateway scheduled it, the exact `retryAfterMs`. */
export type Admission = { ok: true } | { ok: false; error: ErrorSpec; retryAfterS: number; retryAfterMs?: number };

export interface AdmissionOptions {
  maxConnections: number;
  connectRate: number;
  connectBurst: number;
  /** Ceiling of the adaptive session-start limit. */
  maxStarting: number;
  /** Session-start latency the adaptive limit aims for (ms); well below the resume timeout. */
  startTargetMs: number;
  /** Resume timeout ceiling (ms); the effective timeout follows measured latency below it. */
  resumeTimeoutMs: number;
  /** Upgrades per second per source address (0: off) and its bucket size. */
  sourceRate: number;
  sourceBurst: number;
}

const OK: Admission = Object.freeze({ ok: true });
/** Longest session-start Retry-After handed out (ms). */
export const RETRY_HORIZON_MS = 10_000;
/**
 * Clients back on their booked time may start above the full limit, by up to this fraction of it. Bounded
 * because the timetable books returns faster than the gateway admits (RetrySchedule's headroom).
 */
export const RETURN_OVERSHOOT = 0.25;
/**
 * Most return-line tickets one user holds (one per device): the router's default LONGLINK_MAX_DEVICES_PER_USER
 * (the gateway does not know the router's setting). A token without a device claim lets the client name any
 * device; without this cap one token could fill the line and take the overshoot with made-up devices.
 */
export const RETURN_TICKETS_PER_USER = 16;
/** A client this much before its booked time counts as on time (timers fire a little early, clocks differ). */
const RETURN_EARLY_MS = 100;
/** Shortest wait told to a client back early: below 250 ms the SDK does not trust a server's wait (sdk/src/backoff.ts). */
const RETURN_MIN_WAIT_MS = 250;

export class AdmissionControl {
  readonly limit: AdaptiveLimit;
  readonly sources: SourceBudget;
  private readonly bucket: BucketState;
  private readonly retry: RetrySchedule;
  /** Refused clients and when they were told to return. */
  readonly returns = new ReturnLine({ maxEntries: 100_000, keepMs: RETRY_HORIZON_MS, maxPerUser: RETURN_TICKETS_PER_USER });
  /** Starts admitted above a full limit because the client came back on its booked time. */
  admittedOnReturn = 0;

  constructor(private readonly o: AdmissionOptions, now: number, private readonly random: () => number) {
    this.bucket = newBucket(o.connectBurst, now);
    this.limit = new AdaptiveLimit({
      ...DEFAULT_LIMIT_OPTIONS, initial: Math.min(o.maxStarting, DEFAULT_LIMIT_OPTIONS.initial), min: Math.min(o.maxStarting, DEFAULT_LIMIT_OPTIONS.min),
      max: o.maxStarting, targetMs: o.startTargetMs,
    });
    this.sources = new SourceBudget({ ratePerSec: o.sourceRate, burst: o.sourceBurst, maxSources: 100_000 });
    // maxMs: no return is booked further ahead than this. The rate a slot is booked at is measured now; booked
    // 30 s ahead during a few seconds of congestion, it left the gateway idle at 20-50 ms start latency while
    // thousands slept (bench:storm, docs/benchmarks.md). Beyond 10 s a client comes back for a fresh slot
    // instead: one more refusal (tens of µs here) per 10 s of waiting.
    this.retry = new RetrySchedule({ maxMs: RETRY_HORIZON_MS, minWaitMs: 500, periodMs: 1000, headroom: 1.5 }, now);
  }

  /** Seconds until the last scheduled return of a refused session start (the longest Retry-After in force). */
  retryHorizonS(now: number): number { return Math.round(this.retry.horizonMs(now) / 100) / 10; }

  /** Steps 1 and 2: state that refuses everyone, then the source's budget. */
  precheck(state: { draining: boolean; connections: number }, source: string, now: number): Admission {
    if (state.draining) return { ok: false, error: Errors.DRAINING, retryAfterS: 5 };
    if (state.connections >= this.o.maxConnections) return { ok: false, error: Errors.ADMISSION_MAX_CONNECTIONS, retryAfterS: 10 };
    const wait = this.sources.take(source, now);
    if (wait > 0) return { ok: false, error: Errors.ADMISSION_SOURCE_RATE, retryAfterS: wait + Math.floor(this.random() * 3) };
    return OK;
  }

  /**
   * Step 4, for an upgrade whose token verified. On ok, the caller must `startBegan` (the open follows synchronously).
   * `client` (the token's user and device) finds the client's place in the return line, and books one on refusal.
   * The line is looked at only when the limit is full (the only case its ticket decides anything), so an upgrade
   * to a gateway with room costs no lookup; one admitted then still uses its ticket up (forget, only while the
   * line holds any). Only an expired ticket of a client refused by the connect rate with room stays until the
   * tick's sweep instead of being dropped here: find() never returns it, so no decision changes.
   */
  admitVerified(now: number, client?: string): Admission {
    this.limit.observe(now);
    const full = !this.limit.hasRoom;
    const ticket = full && client !== undefined ? this.returns.find(client, now) : undefined;
    // Before the bucket: a refused connect should not also spend a token.
    if (full) {
      if (ticket !== undefined && now < ticket.dueAt - RETURN_EARLY_MS) {
        // Back before its time: the rest of its wait, same place in the line.
        const ms = Math.max(RETURN_MIN_WAIT_MS, Math.round(ticket.dueAt - now));
        return { ok: false, error: Errors.ADMISSION_STARTING, retryAfterS: Math.max(1, Math.ceil(ms / 1000)), retryAfterMs: ms };
      }
      // Only a slot the schedule reserved is a claim above the limit: a client told a wait past the horizon
      // was promised no slot, and taking the overshoot would refuse one that was (it books a slot now instead).
      const onTime = ticket?.booked === true && this.limit.inFlight < this.limit.limit + Math.ceil(this.limit.limit * RETURN_OVERSHOOT);
      if (!onTime) {
        if (ticket === undefined && client !== undefined && this.returns.userFull(client)) {
          // Its user already holds RETURN_TICKETS_PER_USER tickets (made-up devices, with a token naming none): it
          // is told to come back after the line, and books no slot. Each such refusal booked one before: one token
          // naming new devices pushed every other refused client's return out to the horizon, where it loses
          // its claim above the limit.
          const ms = this.afterLine(now, RETURN_MIN_WAIT_MS);
          return { ok: false, error: Errors.ADMISSION_STARTING, retryAfterS: Math.max(1, Math.ceil(ms / 1000)), retryAfterMs: ms };
        }
        const ms = this.bookReturn(now);
        if (client !== undefined) this.returns.book(client, now + ms, this.retry.booked);
        return { ok: false, error: Errors.ADMISSION_STARTING, retryAfterS: Math.max(1, Math.ceil(ms / 1000)), retryAfterMs: ms };
      }
    }
    if (!take(this.bucket, this.o.connectRate, this.o.connectBurst, now)) {
      const wait = waitMs(this.bucket, this.o.connectRate, now);
      return { ok: false, error: Errors.ADMISSION_RATE, retryAfterS: Math.max(1, Math.ceil(wait / 1000)) + Math.floor(this.random() * 3) };
    }
    // Counted once admitted: an on-time client the connect-rate ceiling refused did not get in (and keeps its ticket).
    if (full) this.admittedOnReturn++;
    if (ticket !== undefined || (!full && client !== undefined && this.returns.size > 0)) this.returns.forget(client!);
    this.retry.admit(now);
    return OK;
  }

  /**
   * The wait (ms) for a start a router shed with a retry hint: never less
   * than the hint (the router's queue drains no sooner). Within the horizon,
   * the first free slot at or after the hint, behind the 503s already
   * booked, at the same rate, on a timetable of its own: a shed never moves
   * the 503s' next slot, so one router's queue estimate does not set every
   * refused client's return time (RetrySchedule.refuseAfter). A hint past
   * the horizon books nothing: the hint plus up to a tenth. Why not
   * hint × (1 + jitter) for all of them, as before: the hint is already the
   * time the router's queue takes to drain, and doubling it at random
   * brought a storm's last few hundred clients back over seconds at
   * 50-70/s while the gateways stood idle (bench:storm, fixed retry: the
   * last 1 % took 8.4 → 11.3 s); booked, they come back at the rate the
   * gateway admits, in the order they were shed.
   */
  shedReturnMs(now: number, hintMs: number, client?: string): number {
    // Past its user's tickets (see admitVerified): after the line and the hint, no slot booked.
    if (client !== undefined && this.returns.userFull(client)) return this.afterLine(now, hintMs);
    const ms = this.retry.refuseAfter(now, this.random, this.floorPerS(), hintMs);
    if (client !== undefined) this.returns.book(client, now + ms, this.retry.booked);
    return ms;
  }

  /** A wait after every return booked and at least `minMs`, jittered up by up to a tenth: no slot is booked. */
  private afterLine(now: number, minMs: number): number {
    return Math.round(Math.max(minMs, this.retry.horizonMs(now)) * (1 + 0.1 * this.random()));
  }

  /** A place in the return schedule of the 503s. */
  private bookReturn(now: number): number {
    return this.retry.refuse(now, this.random, this.floorPerS());
  }

  /** Little's law floor of the return rate: what the limit admits at the latency starts take now (never faster than at the target). */
  private floorPerS(): number {
    return (this.limit.limit * 1000) / Math.max(this.o.startTargetMs, this.limit.latencyMs);
  }

  /** A session start began (the connection opened); returns its start time for `startEnded`. */
  startBegan(now: number): number {
    this.limit.acquire(now);
    return now;
  }

  startEnded(startedAt: number, now: number, outcome: SampleOutcome): void {
    this.limit.release(startedAt, now, outcome);
  }

  /**
   * How long to wait for the router's answer: 4 × the smoothed latency, at
   * least 3 × the target, at most the configured timeout. The floor is
   * generous on purpose: a start that times out at the gateway is a 1011
   * and a reconnect, while the router sheds what it cannot start in time
   * anyway (measured on a saturated 2-core machine, a 2 × target floor let
   * event-loop stalls time out starts the router had answered).
   */
  resumeTimeoutMs(): number {
    return Math.round(Math.min(this.o.resumeTimeoutMs, Math.max(3 * this.o.startTargetMs, 4 * this.limit.latencyMs)));
  }

  tick(now: number): void {
    this.limit.observe(now);
    this.sources.sweep(now);
    this.returns.sweep(now);
  }
}
