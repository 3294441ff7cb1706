/**
 * The timing wheel's per-slot storage (timing-wheel.ts says what the wheel
 * does with it): each slot owns a dense bucket of cells [entry index,
 * deadline] in a Float64Array, appended at the tail and emptied all at once
 * when the slot is walked. This file owns how buckets are stored, grown,
 * detached for a walk and recycled; the wheel owns what a cell means.
 *
 * Contract
 * - append() is the only call that may allocate: it doubles a bucket that is
 *   full. full(slot) says whether it would, so the wheel's touch() can refuse
 *   to allocate.
 * - detach(s) hands slot s's bucket to a walk as `pending` and gives the slot
 *   the spare bucket (empty), so cells appended to s during the walk land in
 *   the fresh bucket and are not walked twice. Nothing is removed from
 *   pending while it is walked; its cells are only marked STALE.
 * - recycle() ends the walk: the walked bucket becomes the spare for the next
 *   detach. If the walk found it full (touches into it may have recorded
 *   instead of moving, since touch never allocates), the spare is a new bucket
 *   of twice the capacity, so within about a rotation buckets fit the cells a
 *   slot receives per rotation, and steady state allocates nothing.
 * - dropPending() ends an aborted walk without recycling (the wheel re-files
 *   the live cells it had not taken first).
 */

/** Float64s per cell: [entry index, deadline]. */
export const CELL = 2;
/** A cell's index once its entry moved, left or was taken by a walk. */
export const STALE = -1;
/** Initial bucket capacity in cells. */
const INITIAL_BUCKET = 16;
const EMPTY = new Float64Array(0);

export class SlotBuckets {
  /** Per slot: cells at [CELL*p], [CELL*p + 1] for p < lens[slot]. */
  readonly buckets: Float64Array[];
  readonly lens: Int32Array;
  /** An empty bucket handed to the slot being walked (the walked one becomes the next spare). */
  private spare: Float64Array = EMPTY;
  private pendingCells: Float64Array = EMPTY;
  private pendingCount = 0;
  private walking = -1;

  constructor(slots: number) {
    this.buckets = new Array<Float64Array>(slots).fill(EMPTY);
    this.lens = new Int32Array(slots);
  }

  /** The detached bucket of the slot being walked (EMPTY outside a walk). */
  get pending(): Float64Array {
    return this.pendingCells;
  }

  /** Cells in `pending`, stale ones included. */
  get pendingLen(): number {
    return this.pendingCount;
  }

  /** The slot being walked, or -1. */
  get pendingSlot(): number {
    return this.walking;
  }

  /** Whether slot's bucket is at capacity: an append there would allocate. */
  full(slot: number): boolean {
    return this.lens[slot]! * CELL === this.buckets[slot]!.length;
  }

  /** Append cell [i, deadline] to slot's bucket (doubling it if full); returns the cell's position. */
  append(slot: number, i: number, deadline: number): number {
    let bucket = this.buckets[slot]!;
    const n = this.lens[slot]!;
    if (n * CELL === bucket.length) {
      const grown = new Float64Array(Math.max(INITIAL_BUCKET, n * 2) * CELL);
      grown.set(bucket);
      this.buckets[slot] = bucket = grown;
    }
    bucket[n * CELL] = i;
    bucket[n * CELL + 1] = deadline;
    this.lens[slot] = n + 1;
    return n;
  }

  /**
   * The bucket holding entry i's cell at offset `cell` (position x CELL) of
   * `slot`: the slot's own, or, mid-walk of that slot, pending if pending
   * still holds i there (a walk marks each cell it takes stale first).
   */
  bucketOf(i: number, slot: number, cell: number): Float64Array {
    if (slot !== this.walking) return this.buckets[slot]!;
    return cell < this.pendingCount * CELL && this.pendingCells[cell] === i ? this.pendingCells : this.buckets[slot]!;
  }

  /** Start walking slot s: returns its cell count, and unless 0, its bucket is now `pending` and the slot starts empty. */
  detach(s: number): number {
    const len = this.lens[s]!;
    if (len === 0) return 0;
    this.pendingCells = this.buckets[s]!;
    this.pendingCount = len;
    this.walking = s;
    this.buckets[s] = this.spare;
    this.spare = EMPTY;
    this.lens[s] = 0;
    return len;
  }

  /** End a walk normally: the walked bucket becomes the spare (twice the capacity if it was full). */
  recycle(): void {
    const walked = this.pendingCells;
    const full = this.pendingCount * CELL === walked.length;
    this.dropPending();
    this.spare = full ? new Float64Array(walked.length * 2) : walked;
  }

  /** End a walk without recycling its bucket (after a throw; the caller re-files what was live). */
  dropPending(): void {
    this.walking = -1;
    this.pendingCount = 0;
    this.pendingCells = EMPTY;
  }
}
