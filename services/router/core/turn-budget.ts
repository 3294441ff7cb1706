/**
 * A time budget per event-loop turn for the router's bulk work: validating,
 * storing, routing and answering big batches (a maximum batch is 100
 * messages × 1,000 users).
 *
 * Why time and not a count: slices of a fixed number of recipients cost
 * what the store, the machine and the garbage collector make them cost, and
 * every batch in flight ran its own slice in the same turn, so three
 * maximum batches at once made turns three times as long as one. Here all
 * bulk work of the process draws on one clock: the first caller in a turn
 * starts it, and once `sliceMs` have passed every caller yields until a
 * later turn. A turn then holds at most about one slice of bulk work,
 * however many batches are in flight, and what else the process does
 * (probes, small pushes, the gateway in standalone mode) waits at most that
 * long for it.
 *
 * Progress: the first caller of a turn is never refused, so some batch
 * always moves. Batches yielded in the same turn resume in the order they
 * yielded: the oldest runs first and the others wait, so concurrent big
 * batches finish one after the other rather than all late.
 *
 * Small pushes never consult it: they run in one go, as before.
 */

/** Bulk work per event-loop turn, all big batches together (ms). */
export const SLICE_MS = 5;

/** Recipients (or results, or user ids) handled between two looks at the clock. */
export const CHECK_EVERY = 32;

export class TurnBudget {
  /** When this turn's bulk work started (performance.now()); -1 before any. */
  private started = -1;
  private readonly reset = (): void => { this.started = -1; };

  constructor(private readonly sliceMs: number = SLICE_MS, private now: () => number = () => performance.now()) {}

  /**
   * Replaces the clock and returns the previous one. For tests of the
   * process's shared budget: a clock that advances a fixed step per look
   * makes a slice a fixed number of checks, whatever the machine's speed.
   */
  useClock(now: () => number): () => number {
    const before = this.now;
    this.now = now;
    this.started = -1;
    return before;
  }

  /** True once this turn's bulk work has run `sliceMs`; the first call of a turn starts the clock (and is false). */
  spent(): boolean {
    const t = this.now();
    if (this.started < 0) {
      this.started = t;
      // Queued before the continuations of anything that yields this turn, so those find a fresh budget.
      setImmediate(this.reset);
      return false;
    }
    return t - this.started >= this.sliceMs;
  }

  /** Resolves in a later turn (after I/O: probes and other requests get their answer first). */
  next(): Promise<void> {
    return new Promise((r) => { setImmediate(r); });
  }

  /** Yields if this turn's budget is spent. */
  async pace(): Promise<void> {
    while (this.spent()) await this.next();
  }
}

/** The process's budget: the event loop is the process's, so every router core in it shares one. */
export const bulkBudget = new TurnBudget();
