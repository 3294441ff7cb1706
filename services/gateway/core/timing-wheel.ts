/**
 * Hashed timing wheel (Varghese & Lauck, "scheme 6"; the shape of Netty's
 * HashedWheelTimer) owning every connection's heartbeat deadline, laid out
 * data-oriented: each slot is a dense bucket of (entry, deadline) cells in a
 * Float64Array (stored, grown and recycled by timing-wheel-buckets.ts), an
 * entry's location is two int32s in a typed array (the entry table and its
 * free list: timing-wheel-entries.ts), and a node carries only its entry
 * index (`wheelId`).
 *
 * Algorithm
 *   Time is cut into ticks of `tickMs`, counted from `startMs`: tick k ends at
 *   boundary B(k) = startMs + k * tickMs. A deadline d belongs to tick
 *   T(d) = ceil((d - startMs) / tickMs), the first boundary at or after d.
 *   `wheelSize` slots (a power of two) each hold a bucket: an append-only
 *   array of cells [entry index, deadline]. An entry for tick k sits in slot
 *   k & (wheelSize - 1), so a slot is shared by ticks one rotation apart.
 *   advance(now) processes every boundary B(k) <= now it has not processed
 *   yet, and for tick k walks only slot k's bucket: entries with
 *   T(deadline) <= k expire, the rest are appended to the bucket of their
 *   current deadline; then the bucket is empty again. No per-entry round
 *   counter is kept; an entry more than a rotation away is simply seen (and
 *   re-appended) once per rotation until its tick comes up.
 *
 *   Stale cells instead of removal. An entry that moves (touch, schedule) or
 *   leaves (cancel) overwrites its old cell's index with -1 and appends a new
 *   cell; nothing is swapped or compacted. A walk steps over stale cells (a
 *   sequential read and a branch) and frees them all at once by emptying the
 *   bucket, so a stale cell lives at most until its slot's next walk.
 *
 *   touch(): move now, or record in place. Invariant that makes recording
 *   correct: the slot an entry's cell sits in is walked no later than
 *   max(T(deadline), next unprocessed tick). With r = ticks until the cell's
 *   slot is next walked and r' = the same for the new deadline's slot:
 *   - new deadline before that walk: the entry moves (the invariant demands it);
 *   - r' > 2r (a heartbeat: the deadline jumps a whole interval ahead): the
 *     entry moves to the new slot now, so the walk of its old slot meets only
 *     a stale cell;
 *   - otherwise (a frame soon after the last one, a deadline a rotation or
 *     more ahead, which no move could put in its final slot, or the target
 *     bucket is at capacity): the deadline is written into the cell, and the
 *     walk of its slot re-appends it (counted in stats.reslotted).
 *   Why move at touch time: the move needs the entry's location, a random
 *   access touch() makes anyway; the walk would pay a random store per moved
 *   entry (~40 ns at 1M, where a stale cell costs a few ns). The 2r rule
 *   bounds moves: each more than doubles the distance to the entry's next
 *   walk, so a connection touched on every frame moves about twice per
 *   deadline, not per frame.
 *   (That is the trade-off for a caller that touches on every frame. The
 *   gateway's deadlines.ts does not: a frame only records its time on the
 *   connection, and an entry that falls due early is scheduled again at its
 *   true deadline, which costs the walk one load per deadline instead of the
 *   touch's ~2 cold lines per heartbeat.)
 *
 *   Deciding without dividing. Computing T(d) (a division and a rounding)
 *   for the common touch, which records, is avoided by boundaries:
 *   bounds[j] is the smallest double d with T(d) >= the tick at which slot j
 *   is next walked, exact to the ulp under T's own arithmetic
 *   (tick-boundary.ts), computed when that tick enters the rotation (one per
 *   tick); farBound is the same for tick next + S. "Record" is then
 *   d >= bounds[slot] and (d < bounds[slot of tick next + min(2r, S - 1)] or
 *   d >= farBound): the exact rule's decision from two or three compares
 *   (8 B per slot, 16 KB at the gateway's 2,048). Everything else (moves, a
 *   full bucket, the slot being walked, NaN, an unpinned boundary) takes the
 *   exact path with the division.
 *
 *   While a slot is walked its bucket is detached ("pending", see
 *   timing-wheel-buckets.ts), so entries re-appended into the same slot are
 *   not seen twice in one tick. An entry whose location names the walked
 *   slot is in pending iff pending holds its index at that position; that is
 *   what lets onExpire cancel/touch any entry of the slot.
 *
 * Complexity (n = entries, S = wheelSize)
 *   touch, cancel: O(1); a touch never allocates except to move an entry
 *   to an earlier deadline into a full bucket (it records instead otherwise).
 *   schedule: O(1) amortized; allocates only when the entry table or a
 *   bucket doubles (not in steady state: buckets are recycled).
 *   advance: O(ticks crossed + cells in their slots); a jump of more than a
 *   rotation is one pass over every slot, O(S + cells).
 *   Per heartbeat (one touch that moves the entry), a walk later steps over
 *   one stale cell, so sweep cost per second scales with the touch rate, not
 *   with n, at a few ns per heartbeat. Entries touched by small increments
 *   are re-appended by a walk about once per deadline, as are entries more
 *   than a rotation out (once per rotation).
 *   Space: 16 B per cell, live or stale (buckets double, so up to 2x that);
 *   stale cells are those left since their slot's last walk: about
 *   n x (deadline - interval) / interval with steady heartbeats, at most
 *   ~log2(S) + 1 per entry from later-moving touches, plus one per
 *   schedule/cancel/expiry/earlier-moving touch in the last rotation. 8 B of
 *   location and one reference per entry, at the peak entry count; O(S)
 *   bucket headers, allocated lazily, and 8 B of boundary per slot.
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

import { SlotBuckets, CELL, STALE } from './timing-wheel-buckets.js';
import { WheelEntries, LOC, type WheelNode } from './timing-wheel-entries.js';
import { firstDeadlineOfTick } from './tick-boundary.js';

export type { WheelNode } from './timing-wheel-entries.js';

export interface TimingWheelOptions {
  /** Tick length in ms: > 0, finite. */
  tickMs: number;
  /** Number of slots: power of two, 2..2^20. */
  wheelSize: number;
  /** Clock reading at construction; ticks are counted from here. */
  startMs: number;
}

export interface TimingWheelStats {
  /** Cells looked at by advance(): entries, and the stale cells moved or cancelled entries left behind. */
  visited: number;
  /** Entries expired (onExpire calls). */
  expired: number;
  /** Visited entries that were not yet due and were moved to a later tick's slot. */
  reslotted: number;
}

const MAX_WHEEL_SIZE = 1 << 20;

export class TimingWheel<N extends WheelNode> {
  /** Cumulative counters, mutated in place (cheap to export as metrics). */
  readonly stats: TimingWheelStats = { visited: 0, expired: 0, reslotted: 0 };

  private readonly tickMs: number;
  private readonly startMs: number;
  private readonly mask: number;
  /** Entry index -> node and location [slot, cell position] (timing-wheel-entries.ts). */
  private readonly entries = new WheelEntries<N>();
  private readonly cells: SlotBuckets;
  /**
   * Per slot j: the smallest deadline whose tick is at or after the tick at
   * which j is next walked (next + ((j - next) & mask)); NaN if it could not
   * be pinned (every compare with it fails, so touch() takes the exact path).
   */
  private readonly bounds: Float64Array;
  /** The same for tick nextTick + S: a deadline at or past it is a rotation or more ahead. */
  private farBound = Number.NaN;
  /** Next tick index to process; every tick below it has been processed. */
  private nextTick = 0;
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
    this.cells = new SlotBuckets(wheelSize);
    this.bounds = new Float64Array(wheelSize);
    this.refreshBounds();
  }

  /** Number of scheduled nodes (including any mid-walk inside advance()). */
  get size(): number {
    return this.entries.size;
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
      i = this.entries.alloc(node);
    } else {
      this.markStale(i);
    }
    this.append(i, this.tickFor(deadline) & this.mask, deadline);
  }

  /**
   * Heartbeat path: O(1). Sets the node's deadline (later or earlier): moves
   * the entry to the new deadline's slot, or records the deadline in its cell
   * for the walk of its current slot to act on (the class comment says which,
   * and why that is exact). Allocates only when an earlier deadline must move
   * into a full bucket. No-op for a node that is not scheduled.
   */
  touch(node: N, deadline: number): void {
    const i = node.wheelId;
    if (i < 0) return;
    const locs = this.entries.locs;
    const slot = locs[i * LOC]!;
    const next = this.nextTick;
    const mask = this.mask;
    const r = (slot - next) & mask;
    // Record iff T(deadline) >= next + r and, either T(deadline) < next + min(2r, S - 1)
    // or T(deadline) >= next + S: see "Deciding without dividing".
    const bounds = this.bounds;
    if (
      deadline >= bounds[slot]! &&
      (deadline < bounds[(next + (r < mask - r ? 2 * r : mask)) & mask]! || deadline >= this.farBound) &&
      slot !== this.cells.pendingSlot
    ) {
      this.cells.buckets[slot]![locs[i * LOC + 1]! * CELL + 1] = deadline;
      return;
    }
    this.touchExact(i, slot, deadline);
  }

  /** touch() with the deadline's tick computed: every case, including those the fast path leaves. */
  private touchExact(i: number, slot: number, deadline: number): void {
    if (deadline !== deadline) throw new RangeError('TimingWheel: deadline is NaN');
    const cell = this.entries.locs[i * LOC + 1]! * CELL;
    const bucket = this.cells.bucketOf(i, slot, cell);
    const next = this.nextTick;
    const mask = this.mask;
    const tick = this.tickFor(deadline);
    const to = tick & mask;
    // Ticks until the cell's slot is next walked, and the new slot's (both < S).
    const r = (slot - next) & mask;
    const rTo = (to - next) & mask;
    if (tick - next >= r && (tick - next > mask || rTo < 2 * r || rTo === 0 || this.cells.full(to))) {
      bucket[cell + 1] = deadline;
      return;
    }
    bucket[cell] = STALE;
    this.append(i, to, deadline);
  }

  /** O(1). No-op if not scheduled; afterwards node.wheelId === -1. */
  cancel(node: N): void {
    const i = node.wheelId;
    if (i < 0) return;
    this.markStale(i);
    this.entries.release(i);
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
        this.refreshBounds();
        for (let s = 0; s <= this.mask; s++) this.walk(s, target, onExpire);
      } else {
        while (this.nextTick <= target) {
          const tick = this.nextTick;
          // Bump first: anything scheduled from onExpire lands in a later tick.
          this.nextTick = tick + 1;
          // This slot is next walked a rotation later, at the old farBound's tick.
          this.bounds[tick & this.mask] = this.farBound;
          this.farBound = firstDeadlineOfTick(tick + 1 + this.mask + 1, this.startMs, this.tickMs);
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
        if (jumped) {
          this.nextTick = target - this.mask;
          this.refreshBounds();
        }
      }
    }
    return this.stats.expired - expiredBefore;
  }

  /** Detach slot `s` and examine each of its cells as of tick `tick`. */
  private walk(s: number, tick: number, onExpire: (node: N) => void): void {
    const len = this.cells.detach(s);
    if (len === 0) return;
    const pending = this.cells.pending;
    const { stats, startMs, tickMs, mask } = this;
    stats.visited += len;
    // Front to back. Nothing is removed from pending while it is walked:
    // callbacks, like the walk itself, only mark cells stale.
    for (let c = 0, end = len * CELL; c < end; c += CELL) {
      const i = pending[c]! | 0;
      if (i < 0) continue; // its entry moved, left or expired since it was appended
      const d = pending[c + 1]!;
      pending[c] = STALE;
      const t = Math.ceil((d - startMs) / tickMs);
      if (t <= tick) {
        const node = this.entries.release(i);
        stats.expired++;
        onExpire(node);
      } else {
        stats.reslotted++;
        // t > tick >= nextTick - 1, so no clamping is needed.
        this.append(i, t & mask, d);
      }
    }
    this.cells.recycle();
  }

  /** After onExpire threw: park the live cells the walk had not taken (all others are stale) in the next tick's slot. */
  private requeuePending(): void {
    const pending = this.cells.pending;
    const n = this.cells.pendingLen;
    this.cells.dropPending();
    const slot = this.nextTick & this.mask;
    for (let k = 0; k < n; k++) {
      const i = pending[k * CELL]! | 0;
      if (i >= 0) this.append(i, slot, pending[k * CELL + 1]!);
    }
  }

  /**
   * Tick of a deadline, clamped so overdue entries land on the next
   * unprocessed tick. `&` on the result keeps the low bits of any integer up
   * to 2^53, and maps +/-Infinity to slot 0 (harmless: revisited each rotation).
   */
  private tickFor(deadline: number): number {
    const t = Math.ceil((deadline - this.startMs) / this.tickMs);
    return t < this.nextTick ? this.nextTick : t;
  }

  /** Every slot's boundary and farBound, for the current nextTick (construction, after a jump). */
  private refreshBounds(): void {
    const next = this.nextTick;
    for (let r = 0; r <= this.mask; r++) this.bounds[(next + r) & this.mask] = firstDeadlineOfTick(next + r, this.startMs, this.tickMs);
    this.farBound = firstDeadlineOfTick(next + this.mask + 1, this.startMs, this.tickMs);
  }

  /** Append entry i with `deadline` to `slot`'s bucket and point its location at the cell. */
  private append(i: number, slot: number, deadline: number): void {
    const pos = this.cells.append(slot, i, deadline);
    const locs = this.entries.locs;
    locs[i * LOC + 1] = pos;
    locs[i * LOC] = slot;
  }

  /** Mark entry i's current cell stale (it is re-appended or released next). */
  private markStale(i: number): void {
    const locs = this.entries.locs;
    const slot = locs[i * LOC]!;
    const cell = locs[i * LOC + 1]! * CELL;
    this.cells.bucketOf(i, slot, cell)[cell] = STALE;
  }
}
