/**
 * In-band token refresh (docs/protocol.md §3): when the gateway's hello says
 * how long the token has left, ask the app for a new token at a random point
 * late in that life (between `fromFraction` and `toFraction` of it) and send
 * it in a `refresh` frame. Tokens issued together then do not expire
 * together, and no connection is dropped for expiry (4002 stays the fallback
 * for a refresh that never succeeded). Jittered per client, so a fleet does
 * not ask its token service in the same second either.
 */
import type { RefreshedFrame } from '../../protocol/index.js';
import type { Timer, Timers } from './timers.js';

export interface TokenRefreshOptions {
  /** Fraction of the token's remaining life where the refresh window opens / closes. */
  fromFraction: number;
  toFraction: number;
  /** Below this much life left, a failed refresh is not retried (the 4002 path takes over). */
  minRetryMs: number;
}

/**
 * Longest single refresh timer (24 h). A token valid for weeks puts its
 * refresh weeks ahead; the wait is armed in steps of at most this, so it
 * stays within every platform's timer range whatever `Timers` the app gave
 * (past 2^31-1 ms setTimeout fires at once: a token-provider hot loop).
 */
export const MAX_REFRESH_STEP_MS = 86_400_000;

export const DEFAULT_TOKEN_REFRESH: Readonly<TokenRefreshOptions> = Object.freeze({ fromFraction: 0.7, toFraction: 0.9, minRetryMs: 2000 });

export interface TokenRefreshDeps {
  timers: Timers;
  random: () => number;
  /** The app's token provider, asked with `refresh: true`. */
  token(): Promise<string>;
  /** Sends the `refresh` frame on the current connection. */
  send(frame: string): void;
  error(err: Error): void;
}

export class TokenRefresher {
  private timer: Timer | undefined;
  private generation = 0;
  /** Monotonic time at which the token expires, as the gateway counts it. */
  private expiresAt = 0;
  refreshes = 0;
  failures = 0;

  constructor(private readonly o: TokenRefreshOptions, private readonly d: TokenRefreshDeps) {}

  /** A connection opened; the gateway's hello said the token has `expiresInMs` left (undefined: no in-band refresh). */
  start(expiresInMs: number | undefined): void {
    this.stop();
    if (expiresInMs === undefined) return;
    this.expiresAt = this.d.timers.now() + expiresInMs;
    this.schedule(this.o.fromFraction, this.o.toFraction);
  }

  /** The gateway's answer to a refresh. */
  answered(f: RefreshedFrame): void {
    if (f.expiresInMs !== undefined) {
      this.refreshes++;
      this.expiresAt = this.d.timers.now() + f.expiresInMs;
      this.schedule(this.o.fromFraction, this.o.toFraction);
      return;
    }
    this.failures++;
    this.d.error(new Error(`token refresh refused: ${f.error ?? 'unknown'}`));
    this.retry();
  }

  /** The connection ended. */
  stop(): void {
    this.generation++;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(from: number, to: number): void {
    this.timer?.cancel();
    const left = this.expiresAt - this.d.timers.now();
    const at = Math.max(0, left * (from + (to - from) * this.d.random()));
    this.arm(this.d.timers.now() + at, this.generation);
  }

  /** Fires at monotonic time `due`, in steps of at most MAX_REFRESH_STEP_MS. */
  private arm(due: number, gen: number): void {
    const wait = Math.min(MAX_REFRESH_STEP_MS, Math.max(0, due - this.d.timers.now()));
    this.timer = this.d.timers.setTimeout(() => {
      if (gen !== this.generation) return;
      if (this.d.timers.now() < due) this.arm(due, gen);
      else this.fire(gen);
    }, wait);
  }

  private fire(gen: number): void {
    this.timer = undefined;
    this.d.token().then(
      (token) => { if (gen === this.generation) this.d.send(JSON.stringify({ op: 'refresh', token })); },
      (err: unknown) => {
        if (gen !== this.generation) return;
        this.failures++;
        this.d.error(err instanceof Error ? err : new Error(String(err)));
        this.retry();
      },
    );
  }

  /** Another try in the second half of what is left, while that is worth it. */
  private retry(): void {
    if (this.expiresAt - this.d.timers.now() >= this.o.minRetryMs) this.schedule(0.5, 0.8);
  }
}
