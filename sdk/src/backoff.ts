/**
 * Reconnect delays: exponential backoff with full jitter and a cap (AWS
 * Architecture Blog, "Exponential Backoff And Jitter"):
 *
 *     delay(n) = random() * min(capMs, baseMs * 2^n)      n = 0, 1, 2, ...
 *
 * Full jitter spreads a crowd that lost its gateway at the same instant over
 * the whole window instead of bringing it back in synchronized waves.
 *
 * A 503 with Retry-After is honoured: wait at least Retry-After, plus up to
 * `retryAfterJitter` (default 50 %) more, so a crowd turned away together does
 * not come back together (docs/protocol.md §2.3).
 */

export interface BackoffConfig {
  /** Window of the first retry (ms). */
  baseMs: number;
  /** Largest window (ms). */
  capMs: number;
  /**
   * A connection that stayed up at least this long (ms) counts as healthy:
   * losing it restarts the backoff at attempt 0. A connection that dies sooner
   * (accepted, then closed at once) keeps climbing, so a server that accepts and
   * drops does not get a hot reconnect loop.
   */
  healthyAfterMs: number;
  /** Extra random fraction added on top of a server's Retry-After (0.5 = up to +50 %). */
  retryAfterJitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffConfig> = Object.freeze({
  baseMs: 1_000,
  capMs: 60_000,
  healthyAfterMs: 30_000,
  retryAfterJitter: 0.5,
});

/** The window for attempt `n` (0-based) before jitter: min(cap, base * 2^n). */
export function backoffWindow(cfg: Pick<BackoffConfig, 'baseMs' | 'capMs'>, attempt: number): number {
  // 2^n overflows to Infinity for large n; min() then picks the cap, which is what we want.
  return Math.min(cfg.capMs, cfg.baseMs * Math.pow(2, Math.max(0, attempt)));
}

/** Full-jitter delay for attempt `n`: uniform in [0, window). */
export function backoffDelay(cfg: Pick<BackoffConfig, 'baseMs' | 'capMs'>, attempt: number, random: () => number): number {
  return Math.floor(random() * backoffWindow(cfg, attempt));
}

/** Delay honouring a server's Retry-After (ms): at least that, plus up to `retryAfterJitter` of it. */
export function retryAfterDelay(cfg: Pick<BackoffConfig, 'retryAfterJitter'>, retryAfterMs: number, random: () => number): number {
  return Math.floor(retryAfterMs * (1 + random() * cfg.retryAfterJitter));
}

/** Parses an HTTP Retry-After value (delta-seconds or HTTP-date) into ms; undefined if absent or malformed. */
export function parseRetryAfter(value: string | undefined, wallNow: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - wallNow);
}
