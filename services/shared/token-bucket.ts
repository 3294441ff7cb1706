/**
 * Token bucket with the state inlined in numbers, so per-connection rate
 * limiting allocates nothing: the gateway keeps `tokens` and `last` on the
 * Connection and calls `take` on every inbound frame.
 *
 * `take` refills rate/s since `last` (capped at burst) and consumes one token.
 * O(1). Accuracy: exact for a monotonic clock.
 */
export interface BucketState {
  tokens: number;
  last: number;
}

export function newBucket(burst: number, now: number): BucketState {
  return { tokens: burst, last: now };
}

/** Consumes one token if available; returns false when the caller is over the rate. */
export function take(s: BucketState, ratePerSec: number, burst: number, now: number): boolean {
  const elapsed = now - s.last;
  if (elapsed > 0) {
    s.tokens = Math.min(burst, s.tokens + (elapsed * ratePerSec) / 1000);
    s.last = now;
  }
  if (s.tokens >= 1) {
    s.tokens -= 1;
    return true;
  }
  return false;
}

/** Milliseconds until one token is available (0 if one is now). */
export function waitMs(s: BucketState, ratePerSec: number, now: number): number {
  const tokens = s.tokens + ((now - s.last) * ratePerSec) / 1000;
  return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 1000) / ratePerSec);
}
