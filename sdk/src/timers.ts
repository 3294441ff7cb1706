/**
 * Time as a dependency. Every timer the SDK arms goes through a `Timers`
 * object given to the client, so unit tests drive the whole client with
 * `FakeTimers` (fake-timers.ts) instead of sleeping, and nothing here is
 * global: many clients in one process each have their own.
 */

/** A pending timer; `cancel()` is idempotent and safe after it fired. */
export interface Timer {
  cancel(): void;
}

export interface Timers {
  /** Monotonic milliseconds (never goes backwards); used for every duration. */
  now(): number;
  /** Wall-clock epoch milliseconds; used only for timestamps that are persisted. */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): Timer;
}
