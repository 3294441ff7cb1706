/**
 * When to send heartbeats on one connection, and when the connection is a
 * zombie. Protocol rules (docs/protocol.md §5.1):
 *
 *  - Last-packet time: a heartbeat is sent only after nothing was sent or
 *    received for one interval. Every frame either way moves the due time; the
 *    single timer re-arms lazily when it fires early (no timer churn per frame).
 *  - The first beat after connect comes after a jittered idle span, uniform in
 *    [interval/2, interval), so clients that reconnected together do not beat
 *    together.
 *  - Zombie rule: after a beat, if no frame at all arrives within
 *    min(interval, timeoutMs), the link is dead even though the socket looks
 *    open.
 *
 * Each beat carries a kind, so the smart policy learns only from beats that
 * really tested the current interval ('probe': sent after a full idle
 * interval). 'first' (jittered), 'check' (after a network change) and
 * 'announce' (telling the gateway a new interval) prove nothing about it.
 */
import type { Timer, Timers } from './timers.js';

export type BeatKind = 'first' | 'probe' | 'check' | 'announce';

export interface Beat {
  kind: BeatKind;
  /** The interval in force when the beat was sent. */
  intervalMs: number;
  sentAt: number;
  /** How long the link had been idle when the beat went out (more than the interval if the timer fired late, e.g. after a sleep). */
  idleMs: number;
  /** A frame arrived after this beat was sent: the path is alive, whatever happens next. */
  aliveSeen: boolean;
}

export interface SchedulerHooks {
  /** Write a heartbeat frame, announcing `intervalMs` when given. */
  send(announceMs: number | undefined): void;
  /** No frame within the timeout after `beat`: the link is a zombie. */
  zombie(beat: Beat): void;
}

export interface SchedulerConfig {
  /** Upper bound of the zombie wait (ms); the wait is min(interval, timeoutMs). */
  timeoutMs: number;
}

/** The client's default `heartbeat.timeoutMs` (docs/sdk.md). */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 60_000;

export class HeartbeatScheduler {
  private intervalMs = 0;
  /** The interval the gateway applies (hello, then our announcements, then ack corrections). */
  private serverMs = 0;
  private lastActivity = 0;
  /** While the first beat is pending: its idle span as a fraction of the interval, in [0.5, 1). */
  private firstFactor: number | undefined;
  private idleTimer: Timer | undefined;
  private zombieTimer: Timer | undefined;
  private outstanding: Beat | undefined;
  private running = false;
  beatsSent = 0;

  constructor(
    private readonly timers: Timers,
    private readonly random: () => number,
    private readonly cfg: SchedulerConfig,
    private readonly hooks: SchedulerHooks,
  ) {}

  /** The beat awaiting its ack, if any. */
  get pending(): Beat | undefined { return this.outstanding; }
  get currentIntervalMs(): number { return this.intervalMs; }

  /** Hello arrived: `intervalMs` is what we will use, `serverMs` what the gateway applies now. */
  start(intervalMs: number, serverMs: number): void {
    this.running = true;
    this.intervalMs = intervalMs;
    this.serverMs = serverMs;
    this.lastActivity = this.timers.now();
    this.firstFactor = 0.5 + 0.5 * this.random();
    if (intervalMs !== serverMs) this.beat('announce');
    this.arm();
  }

  stop(): void {
    this.running = false;
    this.idleTimer?.cancel();
    this.zombieTimer?.cancel();
    this.idleTimer = this.zombieTimer = undefined;
  }

  /** A frame was sent (by anyone on this connection). */
  sent(): void {
    this.lastActivity = this.timers.now();
  }

  /** A frame was received. Any frame proves the path alive: the zombie wait ends. */
  received(): void {
    this.lastActivity = this.timers.now();
    if (this.outstanding !== undefined && !this.outstanding.aliveSeen) {
      this.outstanding.aliveSeen = true;
      this.zombieTimer?.cancel();
      this.zombieTimer = undefined;
      this.arm();
    }
  }

  /**
   * A heartbeat ack was received (after `received()`); `serverMs` is set when
   * the gateway corrected our interval. `learn` runs with the beat it answered
   * before anything else is sent, so an interval change it causes is announced
   * at once.
   */
  ack(serverMs: number | undefined, learn: (beat: Beat | undefined, rttMs: number) => void): void {
    if (serverMs !== undefined) this.serverMs = serverMs;
    const b = this.outstanding;
    this.outstanding = undefined;
    learn(b, b === undefined ? 0 : this.timers.now() - b.sentAt);
    if (!this.running || b === undefined) return;
    // An interval change made while this beat was in flight is announced now,
    // before the gateway's deadline for the old interval can run out.
    if (this.serverMs !== this.intervalMs) this.beat('announce');
    this.arm();
  }

  /** The policy picked a new interval: tell the gateway now (if no beat is in flight; else with the next one). */
  setInterval(intervalMs: number): void {
    this.intervalMs = intervalMs;
    if (!this.running) return;
    if (this.outstanding === undefined && this.serverMs !== intervalMs) this.beat('announce');
    this.arm();
  }

  /** Test the link now (e.g. the network changed): a beat whose silence means a zombie. */
  check(): void {
    if (!this.running || this.outstanding !== undefined) return;
    this.beat('check');
  }

  private arm(): void {
    if (!this.running) return;
    this.idleTimer?.cancel();
    const due = this.lastActivity + this.span();
    this.idleTimer = this.timers.setTimeout(() => this.onIdle(), Math.max(0, due - this.timers.now()));
  }

  private onIdle(): void {
    this.idleTimer = undefined;
    if (!this.running) return;
    const b = this.outstanding;
    if (b !== undefined) {
      // Waiting for an ack: the zombie timer decides. Only if the path proved alive
      // but the ack never came (a gateway bug) do we give up on it and beat again.
      if (!b.aliveSeen) return; // the zombie timer decides; ack() / received() re-arm
      if (this.timers.now() - b.sentAt < this.intervalMs) {
        this.arm();
        return;
      }
      this.outstanding = undefined;
    }
    if (this.timers.now() - this.lastActivity < this.span()) {
      this.arm();
      return;
    }
    const kind = this.firstFactor !== undefined ? 'first' : 'probe';
    this.firstFactor = undefined;
    this.beat(kind);
    this.arm();
  }

  private span(): number {
    return this.intervalMs * (this.firstFactor ?? 1);
  }

  private beat(kind: BeatKind): void {
    const now = this.timers.now();
    const announce = this.serverMs !== this.intervalMs ? this.intervalMs : undefined;
    if (announce !== undefined) this.serverMs = announce;
    const b: Beat = { kind, intervalMs: this.intervalMs, sentAt: now, idleMs: now - this.lastActivity, aliveSeen: false };
    this.outstanding = b;
    this.beatsSent++;
    this.lastActivity = now;
    this.hooks.send(announce);
    if (!this.running) return; // send() failed synchronously and tore the connection down
    this.zombieTimer?.cancel();
    const wait = Math.min(this.intervalMs, this.cfg.timeoutMs);
    this.zombieTimer = this.timers.setTimeout(() => {
      this.zombieTimer = undefined;
      if (this.running && this.outstanding === b && !b.aliveSeen) this.hooks.zombie(b);
    }, wait);
  }
}
