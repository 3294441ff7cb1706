/**
 * The numbers every inbound frame writes, one dense record per open
 * connection in a Float64Array: [last frame time, token-bucket tokens,
 * token-bucket time, spare] (32 B, two records per 64-byte line).
 *
 * Why: a heartbeat reaches a connection nothing touched for seconds, so each
 * separate piece of memory it loads is a cache miss, and on a shared machine
 * each miss costs more than the JavaScript around it. As fields of the
 * Connection, the token bucket's two fractional numbers were two boxed
 * HeapNumbers (V8 stores a fractional field out of line), and the deadline
 * was the wheel entry's location and cell: four lines. Here the frame's
 * writes are one line, and the deadline is not touched at all: the wheel
 * entry keeps the deadline it was filed with, and deadlines.ts re-files it
 * from the recorded time when it falls due (a frame only ever moves the
 * deadline later, so the filed one is never late).
 *
 * Contract: alloc() when a connection opens, free() exactly once when it
 * closes; nothing reads or writes a freed record (a closed connection takes
 * no frames and has no deadline), so its index is reused. `f64` is replaced
 * when the table grows (alloc only): read it per use, never keep it across
 * an alloc().
 */

/** Field offsets inside a record. */
export const SEEN = 0;
export const TOKENS = 1;
/** TOKENS and TOKENS_AT must stay adjacent: takeAt() reads them as a pair. */
export const TOKENS_AT = 2;
/** Holds the next free index while the record is free. */
const NEXT_FREE = 3;
export const STRIDE = 4;
const INITIAL = 1024;

export class ConnRecords {
  f64 = new Float64Array(0);
  private freeHead = -1;
  private capacity = 0;
  private used = 0;

  constructor(initial = INITIAL) {
    this.grow(initial);
  }

  /** Records in use. */
  get size(): number {
    return this.used;
  }

  /** A record for a new connection: last frame and bucket time `now`, a full bucket of `tokens`. O(1) amortized. */
  alloc(now: number, tokens: number): number {
    if (this.freeHead === -1) this.grow(this.capacity * 2);
    const i = this.freeHead;
    const at = i * STRIDE;
    const f = this.f64;
    this.freeHead = f[at + NEXT_FREE]!;
    f[at + SEEN] = now;
    f[at + TOKENS] = tokens;
    f[at + TOKENS_AT] = now;
    f[at + NEXT_FREE] = 0;
    this.used++;
    return i;
  }

  free(i: number): void {
    this.f64[i * STRIDE + NEXT_FREE] = this.freeHead;
    this.freeHead = i;
    this.used--;
  }

  /** Double the table; new records go on the free list, lowest index first. */
  private grow(capacity: number): void {
    const f = new Float64Array(capacity * STRIDE);
    f.set(this.f64);
    for (let i = capacity - 1; i >= this.capacity; i--) {
      f[i * STRIDE + NEXT_FREE] = this.freeHead;
      this.freeHead = i;
    }
    this.f64 = f;
    this.capacity = capacity;
  }
}
