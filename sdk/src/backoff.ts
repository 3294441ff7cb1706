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
 * not come back together (docs/protocol.md §2.3). A Retry-After-Ms (the
 * gateway's admission schedule, already spread) is honoured exactly.
 *
 * Every wait a server names (Retry-After, Retry-After-Ms, a `reconnect`
 * frame's delayMs) is clamped to [SERVER_WAIT_MIN_MS, SERVER_WAIT_MAX_MS]
 * (docs/sdk.md): a buggy or hostile gateway must not be able to set the
 * client into a hot reconnect loop (a wait of 0, or one past setTimeout's
 * 2^31-1 ms range, which platforms fire at once) nor park it for weeks.
 * A wait below the floor is not trusted as a schedule at all: the client
 * backs off as for an unexplained loss (reconnect-decision.ts).
 */

/** Shortest server-named wait honoured as given (ms); below it the client backs off instead. */
export const SERVER_WAIT_MIN_MS = 250;
/** Longest server-named wait (ms) the client accepts; longer ones are cut to this. */
export const SERVER_WAIT_MAX_MS = 3_600_000;

/** A server's wait as the client honours it: at most SERVER_WAIT_MAX_MS; undefined when below SERVER_WAIT_MIN_MS (or not a number). */
export function trustedServerWait(ms: number): number | undefined {
  if (!(ms >= SERVER_WAIT_MIN_MS)) return undefined;
  return Math.min(SERVER_WAIT_MAX_MS, ms);
}

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

/**
 * Delay honouring a server's Retry-After (ms): at least that, plus up to
 * `retryAfterJitter` of it. `exact`: the wait came from Retry-After-Ms, a
 * place in the server's own return schedule (already spread over its crowd),
 * so it is kept as given: jitter on top would bring the crowd back later and
 * less evenly than the server planned.
 */
export function retryAfterDelay(cfg: Pick<BackoffConfig, 'retryAfterJitter'>, retryAfterMs: number, random: () => number, exact = false): number {
  return exact ? Math.floor(retryAfterMs) : Math.floor(retryAfterMs * (1 + random() * cfg.retryAfterJitter));
}

/** Parses a Retry-After-Ms value (whole milliseconds, at most one hour); undefined if absent or malformed. */
export function parseRetryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!/^\d{1,7}$/.test(v)) return undefined;
  const ms = Number(v);
  return ms <= 3_600_000 ? ms : undefined;
}

/**
 * The wait a refused upgrade names: Retry-After-Ms when present and valid
 * (exact), else Retry-After (delta-seconds or HTTP-date); undefined if neither.
 */
export function refusalWait(retryAfter: string | undefined, retryAfterMs: string | undefined, wallNow: number): { retryAfterMs: number; retryAfterExact?: true } | undefined {
  const exact = parseRetryAfterMs(retryAfterMs);
  if (exact !== undefined) return { retryAfterMs: exact, retryAfterExact: true };
  const ms = parseRetryAfter(retryAfter, wallNow);
  return ms === undefined ? undefined : { retryAfterMs: ms };
}

/** Parses an HTTP Retry-After value (delta-seconds or HTTP-date) into ms; undefined if absent or malformed. */
export function parseRetryAfter(value: string | undefined, wallNow: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  // Capped at SERVER_WAIT_MAX_MS: a far-future date or a huge delta is not a reason to wait for weeks.
  if (/^\d{1,9}$/.test(v)) return Math.min(SERVER_WAIT_MAX_MS, Number(v) * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.min(SERVER_WAIT_MAX_MS, Math.max(0, date - wallNow));
}
