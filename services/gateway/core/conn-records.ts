/**
 * The numbers a heartbeat reads and writes, for every connection, in one
 * dense Float64Array: one 64-byte record (8 doubles) per connection, so the
 * rate check, the deadline's inputs and the "is the client behind" check of a
 * heartbeat load one record instead of a connection object's boxed doubles
 * (V8 stores a double field of an object as a separate heap number, each its
 * own cache line once the connection has been idle for seconds).
 *
 * Contract
 *   alloc() returns a slot whose record is all zeros; release(slot) returns it
 *   for reuse. A slot's record is at `f[slot * STRIDE + field]`; read `f` on
 *   each use, never keep it: growing (doubling, values copied) replaces it.
 *   A released slot is handed out again, so whoever held it must stop using
 *   it first (Connection.detach() moves its record to a private store before
 *   releasing). O(1) alloc/release; growth O(capacity), amortised O(1).
 */

/** Doubles per record: 8 x 8 B, one 64-byte cache line when the array is so aligned. */
export const STRIDE = 8;

/** Field offsets inside a record. */
export const R = {
  /** Inbound token bucket: tokens left, and when last refilled (clock ms). */
  TOKENS: 0,
  LAST: 1,
  /** Heartbeat deadline span (interval x 1.5 + grace) and the token's expiry (clock ms). */
  SPAN: 2,
  EXPIRY: 3,
  /** Highest seq written to the socket, and highest the client acked. */
  SENT: 4,
  ACKED: 5,
} as const;

const MAX_SLOTS = 1 << 26;

export class ConnRecords {
  /** The records; replaced when the store grows, so read it through the store each time. */
  f: Float64Array;
  private freeSlots: Int32Array;
  private freeTop = 0;
  /** Slots below this have been handed out at least once. */
  private high = 0;
  private inUse = 0;

  constructor(initialSlots = 1024) {
    if (!Number.isInteger(initialSlots) || initialSlots < 1 || initialSlots > MAX_SLOTS) {
      throw new RangeError(`ConnRecords: initialSlots must be an integer in [1, ${MAX_SLOTS}], got ${String(initialSlots)}`);
    }
    this.f = new Float64Array(initialSlots * STRIDE);
    this.freeSlots = new Int32Array(Math.min(initialSlots, 1024));
  }

  /** Slots handed out and not released. */
  get size(): number { return this.inUse; }
  /** Records the current array holds. */
  get capacity(): number { return this.f.length / STRIDE; }

  /** A slot with a zeroed record. */
  alloc(): number {
    this.inUse++;
    if (this.freeTop > 0) {
      const slot = this.freeSlots[--this.freeTop]!;
      this.f.fill(0, slot * STRIDE, slot * STRIDE + STRIDE);
      return slot;
    }
    if (this.high === this.capacity) this.grow();
    return this.high++;
  }

  /** Returns `slot` for reuse. The caller must not use it afterwards. */
  release(slot: number): void {
    if (!(slot >= 0 && slot < this.high)) throw new RangeError(`ConnRecords.release: slot ${slot} was never handed out`);
    if (this.freeTop === this.freeSlots.length) {
      const bigger = new Int32Array(this.freeSlots.length * 2);
      bigger.set(this.freeSlots);
      this.freeSlots = bigger;
    }
    this.freeSlots[this.freeTop++] = slot;
    this.inUse--;
  }

  private grow(): void {
    const slots = this.capacity * 2;
    if (slots > MAX_SLOTS) throw new RangeError(`ConnRecords: more than ${MAX_SLOTS} connections`);
    const f = new Float64Array(slots * STRIDE);
    f.set(this.f);
    this.f = f;
  }
}
