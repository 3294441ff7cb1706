/**
 * The timing wheel's far list (timing-wheel.ts): entries whose tick lies past
 * the 32-bit range its records hold, kept outside the slots with their exact
 * deadlines until a re-base brings them into range. Cells are
 * [entry index, stamp], live while the stamp matches the entry's record (as
 * in the wheel's buckets); unordered, swept rather than searched.
 */

/** A copy of `a` with room for `length` elements. */
export function grown(a: Int32Array, length: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(length);
  b.set(a);
  return b;
}

export class FarList {
  private cells = new Int32Array(0);
  private deadlines = new Float64Array(0);
  private len = 0;
  /** Cells left stale (their entry moved or was cancelled) since the last sweep. */
  stale = 0;

  /** Append a live cell; sweeps first when over half the list is stale (amortized O(1)). `recs` as in sweep(). */
  push(recs: Int32Array, i: number, stamp: number, deadline: number): void {
    if (this.stale > 16 && this.stale * 2 > this.len) this.sweep(recs);
    const p = this.len++;
    if (p === this.deadlines.length) {
      const cap = Math.max(16, p * 2);
      this.cells = grown(this.cells, cap * 2);
      const deadlines = new Float64Array(cap);
      deadlines.set(this.deadlines);
      this.deadlines = deadlines;
    }
    this.cells[p * 2] = i;
    this.cells[p * 2 + 1] = stamp;
    this.deadlines[p] = deadline;
  }

  /**
   * Drop stale cells (entry i's stamp is recs[2i + 1]) and offer each live
   * one to `take`, which returns true when it placed the entry elsewhere;
   * the rest stay. Without `take`, every live cell stays.
   */
  sweep(recs: Int32Array, take?: (i: number, stamp: number, deadline: number) => boolean): void {
    const { cells, deadlines } = this;
    let kept = 0;
    for (let p = 0; p < this.len; p++) {
      const i = cells[p * 2]!;
      const stamp = cells[p * 2 + 1]!;
      const deadline = deadlines[p]!;
      if (recs[i * 2 + 1] !== stamp || (take !== undefined && take(i, stamp, deadline))) continue;
      cells[kept * 2] = i;
      cells[kept * 2 + 1] = stamp;
      deadlines[kept++] = deadline;
    }
    this.len = kept;
    this.stale = 0;
  }
}
