/**
 * Hashed timing wheel (Varghese & Lauck, "scheme 6"; the shape of Netty's
 * HashedWheelTimer) owning every connection's heartbeat deadline, laid out
 * data-oriented: each slot appends to a dense bucket of (entry, deadline)
 * cells in a Float64Array (timing-wheel-buckets.ts), and a node carries its
 * entry index and its location (bucket id, cell position) in three plain
 * number fields, so the heartbeat path reads the location from the object it
 * already has.
 *
 * Algorithm
 *   Time is cut into ticks of `tickMs`, counted from `startMs`: tick k ends at
 *   boundary B(k) = startMs + k * tickMs. A deadline d belongs to tick
 *   T(d) = ceil((d - startMs) / tickMs), the first boundary at or after d.
 *   `wheelSize` slots (a power of two) each have a bucket: an unordered dense
 *   array of cells. An entry for tick k sits in slot k & (wheelSize - 1), so a
 *   slot is shared by ticks one rotation apart. advance(now) processes every
 *   boundary B(k) <= now it has not processed yet, and for tick k walks only
 *   slot k's bucket: entries with T(deadline) <= k expire, the rest are
 *   appended to the bucket of their current deadline's slot. No per-entry round
 *   counter is kept; an entry more than a rotation away is simply seen (and
 *   re-appended) once per rotation until its tick comes up.
 *
 *   Touches are lazy: extending a deadline only rewrites the cell's deadline,
 *   and the entry is moved when its old slot comes round. Invariant that makes
 *   this correct: the slot an entry sits in is visited no later than
 *   max(T(deadline), next unprocessed tick). Moving a deadline later keeps it;
 *   moving it earlier may break it, so touch() re-slots eagerly in that case.
 *
 * Layout (why it is fast)
 *   The deadline lives in the cell, beside the index, so a walk reads its
 *   bucket sequentially and never chases a pointer. A walk does not store a
 *   moved entry's new location either (a random store, which was ~3/4 of a
 *   visit's cost at 1M entries): it leaves a forwarding cell [bucket,
 *   position] where the entry was, in the cache line it just read. A walked
 *   bucket is detached from its slot (the slot gets a fresh one) and kept until
 *   no path runs through it (or, past a memory budget of 2 cells per entry,
 *   its remaining paths are resolved); then it is reused with its capacity.
 *   An entry's path is its stored location, then zero or more forwarding
 *   cells, then its one live cell; a live cell counts the forwarding cells
 *   before it (hops, stored above bit 32 of the index). touch(), cancel() and
 *   expiry follow the path, tombstone its forwarding cells and store the live
 *   cell as the location (resolve()). A heartbeating entry is touched between
 *   two visits, so its path is at most one hop; an untouched one (a silent
 *   connection, a far deadline) is moved at most MAX_HOPS times before a walk
 *   resolves it and stores its location directly. touch() thus reads the
 *   node's location (the node is in cache on the heartbeat path), the cell
 *   there and, after a walk moved the entry, the forwarded cell: the cost the
 *   sweep no longer pays moves to the heartbeat path as a dependent load
 *   (docs/benchmarks.md measures both). Removals tombstone their cell (no
 *   swap-remove: a moved cell would strand forwards pointing at it);
 *   tombstones are dropped when their bucket is walked.
 *
 * Complexity (n = entries, S = wheelSize)
 *   touch / cancel              O(MAX_HOPS) = O(1), no allocation.
 *   schedule                    O(1) amortized; allocates only when the entry
 *                               table or a bucket doubles, or a slot needs a
 *                               bucket and none is free (not in steady state:
 *                               capacity is kept and buckets are recycled).
 *   advance                     O(ticks crossed + cells in their slots);
 *                               a jump of more than one rotation is capped at
 *                               O(S + cells): one pass over every slot.
 *   Per entry, a deadline D ticks ahead costs ceil(D / S) visits, and a lazily
 *   touched entry is visited about once per touch interval, so sweep cost per
 *   second scales with the touch (heartbeat) rate, not with n.
 *   Space: two number fields on the node, one reference and a 4 B free-list
 *   link per entry (at the peak entry count); 16 B cells in buckets
 *   (doubling), including tombstones and walked buckets not yet reused (at
 *   most ~2 cells per entry); O(S) bucket headers, allocated lazily.
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

import { BucketPool, FWD, HOP, TOMB, WALKED } from './timing-wheel-buckets.js';

/** What the wheel needs on a node: three numbers (the gateway's Connection carries them), so it allocates nothing per touch. */
export interface WheelNode {
  /** -1 when not in the wheel (set it so before the first schedule); otherwise the wheel's index for it. */
  wheelId: number;
  /** The wheel's: where the node's path starts (bucket id, cell position); initialise to 0. */
  wheelBucket: number;
  wheelPos: number;
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
/**
 * Forwarding cells an entry's path may hold before a walk stores its location
 * directly. A heartbeating entry is touched between two visits, which
 * shortens its path to zero; only entries nobody touches reach this.
 */
const MAX_HOPS = 2;
const LIMIT = HOP * MAX_HOPS;

export class TimingWheel<N extends WheelNode> {
  /** Cumulative counters, mutated in place (cheap to export as metrics). */
  readonly stats: TimingWheelStats = { visited: 0, expired: 0, reslotted: 0 };

  private readonly tickMs: number;
  private readonly startMs: number;
  private readonly mask: number;
  private readonly nodes: (N | undefined)[] = [];
  /** Free entries: a list linked through this array. */
  private nextFree = new Int32Array(0);
  private freeHead = -1;
  /** Per slot: the id of the bucket new cells for it go to (-1: none yet). */
  private readonly slotBucket: Int32Array;
  private readonly pool = new BucketPool();
  /** Slot of the bucket being walked (-1: none). */
  private walkedSlot = -1;
  /** Next tick index to process; every tick below it has been processed. */
  private nextTick = 0;
  private count = 0;
  private advancing = false;
  /** resolve() by entry index, for the pool's release(); bound once. */
  private readonly resolveIndex = (i: number): void => this.resolve(this.nodes[i]!, i);

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
    this.slotBucket = new Int32Array(wheelSize).fill(-1);
    this.growEntries(INITIAL_ENTRIES);
  }

  /** Number of scheduled nodes (including any mid-walk inside advance()). */
  get size(): number {
    return this.count;
  }

  /** Buckets allocated (attached, walked and not yet reusable, or free): for tests and memory accounting. */
  get bucketCount(): number {
    return this.pool.cells.length;
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
      this.resolve(node, i);
      this.pool.cells[node.wheelBucket]![node.wheelPos * 2] = TOMB;
    }
    this.place(node, i, this.slotFor(deadline), deadline);
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
    let bucket = this.pool.cells[node.wheelBucket]!;
    let cell = node.wheelPos * 2 + 1;
    if (bucket[cell - 1]! < 0) {
      // Moved by a walk since the last touch: follow and shorten the path.
      this.resolve(node, i);
      bucket = this.pool.cells[node.wheelBucket]!;
      cell = node.wheelPos * 2 + 1;
    }
    if (deadline >= bucket[cell]!) {
      bucket[cell] = deadline;
      return;
    }
    if (deadline !== deadline) throw new RangeError('TimingWheel: deadline is NaN');
    bucket[cell] = deadline;
    const owner = this.pool.owner[node.wheelBucket]!;
    const slot = owner === WALKED ? this.walkedSlot : owner;
    const to = this.slotFor(deadline);
    // Same slot: its next visit is already <= the new tick (see invariant).
    if (to !== slot) {
      bucket[cell - 1] = TOMB;
      this.place(node, i, to, deadline);
    }
  }

  /** O(1). No-op if not scheduled; afterwards node.wheelId === -1. */
  cancel(node: N): void {
    const i = node.wheelId;
    if (i < 0) return;
    this.resolve(node, i);
    this.pool.cells[node.wheelBucket]![node.wheelPos * 2] = TOMB;
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
      // A throw mid-pass left later slots unvisited although overdue: make
      // the next advance() (any now in or after this tick) a full pass again.
      if (!completed && jumped) this.nextTick = target - this.mask;
    }
    return this.stats.expired - expiredBefore;
  }

  /**
   * Detach slot `s`'s bucket and examine each live cell as of tick `tick`:
   * expire it, or append it to its deadline's slot and leave a forwarding cell
   * in its place (no store to the entry's location: see the class comment).
   */
  private walk(s: number, tick: number, onExpire: (node: N) => void): void {
    const b = this.slotBucket[s]!;
    if (b < 0) return;
    const pool = this.pool;
    const len = pool.lens[b]!;
    this.slotBucket[s] = -1;
    pool.owner[b] = WALKED;
    this.walkedSlot = s;
    const walked = pool.cells[b]!;
    const { stats, startMs, tickMs, mask, slotBucket } = this;
    let visited = 0;
    let reslotted = 0;
    let forwards = 0;
    let k = 0;
    try {
      // The bucket is detached: callbacks append elsewhere, so len is fixed;
      // they may tombstone, forward or re-deadline cells here, which the walk
      // reads as it reaches them.
      for (; k < len; k++) {
        const a = walked[k * 2]!;
        if (a < 0) continue;
        visited++;
        const d = walked[k * 2 + 1]!;
        const t = Math.ceil((d - startMs) / tickMs);
        if (t <= tick) {
          this.expire(walked, k, a >>> 0, onExpire);
          continue;
        }
        reslotted++;
        // t > tick >= nextTick - 1, so no clamping is needed.
        const slot = t & mask;
        if (a >= LIMIT) {
          this.move(walked, k, a >>> 0, slot, d);
          continue;
        }
        let to = slotBucket[slot]!;
        if (to < 0) to = this.attach(slot);
        let target = pool.cells[to]!;
        const n = pool.lens[to]!;
        if (n * 2 === target.length) target = pool.grow(to);
        target[n * 2] = a + HOP;
        target[n * 2 + 1] = d;
        pool.lens[to] = n + 1;
        walked[k * 2] = FWD - to;
        walked[k * 2 + 1] = n;
        forwards++;
      }
    } finally {
      stats.visited += visited;
      stats.reslotted += reslotted;
      this.walkedSlot = -1;
      // After a throw, cells not examined yet are moved to the next tick's slot.
      if (k < len) this.requeue(b, k + 1, len);
      pool.retire(b, forwards);
      pool.release(this.count, this.resolveIndex);
    }
  }

  // The walk's rare paths live in their own methods, so the hot loop keeps
  // its optimized code when one is first taken (no deopt on missing feedback).

  /** The walked cell k of entry i is due: remove it and report it. */
  private expire(walked: Float64Array, k: number, i: number, onExpire: (node: N) => void): void {
    const node = this.nodes[i]!;
    this.resolve(node, i);
    walked[k * 2] = TOMB;
    this.release(i);
    node.wheelId = -1;
    this.count--;
    this.stats.expired++;
    onExpire(node);
  }

  /** Move the walked cell k of entry i to `slot`, storing its location on the node (path resolved, no forward). */
  private move(walked: Float64Array, k: number, i: number, slot: number, deadline: number): void {
    const node = this.nodes[i]!;
    this.resolve(node, i);
    walked[k * 2] = TOMB;
    this.place(node, i, slot, deadline);
  }

  /** After onExpire threw: park the walked bucket's unexamined live cells in the next tick's slot. */
  private requeue(b: number, from: number, len: number): void {
    const walked = this.pool.cells[b]!;
    const slot = this.nextTick & this.mask;
    for (let k = from; k < len; k++) {
      const a = walked[k * 2]!;
      if (a >= 0) this.move(walked, k, a >>> 0, slot, walked[k * 2 + 1]!);
    }
  }

  /**
   * Follow entry i's path from the node's location to its live cell,
   * tombstoning the forwarding cells on the way, and store that cell as the
   * node's location (its hop count reset). O(MAX_HOPS).
   */
  private resolve(node: N, i: number): void {
    let b = node.wheelBucket;
    let p = node.wheelPos;
    const cells = this.pool.cells;
    let bucket = cells[b]!;
    let a = bucket[p * 2]!;
    if (a >= 0) return;
    while (a <= FWD) {
      // `| 0`: the node's fields must only ever hold small integers, or V8
      // stores them boxed (a doubles-in-Smi-field map change on every node).
      const np = bucket[p * 2 + 1]! | 0;
      bucket[p * 2] = TOMB;
      b = (FWD - a) | 0;
      p = np;
      bucket = cells[b]!;
      a = bucket[p * 2]!;
    }
    bucket[p * 2] = i;
    node.wheelBucket = b;
    node.wheelPos = p;
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

  /** Append entry i (no hops) with `deadline` to `slot`'s bucket and store its location on the node. */
  private place(node: N, i: number, slot: number, deadline: number): void {
    let b = this.slotBucket[slot]!;
    if (b < 0) b = this.attach(slot);
    const pool = this.pool;
    let bucket = pool.cells[b]!;
    const n = pool.lens[b]!;
    if (n * 2 === bucket.length) bucket = pool.grow(b);
    bucket[n * 2] = i;
    bucket[n * 2 + 1] = deadline;
    pool.lens[b] = n + 1;
    node.wheelBucket = b;
    node.wheelPos = n;
  }

  private attach(slot: number): number {
    const b = this.pool.take(slot);
    this.slotBucket[slot] = b;
    return b;
  }

  private alloc(node: N): number {
    if (this.freeHead === -1) this.growEntries(this.nodes.length * 2);
    const i = this.freeHead;
    this.freeHead = this.nextFree[i]!;
    this.nodes[i] = node;
    node.wheelId = i;
    return i;
  }

  /** Return entry i to the free list (its node reference dropped so it can be collected). */
  private release(i: number): void {
    this.nodes[i] = undefined;
    this.nextFree[i] = this.freeHead;
    this.freeHead = i;
  }

  /** Double (or create) the entry table; new entries go on the free list, lowest index first. */
  private growEntries(capacity: number): void {
    const old = this.nodes.length;
    const next = new Int32Array(capacity);
    next.set(this.nextFree);
    this.nextFree = next;
    for (let i = capacity - 1; i >= old; i--) {
      next[i] = this.freeHead;
      this.freeHead = i;
    }
    for (let i = old; i < capacity; i++) this.nodes.push(undefined);
  }
}
