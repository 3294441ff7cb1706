/**
 * The exact first deadline of a timing-wheel tick, so the wheel's touch() can
 * compare a deadline with a boundary instead of dividing (timing-wheel.ts,
 * "Deciding without dividing"). Exact means to the ulp under the very
 * expression the wheel uses for a deadline's tick, T(d) = ceil((d - startMs)
 * / tickMs): a compare against the result decides as T would, rounding
 * included, for any tickMs and startMs.
 */

/** Bisection steps before giving up: ~60 for normal doubles, up to ~1,100 near zero (subnormals). */
const MAX_STEPS = 2048;

/**
 * The smallest double d with ceil((d - startMs) / tickMs) >= k. T is
 * monotonic in d (every step of it rounds monotonically), so bisect between
 * one tick either side of the real-number boundary startMs + (k - 1) x tickMs
 * until the bracket is two adjacent doubles. NaN when the bracket is not
 * finite or does not hold (a caller must then treat every compare as
 * undecided: NaN makes them all false).
 */
export function firstDeadlineOfTick(k: number, startMs: number, tickMs: number): number {
  const tick = (d: number): number => Math.ceil((d - startMs) / tickMs);
  const real = startMs + (k - 1) * tickMs;
  let lo = real - tickMs;
  let hi = real + tickMs;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || tick(lo) >= k || tick(hi) < k) return Number.NaN;
  for (let step = 0; step < MAX_STEPS; step++) {
    const mid = lo + (hi - lo) / 2;
    if (mid === lo || mid === hi) return hi;
    if (tick(mid) >= k) hi = mid;
    else lo = mid;
  }
  return Number.NaN;
}
