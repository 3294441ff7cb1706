/**
 * Concurrent identical reads share one store read (a singleflight): a caller
 * asking for a key whose read is in flight gets that read's promise instead of
 * starting another. The key must name every argument of the read (channel
 * history: channel, offset and byte bound), so reads with different arguments
 * are never shared.
 *
 * Contracts:
 * - Nothing is cached: the entry leaves the map as soon as the read settles,
 *   so a caller arriving after that reads afresh (no staleness beyond what a
 *   read started a moment earlier would show).
 * - A rejection answers every waiter of that read, as a result does; the
 *   waiters get the same value (callers must not mutate it).
 * - The map is bounded (`maxInFlight` keys): when full, a new key is read on
 *   its own, unshared, rather than evicting a read that others wait on.
 *
 * Why on the router: each gateway already shares reads among its own
 * recovering clients (gateway shared-reads.ts), but after a bus blip every
 * gateway with subscribers of a hot channel resumes it at the same offset at
 * once, and the router would read the store once per gateway.
 */

export interface CoalescedReadCounts {
  /** Store reads started (shared or not). */
  started: number;
  /** Calls answered by a read already in flight (no store read of their own). */
  shared: number;
}

export const DEFAULT_MAX_IN_FLIGHT = 10_000;

export class ReadCoalescer<V> {
  readonly counts: CoalescedReadCounts = { started: 0, shared: 0 };
  private readonly inFlight = new Map<string, Promise<V>>();

  constructor(private readonly maxInFlight = DEFAULT_MAX_IN_FLIGHT) {
    if (!(Number.isInteger(maxInFlight) && maxInFlight >= 0)) throw new RangeError(`maxInFlight must be a non-negative integer, got ${maxInFlight}`);
  }

  /** Keys being read now. */
  get size(): number { return this.inFlight.size; }

  read(key: string, start: () => Promise<V>): Promise<V> {
    const cur = this.inFlight.get(key);
    if (cur !== undefined) { this.counts.shared++; return cur; }
    this.counts.started++;
    const p = start();
    if (this.inFlight.size >= this.maxInFlight) return p;
    this.inFlight.set(key, p);
    const done = (): void => { if (this.inFlight.get(key) === p) this.inFlight.delete(key); };
    p.then(done, done);
    return p;
  }
}
