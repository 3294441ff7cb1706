/** The platform's timers (browsers and Node); kept apart from timers.ts so the interfaces type-check where these globals do not exist (k6). */
import type { Timers } from './timers.js';

/** Timers backed by the platform's `setTimeout` and `performance.now()` (browsers and Node). */
export function systemTimers(): Timers {
  return {
    now: () => performance.now(),
    wallNow: () => Date.now(),
    setTimeout(fn, ms) {
      const h = globalThis.setTimeout(fn, Math.max(0, ms));
      return { cancel: () => globalThis.clearTimeout(h) };
    },
  };
}
