/**
 * Smart (adaptive) heartbeat: learn, per network, the longest idle interval
 * that the path's NAT/firewall lets a TCP connection survive, and heartbeat
 * just below it. Modelled on Tencent Mars (mars/stn/src/smart_heartbeat.cc).
 *
 * What counts as a result (decided by the caller, connection.ts; Mars's rules):
 *  - success: a heartbeat sent after the link was idle for the *current*
 *    interval got its ack. A beat sent at any other interval (the jittered
 *    first beat, a link check after a network change, an announcement) proves
 *    nothing about this interval and is not reported. The policy also ignores
 *    a result whose interval differs from its current one (Mars: "dynamic heart
 *    stop by some reason").
 *  - failure: a beat sent by the idle timer got no ack before the client's
 *    heartbeat timeout (zombie), or the socket died abnormally (1006, no close
 *    frame) while the ack was awaited. That includes the jittered first beat:
 *    it waited *less* than the interval, so its death shows the interval is too
 *    long all the more; and if it did not count, a link that dies on every
 *    first beat would never reach a probe and never learn. A close that arrives
 *    with a close frame proves the path was alive, and a death while no ack was
 *    awaited, or after a link check / announcement (sent right after other
 *    traffic or on a network switch), says nothing about idleness: none counts.
 *  - a failure at the minimum interval is ignored: then the network is bad, and
 *    backing off further cannot help (Mars does the same).
 *  - a beat whose timer fired far too late (device asleep, throttled background
 *    tab) was idle much longer than the interval: not counted (client.ts).
 *
 * Learning (all counts are consecutive, at the current interval):
 *  - probing: `successesToStep` successes → interval += step. At the maximum,
 *    `successesToStep` successes → settle at max − margin.
 *    `failuresToBackOff` failures → settle at interval − step − margin, i.e.
 *    the largest interval that survived minus the safety margin.
 *  - stable: `failuresToBackOff` failures → the old value no longer holds (the
 *    NAT changed under the same network key): restart probing from the minimum
 *    (or, at or below the minimum, descend as above).
 *    After `reprobeAfterMs` stable (and `successesToStep` fresh successes) →
 *    re-probe from the largest interval that survived (interval + margin), in
 *    case the NAT timeout grew.
 *
 * The policy is pure: no timers, no I/O. Time comes from `wallNow` (persisted
 * timestamps survive restarts, so they are wall-clock).
 */

export interface SmartHeartbeatConfig {
  /** Safe starting interval, and the floor (ms). Mars: 3.5 min. */
  minMs: number;
  /** Ceiling (ms). Mars: 10 min. */
  maxMs: number;
  /** Probe step (ms). Mars: 60 s. */
  stepMs: number;
  /** Safety margin below the largest interval that survived (ms). Mars: 20 s. */
  marginMs: number;
  /** Consecutive successes at an interval before stepping up. Mars: 5. */
  successesToStep: number;
  /** Consecutive failures at an interval before backing off. Mars: 2. */
  failuresToBackOff: number;
  /** Stable this long (ms, wall clock) → re-probe upward. Mars: a day (on Wednesdays). */
  reprobeAfterMs: number;
}

export const MARS_DEFAULTS: Readonly<SmartHeartbeatConfig> = Object.freeze({
  minMs: 210_000,
  maxMs: 600_000,
  stepMs: 60_000,
  marginMs: 20_000,
  successesToStep: 5,
  failuresToBackOff: 2,
  reprobeAfterMs: 24 * 3_600_000,
});

/** What is remembered per network (storage.ts persists it). */
export interface HeartbeatRecord {
  intervalMs: number;
  stable: boolean;
  successes: number;
  failures: number;
  /** Wall-clock ms of the last change of interval or stability. */
  modifiedAt: number;
  /** Searching downward below the configured minimum (absent: false). */
  descending?: boolean;
}

export type ChangeReason = 'step-up' | 'settle' | 'settle-at-max' | 'restart' | 'reprobe' | 'network' | 'bounds' | 'below-min';

export interface PolicyChange {
  fromMs: number;
  toMs: number;
  stable: boolean;
  reason: ChangeReason;
}

/** What the client needs from a heartbeat policy (smart or fixed). */
export interface HeartbeatPolicy {
  readonly intervalMs: number;
  readonly stable: boolean;
  readonly smart: boolean;
  /** Switches to `network`'s learned state (`undefined`: nothing learned yet). */
  useNetwork(rec: HeartbeatRecord | undefined): PolicyChange | undefined;
  record(): HeartbeatRecord;
  /** Server bounds from hello.hb; the effective range is their intersection with the config. */
  setBounds(minMs: number, maxMs: number): PolicyChange | undefined;
  onSuccess(intervalMs: number): PolicyChange | undefined;
  onFailure(intervalMs: number): PolicyChange | undefined;
}

export function validateSmartConfig(c: SmartHeartbeatConfig): void {
  for (const [k, v] of Object.entries(c)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`heartbeat.${k} must be a finite number >= 0`);
  }
  if (c.minMs < 100) throw new RangeError('heartbeat.minMs must be >= 100 (the protocol minimum)');
  if (c.maxMs < c.minMs) throw new RangeError('heartbeat.maxMs must be >= heartbeat.minMs');
  if (c.stepMs <= 0) throw new RangeError('heartbeat.stepMs must be > 0');
  if (c.successesToStep < 1 || c.failuresToBackOff < 1) throw new RangeError('heartbeat.successesToStep and failuresToBackOff must be >= 1');
}

export class SmartHeartbeatPolicy implements HeartbeatPolicy {
  readonly smart = true;
  private rec: HeartbeatRecord;
  private lo: number;
  private hi: number;
  /** The server's minimum (hello.hb.minMs), once a hello said it. */
  private serverMin: number | undefined;

  constructor(private readonly cfg: SmartHeartbeatConfig, private readonly wallNow: () => number) {
    validateSmartConfig(cfg);
    this.lo = cfg.minMs;
    this.hi = cfg.maxMs;
    this.rec = this.fresh();
  }

  get intervalMs(): number { return this.rec.intervalMs; }
  get stable(): boolean { return this.rec.stable; }
  /** Effective bounds (config ∩ server), and the floor a descent may reach (the server's minimum). */
  get bounds(): { minMs: number; maxMs: number; floorMs: number } { return { minMs: this.lo, maxMs: this.hi, floorMs: this.floor }; }

  /** How far a descent may go: the server's minimum; no descent before a server said what it allows. */
  private get floor(): number { return this.serverMin === undefined ? this.lo : Math.min(this.lo, this.serverMin); }

  record(): HeartbeatRecord { return { ...this.rec }; }

  useNetwork(rec: HeartbeatRecord | undefined): PolicyChange | undefined {
    const from = this.rec.intervalMs;
    this.rec = rec === undefined ? this.fresh() : { ...rec };
    this.clampRecord();
    return this.change(from, 'network');
  }

  setBounds(minMs: number, maxMs: number): PolicyChange | undefined {
    const from = this.rec.intervalMs;
    this.lo = Math.max(this.cfg.minMs, minMs);
    this.hi = Math.max(this.lo, Math.min(this.cfg.maxMs, maxMs));
    this.serverMin = Math.max(100, minMs);
    this.clampRecord();
    return this.change(from, 'bounds');
  }

  onSuccess(intervalMs: number): PolicyChange | undefined {
    const r = this.rec;
    if (intervalMs !== r.intervalMs) return undefined;
    r.failures = 0;
    r.successes++;
    const from = r.intervalMs;
    if (r.descending === true) {
      if (r.successes < this.cfg.successesToStep) return undefined;
      this.set(Math.max(this.floor, r.intervalMs - this.cfg.marginMs), true);
      return this.change(from, 'settle', true);
    }
    if (r.stable) {
      if (r.successes >= this.cfg.successesToStep && r.intervalMs < this.hi && this.wallNow() - r.modifiedAt >= this.cfg.reprobeAfterMs) {
        // Back to the largest interval that survived; probing continues from there.
        this.set(Math.min(this.hi, r.intervalMs + this.cfg.marginMs), false);
        return this.change(from, 'reprobe');
      }
      return undefined;
    }
    if (r.successes < this.cfg.successesToStep) return undefined;
    if (r.intervalMs >= this.hi) {
      this.set(Math.max(this.lo, this.hi - this.cfg.marginMs), true);
      return this.change(from, 'settle-at-max', true);
    }
    this.set(Math.min(this.hi, r.intervalMs + this.cfg.stepMs), false);
    return this.change(from, 'step-up');
  }

  onFailure(intervalMs: number): PolicyChange | undefined {
    const r = this.rec;
    // At the server's floor nothing lower is allowed: the network is bad, not the NAT (Mars' rule).
    if (intervalMs !== r.intervalMs || r.intervalMs <= this.floor) return undefined;
    r.successes = 0;
    r.failures++;
    if (r.failures < this.cfg.failuresToBackOff) return undefined;
    const from = r.intervalMs;
    if (r.descending === true || r.intervalMs <= this.lo) {
      // The NAT forgets sooner than our minimum: go below it, a step at a time.
      this.set(Math.max(this.floor, r.intervalMs - this.cfg.stepMs), false, true);
      return this.change(from, 'below-min', true);
    }
    if (r.stable) {
      this.set(this.lo, false);
      return this.change(from, 'restart', true);
    }
    this.set(Math.max(this.lo, r.intervalMs - this.cfg.stepMs - this.cfg.marginMs), true);
    return this.change(from, 'settle', true);
  }

  private fresh(): HeartbeatRecord {
    return { intervalMs: this.lo, stable: false, successes: 0, failures: 0, modifiedAt: this.wallNow() };
  }

  private set(intervalMs: number, stable: boolean, descending = false): void {
    this.rec = { intervalMs, stable, successes: 0, failures: 0, modifiedAt: this.wallNow(), ...(descending ? { descending } : {}) };
  }

  /**
   * A record below the minimum was learned by descending: kept while the server
   * allows it (before any hello, down to the protocol minimum).
   */
  private clampRecord(): void {
    const r = this.rec;
    if (r.intervalMs < (this.serverMin ?? 100)) this.set(this.lo, false);
    else if (r.intervalMs > this.hi) this.set(Math.max(this.lo, this.hi - (r.stable ? this.cfg.marginMs : 0)), r.stable);
  }

  private change(from: number, reason: ChangeReason, always = false): PolicyChange | undefined {
    if (!always && from === this.rec.intervalMs) return undefined;
    return { fromMs: from, toMs: this.rec.intervalMs, stable: this.rec.stable, reason };
  }
}

/** A fixed interval (smart heartbeat off): nothing is learned; the server's bounds still clamp it. */
export class FixedHeartbeatPolicy implements HeartbeatPolicy {
  readonly smart = false;
  readonly stable = true;
  private current: number;

  constructor(private readonly fixedMs: number) {
    if (!(fixedMs >= 100)) throw new RangeError('heartbeat.intervalMs must be >= 100');
    this.current = fixedMs;
  }

  get intervalMs(): number { return this.current; }
  record(): HeartbeatRecord { return { intervalMs: this.current, stable: true, successes: 0, failures: 0, modifiedAt: 0 }; }
  useNetwork(): PolicyChange | undefined { return undefined; }

  setBounds(minMs: number, maxMs: number): PolicyChange | undefined {
    const from = this.current;
    this.current = Math.min(Math.max(this.fixedMs, minMs), Math.max(minMs, maxMs));
    return from === this.current ? undefined : { fromMs: from, toMs: this.current, stable: true, reason: 'bounds' };
  }

  onSuccess(): PolicyChange | undefined { return undefined; }
  onFailure(): PolicyChange | undefined { return undefined; }
}

/** Checks a record read back from storage; anything malformed is treated as "nothing learned". */
export function isHeartbeatRecord(v: unknown): v is HeartbeatRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const num = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  return num(r.intervalMs) && typeof r.stable === 'boolean' && num(r.successes) && num(r.failures) && num(r.modifiedAt)
    && (r.descending === undefined || typeof r.descending === 'boolean');
}
