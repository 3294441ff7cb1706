/**
 * The reconnect state machine (docs/sdk.md has the diagram).
 *
 *   idle ──connect()──▶ connecting ──hello──▶ connected
 *                          │  ▲                   │
 *             lost (retry) │  │ timer / wake      │ lost (retry)
 *                          ▼  │                   ▼
 *                        disconnected ◀───────────┘
 *   lost (terminal) ──▶ replaced | kicked | logged-out | failed | closed
 *   close() from anywhere ──▶ closed
 *
 * Invariants:
 *  - At most one connection attempt or connection exists: `attempt()` runs
 *    only from a non-connecting, non-connected state and sets 'connecting'
 *    before calling out, so racing wake-ups (online + visible + the retry
 *    timer in the same tick) start exactly one attempt.
 *  - Wake-ups (network available, online, page visible) are ignored while
 *    connecting or connected, and in idle/terminal states (only the app's
 *    `connect()` leaves those). From 'disconnected' they start an attempt at
 *    once, except that a server-imposed wait (Retry-After, a reconnect frame's
 *    delay) is still honoured.
 *  - Every loss goes through 'disconnected' (the client is offline) before the
 *    next attempt, including a heartbeat failure.
 *
 * What a loss leads to is decided by `decide()` from the close code's advice
 * (protocol/close-codes.ts) or the refused upgrade's HTTP
 * status.
 */
import type { BackoffConfig } from './backoff.js';
import { decide, type Decision, type LossInfo, type TerminalState } from './reconnect-decision.js';
import type { Timer, Timers } from './timers.js';

export { decide, type Decision, type LossInfo, type TerminalState };

export type ClientState = 'idle' | 'connecting' | 'connected' | 'disconnected' | TerminalState;

const TERMINAL: ReadonlySet<ClientState> = new Set<ClientState>(['replaced', 'kicked', 'logged-out', 'failed', 'closed']);
export const isTerminal = (s: ClientState): s is TerminalState => TERMINAL.has(s);

export type WakeSource = 'online' | 'visible' | 'network' | 'app';

export interface StateChange {
  from: ClientState;
  to: ClientState;
  reason: string;
}

export interface MachineHooks {
  /** Start one connection attempt. It must end in `opened()` or `lost()`. */
  connect(refreshToken: boolean): void;
  /** Drop the current socket, if any (used by `stop()`). */
  abort(reason: string): void;
  state(change: StateChange): void;
  /** A retry was scheduled. */
  retry(delayMs: number, why: string): void;
}

export class ReconnectMachine {
  private s: ClientState = 'idle';
  private attempts = 0;
  private timer: Timer | undefined;
  private notBefore = 0;
  private needFreshToken = false;
  private connectedAt: number | undefined;
  /** Counts attempts started, for tests and stats. */
  attemptsStarted = 0;

  constructor(
    private readonly cfg: BackoffConfig,
    private readonly timers: Timers,
    private readonly random: () => number,
    private readonly hooks: MachineHooks,
  ) {}

  get state(): ClientState { return this.s; }
  /** Backoff attempt counter (0 after a healthy connection). */
  get backoffAttempt(): number { return this.attempts; }

  /** The app asks to connect. Starts an attempt unless one is under way or connected. */
  start(): boolean {
    if (this.s === 'connecting' || this.s === 'connected') return false;
    if (this.s === 'disconnected') return this.wake('app');
    this.attempts = 0;
    this.notBefore = 0;
    return this.attempt('connect()');
  }

  /** Network available / online / page visible. */
  wake(source: WakeSource): boolean {
    if (this.s !== 'disconnected') return false;
    const wait = this.notBefore - this.timers.now();
    if (wait > 0) {
      this.arm(wait, `${source}: waiting for the server's delay`);
      return false;
    }
    return this.attempt(`wake: ${source}`);
  }

  /** The server's hello arrived. */
  opened(): void {
    if (this.s !== 'connecting') return;
    this.needFreshToken = false;
    this.connectedAt = this.timers.now();
    this.set('connected', 'hello received');
  }

  /** The connection or attempt ended. Returns the decision taken (undefined if not applicable). */
  lost(info: LossInfo): Decision | undefined {
    if (this.s !== 'connecting' && this.s !== 'connected') return undefined;
    if (this.connectedAt !== undefined && this.timers.now() - this.connectedAt >= this.cfg.healthyAfterMs) this.attempts = 0;
    this.connectedAt = undefined;
    const d = decide(info, this.attempts, this.cfg, this.random);
    if (d.kind === 'terminal') {
      this.set(d.state, d.why);
      return d;
    }
    if (d.countsAsAttempt) this.attempts++;
    if (d.refreshToken) this.needFreshToken = true;
    this.notBefore = d.serverWait ? this.timers.now() + d.delayMs : 0;
    // Offline first, then the retry: listeners see 'disconnected' before any new attempt.
    this.set('disconnected', d.why);
    if (this.state === 'disconnected') { // a state listener may have closed the client
      this.arm(d.delayMs, d.why);
      this.hooks.retry(d.delayMs, d.why);
    }
    return d;
  }

  /** The app closes the client (or an error forces it): no more attempts. */
  stop(reason = 'closed by the app'): void {
    this.cancel();
    if (this.s === 'closed') return;
    const wasLive = this.s === 'connecting' || this.s === 'connected';
    this.connectedAt = undefined;
    this.set('closed', reason);
    if (wasLive) this.hooks.abort(reason);
  }

  private attempt(reason: string): boolean {
    this.cancel();
    this.attemptsStarted++;
    this.set('connecting', reason);
    if (this.state !== 'connecting') return false; // a state listener closed the client
    this.hooks.connect(this.needFreshToken);
    return true;
  }

  private arm(delayMs: number, why: string): void {
    this.cancel();
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (this.s === 'disconnected') this.attempt(`retry: ${why}`);
    }, delayMs);
  }

  private cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private set(to: ClientState, reason: string): void {
    const from = this.s;
    if (from === to) return;
    this.s = to;
    if (isTerminal(to)) this.cancel();
    this.hooks.state({ from, to, reason });
  }
}
