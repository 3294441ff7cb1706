/** The platform's timers (browsers and Node); kept apart from timers.ts so the interfaces type-check where these globals do not exist (k6). */
import type { Timers } from './timers.js';

/**
 * Longest delay the platform's setTimeout honours (2^31-1 ms, ~24.8 days).
 * Node and browsers fire a longer one after ~1 ms, so a long wait (a token
 * valid for 60 days, a huge interval from a server) would turn into a hot
 * loop; longer waits are armed in chunks of at most this.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Timers backed by the platform's `setTimeout` and `performance.now()` (browsers and Node).
 * `chunkMs` (default MAX_TIMER_MS) is the longest single platform timer; smaller only in tests.
 */
export function systemTimers(chunkMs = MAX_TIMER_MS): Timers {
  return {
    now: () => performance.now(),
    wallNow: () => Date.now(),
    setTimeout(fn, ms) {
      let h: ReturnType<typeof globalThis.setTimeout> | undefined;
      // NaN → 0, as the platform treats it; Infinity re-arms forever (never fires).
      const arm = (left: number): void => {
        h = left > chunkMs ? globalThis.setTimeout(() => arm(left - chunkMs), chunkMs) : globalThis.setTimeout(fn, left);
      };
      arm(ms > 0 ? ms : 0);
      return { cancel: () => globalThis.clearTimeout(h) };
    },
  };
}
