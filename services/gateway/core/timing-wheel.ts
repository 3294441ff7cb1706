/**
 * Hashed timing wheel (Varghese & Lauck, "scheme 6"; the shape of Netty's
 * HashedWheelTimer) owning every connection's heartbeat deadline, laid out
 * data-oriented: each slot is a dense bucket of (entry, deadline) cells in a
 * Float64Array, an entry's location is two int32s in a typed array, and a node
 * carries only its entry index (`wheelId`).
 *
 * Algorithm
 *   Time is cut into ticks of `tickMs`, counted from `startMs`: tick k ends at
 *   boundary B(k) = startMs + k * tickMs. A deadline d belongs to tick
 *   T(d) = ceil((d - startMs) / tickMs), the first boundary at or after d.
 *   `wheelSize` slots (a power of two) each hold a bucket: an unordered dense
 *   array of cells [entry index, deadline], removed from by swap-remove. An
 *   entry for tick k sits in slot k & (wheelSize - 1), so a slot is shared by
 *   ticks one rotation apart. advance(now) processes every boundary B(k) <= now
 *   it has not processed yet, and for tick k walks only slot k's bucket:
 *   entries with T(deadline) <= k expire, the rest are appended to the bucket
 *   of their current deadline. No per-entry round counter is kept; an entry
 *   more than a rotation away is simply seen (and re-appended) once per
 *   rotation until its tick comes up.
 *
 *   Layout (why it is fast). The deadline lives in the bucket cell, beside the
 *   index, so a walk reads its bucket sequentially and never chases a pointer:
 *   the only random access per visit is the write of the entry's new location
 *   (slot, position: 8 bytes per entry), a store the CPU does not wait for.
 *   touch() goes the other way (entry -> location -> cell), one random access
 *   on the heartbeat path, where the connection is being touched anyway. The
 *   previous layout, an intrusive doubly linked list through the connection
 *   objects, cost ~390 ns per visit at 1M entries (each visit a chain of
 *   dependent cache misses); loadtest/bench/wheel.ts and docs/benchmarks.md
 *   have today's figures. Free entries form a list through their position
 *   field; `nodes` maps an index back to its node and is read only on expiry.
 *
 *   Touches are lazy: extending a deadline only rewrites the cell's deadline,
 *   and the entry is moved when its old slot comes round. Invariant that makes
 *   this correct: the slot an entry sits in is visited no later than
 *   max(T(deadline), next unprocessed tick). Moving a deadline later keeps it;
 *   moving it earlier may break it, so touch() re-slots eagerly in that case.
 *
 *   While a slot is walked its bucket is detached ("pending") and the slot
 *   starts a fresh one, so entries re-slotted into the same slot (a deadline
 *   a rotation or more away) are not seen twice in one tick. An entry whose
 *   location names the walked slot is in pending iff its position is below the
 *   pending length and pending holds its index there; that is what lets
 *   onExpire cancel/touch any entry, including ones not walked yet, without
 *   marking every entry of the slot.
 *
 * Complexity (n = entries, S = wheelSize)
 *   touch / cancel              O(1), no allocation.
 *   schedule                    O(1) amortized; allocates only when the entry
 *                               table or a bucket doubles (not in steady state:
 *                               capacity is kept and buckets are recycled).
 *   advance                     O(ticks crossed + entries in their slots);
 *                               a jump of more than one rotation is capped at
 *                               O(S + n): one pass over every slot.
 *   Per entry, a deadline D ticks ahead costs ceil(D / S) visits, and a lazily
 *   touched entry is visited about once per touch interval, so sweep cost per
 *   second scales with the touch (heartbeat) rate, not with n.
 *   Space per entry: a 16 B cell (buckets double, so up to 2x that), an 8 B
 *   location and one reference, at the peak entry count; O(S) bucket headers,
 *   allocated lazily.
 *
 * Accuracy
 *   An entry expires on the first tick boundary at or after its deadline, i.e.
 *   during the advance(now) call that first has now >= B(T(d)), where
 *   B(T(d)) is in [d, d + tickMs). Called once per boundary, expiry lands in
 *   [deadline, deadline + tickMs); a late advance() (event-loop stall) makes it
 *   late by that stall, never early. An already-past deadline is due at the
 *   next unprocessed boundary. Entries due in the same tick expire in no
 *   particular order; after a multi-rotation jump, all overdue entries expire
 *   in one pass, in slot order rather than deadline order.
 *
 * Not thread- or re-entrancy-safe beyond what advance() documents: onExpire may
 * schedule/touch/cancel any node, but must not call advance(). A node must
 * belong to at most one wheel.
 */

/** What the wheel needs on a node: one number (the gateway's Connection carries it), so it allocates nothing per touch. */
export interface WheelNode {
  /** -1 when not in the wheel (set it so before the first schedule); otherwise the wheel's index for it. */
  wheelId: number;
}

export interface TimingWheelOptions {
  /** Tick length in ms: > 0, finite. */
  tickMs: number;
  /** Number of slots: power of two, 2..2^20. */
  wheelSize: number;
  /** Clock reading at construction; ticks are counted from here. */
  startMs: number;
}

export interface TimingWheelStats {
  /** Entries looked at by advance(). */
  visited: number;
  /** Entries expired (onExpire calls). */
  expired: number;
  /** Visited entries that were not yet due and were moved to a later tick's slot. */
  reslotted: number;
}

const MAX_WHEEL_SIZE = 1 << 20;
const INITIAL_ENTRIES = 1024;
/** Initial bucket capacity in cells. */
const INITIAL_BUCKET = 16;
const EMPTY = new Float64Array(0);
// A bucket cell is [index, deadline] (two float64s); a location is [slot, pos] (two int32s).
const CELL = 2;
const LOC = 2;

export class TimingWheel<N extends WheelNode> {
  /** Cumulative counters, mutated in place (cheap to export as metrics). */
  readonly stats: TimingWheelStats = { visited: 0, expired: 0, reslotted: 0 };

  private readonly tickMs: number;
  private readonly startMs: number;
  private readonly mask: number;
  /** Per entry i: slot at [2i] (-1 when free), cell position at [2i + 1] (next free entry when free). */
  private locs = new Int32Array(0);
  private readonly nodes: (N | undefined)[] = [];
  private freeHead = -1;
  /** Per slot: cells [index, deadline] at [2p], [2p + 1] for p < lens[slot]. */
  private readonly buckets: Float64Array[];
  private readonly lens: Int32Array;
  /** An empty bucket handed to the slot being walked (the walked one becomes the next spare). */
  private spare: Float64Array = EMPTY;
  /** The detached bucket of the slot being walked; cells [0, pendingLen) are not walked yet. */
  private pending: Float64Array = EMPTY;
  private pendingLen = 0;
  private pendingSlot = -1;
  /** Next tick index to process; every tick below it has been processed. */
  private nextTick = 0;
  private count = 0;
  private advancing = false;

  constructor(opts: TimingWheelOptions) {
    const { tickMs, wheelSize, startMs } = opts;
    if (typeof tickMs !== 'number' || !Number.isFinite(tickMs) || tickMs <= 0) {
      throw new RangeError(`TimingWheel: tickMs must be a finite number > 0, got ${String(tickMs)}`);
    }
    if (
      typeof wheelSize !== 'number' ||
      !Number.isInteger(wheelSize) ||
      wheelSize < 2 ||
      wheelSize > MAX_WHEEL_SIZE ||
      (wheelSize & (wheelSize - 1)) !== 0
    ) {
      throw new RangeError(`TimingWheel: wheelSize must be a power of two in [2, 2^20], got ${String(wheelSize)}`);
    }
    if (typeof startMs !== 'number' || !Number.isFinite(startMs)) {
      throw new RangeError(`TimingWheel: startMs must be a finite number, got ${String(startMs)}`);
    }
    this.tickMs = tickMs;
    this.startMs = startMs;
    this.mask = wheelSize - 1;
    this.buckets = new Array<Float64Array>(wheelSize).fill(EMPTY);
    this.lens = new Int32Array(wheelSize);
    this.growEntries(INITIAL_ENTRIES);
  }

  /** Number of scheduled nodes (including any mid-walk inside advance()). */
  get size(): number {
    return this.count;
  }

  /**
   * Insert `node`, or move it if already scheduled. Any deadline works: far
   * ones are re-appended once per rotation, +Infinity never expires, past ones
   * are due at the next unprocessed tick boundary. NaN is rejected.
   */
  schedule(node: N, deadline: number): void {
    if (deadline !== deadline) throw new RangeError('TimingWheel: deadline is NaN');
    let i = node.wheelId;
    if (i === -1) {
      i = this.alloc(node);
      this.count++;
    } else {
      this.unlink(i);
    }
    this.append(i, this.slotFor(deadline), deadline);
  }

  /**
   * Heartbeat path: O(1), allocation-free. A later (or equal) deadline is only
   * recorded; the entry is re-slotted when its current slot comes round. An
   * earlier deadline is re-slotted now so the entry cannot expire late.
   * No-op for a node that is not scheduled.
   */
  touch(node: N, deadline: number): void {
    const i = node.wheelId;
    if (i < 0) return;
    const at = i * LOC;
    const slot = this.locs[at]!;
    const cell = this.locs[at + 1]! * CELL + 1;
    const bucket = slot === this.pendingSlot ? this.bucketOf(i) : this.buckets[slot]!;
    if (deadline >= bucket[cell]!) {
      bucket[cell] = deadline;
      return;
    }
    if (deadline !== deadline) throw new RangeError('TimingWheel: deadline is NaN');
    bucket[cell] = deadline;
    const to = this.slotFor(deadline);
    // Same slot: its next visit is already <= the new tick (see invariant).
    if (to !== slot) {
      this.unlink(i);
      this.append(i, to, deadline);
    }
  }

  /** O(1). No-op if not scheduled; afterwards node.wheelId === -1. */
  cancel(node: N): void {
    const i = node.wheelId;
    if (i < 0) return;
    this.unlink(i);
    this.release(i);
    node.wheelId = -1;
    this.count--;
  }

  /**
   * Process every tick boundary <= now not yet processed. Each due entry is
   * removed (wheelId = -1) before onExpire(node) runs, so the callback may
   * reschedule it or schedule/touch/cancel any other node; it must not call
   * advance(). Returns how many expired. A `now` earlier than the last one is a
   * no-op. If onExpire throws, the error propagates and the wheel stays
   * consistent: entries not yet examined are handled on the next advance().
   */
  advance(now: number, onExpire: (node: N) => void): number {
    if (this.advancing) throw new Error('TimingWheel: advance() called re-entrantly from onExpire');
    const target = Math.floor((now - this.startMs) / this.tickMs);
    // `!(a <= b)` also rejects NaN `now`.
    if (!(this.nextTick <= target)) return 0;
    const expiredBefore = this.stats.expired;
    let jumped = false;
    let completed = false;
    this.advancing = true;
    try {
      if (target - this.nextTick >= this.mask) {
        // At least a rotation behind: every slot is due, so one pass over all
        // of them with "current tick" = target is equivalent to stepping each
        // tick, minus the (possibly millions of) empty iterations.
        jumped = true;
        this.nextTick = target + 1;
        for (let s = 0; s <= this.mask; s++) this.walk(s, target, onExpire);
      } else {
        while (this.nextTick <= target) {
          const tick = this.nextTick;
          // Bump first: anything scheduled from onExpire lands in a later tick.
          this.nextTick = tick + 1;
          this.walk(tick & this.mask, tick, onExpire);
        }
      }
      completed = true;
    } finally {
      this.advancing = false;
      if (!completed) {
        this.requeuePending();
        // A throw mid-pass left later slots unvisited although overdue: make
        // the next advance() (any now in or after this tick) a full pass again.
        if (jumped) this.nextTick = target - this.mask;
      }
    }
    return this.stats.expired - expiredBefore;
  }

  /** Detach slot `s` and examine each of its entries as of tick `tick`. */
  private walk(s: number, tick: number, onExpire: (node: N) => void): void {
    const len = this.lens[s]!;
    if (len === 0) return;
    const pending = this.buckets[s]!;
    this.buckets[s] = this.spare;
    this.spare = EMPTY;
    this.lens[s] = 0;
    this.pending = pending;
    this.pendingLen = len;
    this.pendingSlot = s;
    const { stats, startMs, tickMs, mask } = this;
    let visited = 0;
    let reslotted = 0;
    try {
      // Pop from the end: the callback may swap-remove other pending cells,
      // which keeps [0, pendingLen) exactly the entries not walked yet. Only a
      // callback can change pendingLen, so it is synced around callbacks only.
      let k = len;
      while (k > 0) {
        k--;
        const i = pending[k * CELL]! | 0;
        const d = pending[k * CELL + 1]!;
        visited++;
        const t = Math.ceil((d - startMs) / tickMs);
        if (t <= tick) {
          const node = this.nodes[i]!;
          this.release(i);
          node.wheelId = -1;
          this.count--;
          stats.expired++;
          this.pendingLen = k;
          onExpire(node);
          k = this.pendingLen;
        } else {
          reslotted++;
          // t > tick >= nextTick - 1, so no clamping is needed.
          this.append(i, t & mask, d);
        }
      }
      this.pendingLen = 0;
    } finally {
      stats.visited += visited;
      stats.reslotted += reslotted;
    }
    this.pendingSlot = -1;
    this.pending = EMPTY;
    // The walked bucket's capacity serves the next detached slot.
    this.spare = pending;
  }

  /** After onExpire threw: park unexamined entries in the next tick's slot. */
  private requeuePending(): void {
    const pending = this.pending;
    const n = this.pendingLen;
    this.pendingLen = 0;
    this.pendingSlot = -1;
    this.pending = EMPTY;
    const slot = this.nextTick & this.mask;
    for (let k = 0; k < n; k++) this.append(pending[k * CELL]! | 0, slot, pending[k * CELL + 1]!);
  }

  /**
   * Slot for a deadline, clamped so overdue entries land on the next
   * unprocessed tick. `&` on a double keeps the low bits of any integer up to
   * 2^53, and maps +/-Infinity to slot 0 (harmless: revisited each rotation).
   */
  private slotFor(deadline: number): number {
    const t = Math.ceil((deadline - this.startMs) / this.tickMs);
    return (t < this.nextTick ? this.nextTick : t) & this.mask;
  }

  /** The bucket holding entry i's cell: its slot's, or pending (see the class comment). */
  private bucketOf(i: number): Float64Array {
    const slot = this.locs[i * LOC]!;
    if (slot === this.pendingSlot) {
      const p = this.locs[i * LOC + 1]!;
      if (p < this.pendingLen && this.pending[p * CELL] === i) return this.pending;
    }
    return this.buckets[slot]!;
  }

  /** Append entry i with `deadline` to `slot`'s bucket and point its location at the cell. */
  private append(i: number, slot: number, deadline: number): void {
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
    this.locs[i * LOC] = slot;
    this.locs[i * LOC + 1] = n;
  }

  /** Swap-remove entry i's cell from whichever bucket holds it (a slot's, or pending). */
  private unlink(i: number): void {
    const locs = this.locs;
    const slot = locs[i * LOC]!;
    const p = locs[i * LOC + 1]!;
    let bucket: Float64Array;
    let last: number;
    if (slot === this.pendingSlot && p < this.pendingLen && this.pending[p * CELL] === i) {
      bucket = this.pending;
      last = --this.pendingLen;
    } else {
      bucket = this.buckets[slot]!;
      last = --this.lens[slot]!;
    }
    const moved = bucket[last * CELL]! | 0;
    bucket[p * CELL] = moved;
    bucket[p * CELL + 1] = bucket[last * CELL + 1]!;
    locs[moved * LOC + 1] = p;
  }

  private alloc(node: N): number {
    if (this.freeHead === -1) this.growEntries(this.nodes.length * 2);
    const i = this.freeHead;
    this.freeHead = this.locs[i * LOC + 1]!;
    this.nodes[i] = node;
    node.wheelId = i;
    return i;
  }

  /** Return entry i to the free list (its node reference dropped so it can be collected). */
  private release(i: number): void {
    this.nodes[i] = undefined;
    this.locs[i * LOC] = -1;
    this.locs[i * LOC + 1] = this.freeHead;
    this.freeHead = i;
  }

  /** Double (or create) the entry table; new entries go on the free list, lowest index first. */
  private growEntries(capacity: number): void {
    const old = this.nodes.length;
    const locs = new Int32Array(capacity * LOC);
    locs.set(this.locs);
    this.locs = locs;
    for (let i = capacity - 1; i >= old; i--) {
      locs[i * LOC] = -1;
      locs[i * LOC + 1] = this.freeHead;
      this.freeHead = i;
    }
    for (let i = old; i < capacity; i++) this.nodes.push(undefined);
  }
}
