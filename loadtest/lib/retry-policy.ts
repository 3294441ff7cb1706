/**
 * Reconnect policies for the load tools: the SDK's (full jitter, its own
 * formula and defaults) and the naive fixed 1 s retry it is compared with,
 * plus the close-code advice. Plain ES module (bundled for k6, like
 * protocol-session.ts, whose ClientSession takes a RetryPolicy).
 */
import { closeCodeInfo, type ReconnectAdvice } from '../../protocol/close-codes.js';
import { DEFAULT_BACKOFF, backoffDelay, retryAfterDelay } from '../../sdk/src/backoff.js';

export type CloseAdvice = ReconnectAdvice;

/** What a client does after a close code (the close-code table, §11); codes the table does not define mean backoff. */
export function closeAdvice(code: number): CloseAdvice {
  return closeCodeInfo(code)?.reconnect ?? 'backoff';
}

export interface RetryPolicy {
  /** 'full-jitter': uniform in [0, min(cap, base·2^n)) (the SDK). 'fixed': always `baseMs`, no jitter. */
  mode: 'full-jitter' | 'fixed';
  baseMs: number;
  capMs: number;
  /** Extra random fraction on top of a 503's Retry-After (SDK: 0.5). 'fixed' adds none. */
  retryAfterJitter: number;
  /** A connection up at least this long resets the attempt counter (SDK: healthyAfterMs). */
  healthyAfterMs: number;
  /** 'fixed' only: retry after `baseMs` even when the server said when (Retry-After, a reconnect frame's delay). */
  ignoreServerWait?: boolean;
}

/** The SDK's defaults (sdk/src/backoff.ts DEFAULT_BACKOFF, taken from there). */
export const SDK_RETRY: Readonly<RetryPolicy> = Object.freeze({ mode: 'full-jitter', ...DEFAULT_BACKOFF });
/** The usual naive client: retry every second, everyone at the same moment. */
export const FIXED_RETRY: Readonly<RetryPolicy> = Object.freeze({ mode: 'fixed', baseMs: 1_000, capMs: 1_000, retryAfterJitter: 0, healthyAfterMs: 30_000 });
/** A field client on its own clock: every second, whatever Retry-After says (what the return line's "back early" rule is for). */
export const DEAF_RETRY: Readonly<RetryPolicy> = Object.freeze({ ...FIXED_RETRY, ignoreServerWait: true });

/** The load tools' client policies by name: the SDK's, fixed 1 s honouring server waits, fixed 1 s ignoring them. */
export type RetryModeName = 'sdk' | 'fixed' | 'deaf';
export const RETRY_MODES: readonly RetryModeName[] = Object.freeze(['sdk', 'fixed', 'deaf']);
export function retryPolicyFor(name: RetryModeName): Readonly<RetryPolicy> {
  return name === 'deaf' ? DEAF_RETRY : name === 'fixed' ? FIXED_RETRY : SDK_RETRY;
}

/**
 * Delay before reconnect attempt `attempt` (0-based); a server's Retry-After (ms) is honoured as a floor.
 * 'full-jitter' is the SDK's own formula (sdk/src/backoff.ts), not a copy of it.
 */
export function retryDelay(p: RetryPolicy, attempt: number, random: () => number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return retryAfterDelay({ retryAfterJitter: p.mode === 'fixed' ? 0 : p.retryAfterJitter }, retryAfterMs, random);
  if (p.mode === 'fixed') return p.baseMs;
  return backoffDelay(p, attempt, random);
}
