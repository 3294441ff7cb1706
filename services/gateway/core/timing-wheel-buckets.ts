/**
 * The timing wheel's bucket pool (timing-wheel.ts): dense Float64Array
 * buckets of two-float64 cells, identified by id so that a forwarding cell can
 * name one, attached to a slot, detached while walked, then kept until no
 * path runs through them and reused with their capacity.
 *
 * Cell encoding [a, b]:
 *   live       a = entry index + hops * HOP (a >= 0), b = deadline
 *   forward    a = FWD - bucket id (a <= FWD),        b = position in that bucket
 *   tombstone  a = TOMB
 * A walked ("retired") bucket holds only forwards and tombstones. Every
 * forward that is not a tombstone lies on exactly one entry's path (only
 * resolving a path tombstones its forwards), so a retired bucket whose cells
 * are all tombstones is unreachable and can be reused.
 */

export const HOP = 2 ** 32;
export const TOMB = -1;
export const FWD = -2;
/** Bucket owner: a slot index (>= 0), or one of these. */
export const RETIRED = -1;
export const WALKED = -2;
const FREE = -3;
/** Initial bucket capacity in cells. */
const INITIAL_BUCKET = 16;
/** Retired buckets are kept while their cells total at most RETAIN_FACTOR x entries + RETAIN_MIN (see release()). */
const RETAIN_FACTOR = 2;
const RETAIN_MIN = 4096;

export class BucketPool {
  /** By bucket id: cells (2 float64 each), cell count, owner (slot, RETIRED, WALKED, FREE), release-scan cursor. */
  readonly cells: Float64Array[] = [];
  lens: Int32Array = new Int32Array(0);
  owner: Int32Array = new Int32Array(0);
  private scan: Int32Array = new Int32Array(0);
  private readonly free: number[] = [];
  /** Retired buckets that may still hold live forwards, oldest first from retiredHead, and their cells in total. */
  private retired: number[] = [];
  private retiredHead = 0;
  private retiredCells = 0;

  /** A new empty bucket owned by `slot`: a free one if any (capacity kept), else a new one. */
  take(slot: number): number {
    let b = this.free.pop();
    if (b === undefined) {
      b = this.cells.length;
      this.cells.push(new Float64Array(INITIAL_BUCKET * 2));
      if (b === this.lens.length) {
        const cap = Math.max(64, b * 2);
        const grow = (old: Int32Array): Int32Array => {
          const a = new Int32Array(cap);
          a.set(old);
          return a;
        };
        this.lens = grow(this.lens);
        this.owner = grow(this.owner);
        this.scan = grow(this.scan);
      }
    }
    this.lens[b] = 0;
    this.owner[b] = slot;
    return b;
  }

  /** Double bucket b's capacity; cell positions (and so locations and forwards) are unchanged. */
  grow(b: number): Float64Array {
    const old = this.cells[b]!;
    const grown = new Float64Array(old.length * 2);
    grown.set(old);
    this.cells[b] = grown;
    return grown;
  }

  /** A walked bucket: reused now if the walk left no forward in it, else kept until release() finds it unreachable. */
  retire(b: number, forwards: number): void {
    this.owner[b] = RETIRED;
    if (forwards === 0) {
      this.recycle(b);
      return;
    }
    this.scan[b] = 0;
    this.retired.push(b);
    this.retiredCells += this.lens[b]!;
  }

  /**
   * Reuse retired buckets whose cells are all tombstones (touches and expiries
   * resolved every path through them), oldest first; each cell is scanned
   * once, sequentially, over the bucket's life. Retained cells are bounded by
   * RETAIN_FACTOR x `entries`: past that, the oldest bucket's remaining paths
   * (entries not touched since that walk: silent connections, late beats) are
   * resolved now via `resolve(index)`, and it is reused.
   */
  release(entries: number, resolve: (index: number) => void): void {
    const budget = RETAIN_FACTOR * entries + RETAIN_MIN;
    const retired = this.retired;
    while (this.retiredHead < retired.length) {
      const b = retired[this.retiredHead]!;
      const cells = this.cells[b]!;
      const len = this.lens[b]!;
      let k = this.scan[b]!;
      while (k < len && cells[k * 2]! > FWD) k++;
      if (k < len && this.retiredCells > budget) {
        for (; k < len; k++) {
          if (cells[k * 2]! > FWD) continue;
          // Follow to the live cell for the entry's index; resolving its path tombstones this cell too.
          let c = cells;
          let p = k;
          let a = c[p * 2]!;
          while (a <= FWD) {
            const np = c[p * 2 + 1]!;
            c = this.cells[FWD - a]!;
            p = np;
            a = c[p * 2]!;
          }
          resolve(a >>> 0);
        }
      }
      this.scan[b] = k;
      if (k < len) break;
      this.retiredHead++;
      this.retiredCells -= len;
      this.recycle(b);
    }
    if (this.retiredHead > 64 && this.retiredHead * 2 > retired.length) {
      this.retired = retired.slice(this.retiredHead);
      this.retiredHead = 0;
    }
  }

  private recycle(b: number): void {
    this.owner[b] = FREE;
    this.lens[b] = 0;
    this.free.push(b);
  }
}
