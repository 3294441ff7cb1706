/**
 * Hashed timing wheel (Varghese & Lauck, "scheme 6"; the shape of Netty's
 * HashedWheelTimer) owning every connection's heartbeat deadline, laid out
 * data-oriented: each entry's record (tick, stamp) is two int32s in a typed
 * array, each slot is a dense bucket of 8-byte (entry, stamp) cells in an
 * Int32Array, and a node carries only its entry index (`wheelId`).
 *
 * Algorithm
 *   Time is cut into ticks of `tickMs`, counted from `startMs`: tick k ends at
 *   boundary B(k) = startMs + k * tickMs. A deadline d belongs to tick
 *   T(d) = ceil((d - startMs) / tickMs), the first boundary at or after d;
 *   expiry depends on T(d) alone, so the wheel keeps ticks, not deadlines.
 *   `wheelSize` slots (a power of two) each hold a bucket: a dense array of
 *   cells [entry index, stamp], only ever appended to and walked. A cell is
 *   live while its stamp equals its entry's record's; moving an entry to an
 *   earlier slot, cancelling or expiring it bumps the stamp, so the old cell
 *   goes stale where it lies and the walk that meets it drops it. An entry for
 *   tick k has its live cell in slot k & (wheelSize - 1), so a slot is shared
 *   by ticks one rotation apart. advance(now) processes every boundary
 *   B(k) <= now it has not processed yet, and for tick k walks only slot k's
 *   bucket: live entries with tick <= k expire, the rest are appended to the
 *   bucket of their current tick. No per-entry round counter is kept; an
 *   entry more than a rotation away is simply seen (and re-appended) once per
 *   rotation until its tick comes up.
 *
 *   Layout (why it is fast). A walk reads its bucket sequentially, loads each
 *   live cell's record and appends the cell to another bucket: it stores
 *   nothing at random, and its random loads (one per cell) do not depend on
 *   each other, so the CPU overlaps their cache misses. A touch loads and
 *   stores one record (node -> record: one random access, nothing dependent
 *   on it), on the heartbeat path where the connection is being touched
 *   anyway. Earlier layouts cost more per heartbeat at 1M entries: an
 *   intrusive linked list through the connection objects (~390 ns per visit,
 *   chains of dependent misses), then [entry, deadline] cells with a location
 *   table (a random store per visit, two dependent misses per touch);
 *   docs/benchmarks.md has the figures. Free entries form a list through
 *   their tick field; `nodes` maps an index back to its node (read on expiry).
 *
 *   Ticks in 32 bits. A record holds T(d) - base, where `base` is an epoch (a
 *   multiple of 2^20, hence of wheelSize: the slot is the relative tick &
 *   (wheelSize - 1)) that advance() moves up once the tick it must reach is
 *   2^30 past it: one pass subtracting the shift from every record, O(n) once
 *   per 2^30 ticks (~17 years of 500 ms ticks; a jump of more than a rotation
 *   costs O(S + n) anyway and re-bases in the same call). Overdue ticks
 *   saturate at -2^31 (still overdue). A deadline more than 2^31 - 2 ticks
 *   past base (+Infinity included) does not fit: its cell waits in the "far"
 *   list with the exact deadline, which walks never visit, until the re-base
 *   that brings it into range, about 2^30 ticks before it is due (or the jump
 *   past it, which expires it). The range costs no accuracy. Stamps wrap too:
 *   a stale cell passes for live only if its entry moved exactly 2^32 times
 *   before the cell's slot came round, and even then is at worst visited
 *   again (an expiry bumps the stamp; a free entry is skipped).
 *
 *   Touches are lazy: extending a deadline only rewrites the record's tick,
 *   and the entry is moved when its cell's slot comes round. Invariant that
 *   makes this correct: the slot of an entry's live cell is visited no later
 *   than max(its tick, next unprocessed tick). A later tick keeps it; an
 *   earlier one may break it, so touch() then gives the entry a new cell in
 *   the earlier slot (the stamp bump leaves the old one stale).
 *
 *   While a slot is walked its bucket is detached and the slot starts a fresh
 *   one, so entries re-slotted into the same slot (a tick a rotation or more
 *   away) are not seen twice in one tick. onExpire may cancel/touch/schedule
 *   any entry, including ones not walked yet: that only bumps stamps and
 *   appends to other (or fresh) buckets, never to the one being walked.
 *
 * Complexity (n = entries, S = wheelSize)
 *   touch / cancel              O(1), no allocation (in steady state: a touch
 *                               to an earlier slot appends a cell).
 *   schedule                    O(1) amortized; allocates only when the entry
 *                               table or a bucket doubles (not in steady state:
 *                               capacity is kept and buckets are recycled).
 *   advance                     O(ticks crossed + cells in their slots);
 *                               a jump of more than one rotation is capped at
 *                               O(S + n + stale cells): one pass over every slot.
 *   Per entry, a deadline D ticks ahead costs ceil(D / S) visits, and a lazily
 *   touched entry is visited about once per touch interval, so sweep cost per
 *   second scales with the touch (heartbeat) rate, not with n.
 *   Space: an 8 B record and one reference per entry at the peak entry count;
 *   an 8 B cell per entry plus one per stale cell (each eager move, reschedule
 *   or cancel leaves one until its slot's next walk: at most a rotation's
 *   worth), buckets doubling (up to 2x); O(S) bucket headers, allocated lazily.
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

import { FarList, grown } from './timing-wheel-far.js';

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
  /** Cells looked at by advance() (stale ones included). */
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
const EMPTY = new Int32Array(0);
// A record is [tick - base, stamp]; a cell is [index, stamp] (two int32s each).
const REC = 2;
const CELL = 2;
/** A record's relative tick is in [MIN_REL, MAX_REL], or FAR_REL for a far entry. */
const MIN_REL = -(2 ** 31);
const MAX_REL = 2 ** 31 - 2;
const FAR_REL = 2 ** 31 - 1;
/** advance() re-bases once its target tick is this far past base; a base is a multiple of EPOCH (>= any wheelSize). */
const REBASE_AT = 2 ** 30;
const EPOCH = MAX_WHEEL_SIZE;

export class TimingWheel<N extends WheelNode> {
  /** Cumulative counters, mutated in place (cheap to export as metrics). */
  readonly stats: TimingWheelStats = { visited: 0, expired: 0, reslotted: 0 };

  private readonly tickMs: number;
  private readonly startMs: number;
  private readonly mask: number;
  /** Per entry i: tick - base at [2i] (FAR_REL if far; the next free entry when free), stamp at [2i + 1]. */
  private recs = new Int32Array(0);
  private readonly nodes: (N | undefined)[] = [];
  private freeHead = -1;
  /** Per slot: cells [index, stamp] at [2p], [2p + 1] for p < lens[slot]. */
  private readonly buckets: Int32Array[];
  private readonly lens: Int32Array;
  /** Entries whose tick is past MAX_REL (see timing-wheel-far.ts). */
  private readonly far = new FarList();
  /** An empty bucket handed to the slot being walked (the walked one becomes the next spare). */
  private spare: Int32Array = EMPTY;
  /** The detached bucket of the slot being walked; cells [0, pendingLen) are not walked yet. */
  private pending: Int32Array = EMPTY;
  private pendingLen = 0;
  /** Scratch for walk(): the ticks of the bucket being walked. */
  private ticks: Int32Array = EMPTY;
  /** The absolute tick records are relative to (a multiple of EPOCH). */
  private base = 0;
  /** Next (absolute) tick index to process; every tick below it has been processed. */
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
    this.buckets = new Array<Int32Array>(wheelSize).fill(EMPTY);
    this.lens = new Int32Array(wheelSize);
    this.growEntries(INITIAL_ENTRIES);
  }

  /** Number of scheduled nodes (including any mid-walk inside advance()). */
  get size(): number {
    return this.count;
  }

  /**
   * Insert `node`, or move it (as touch() does) if already scheduled. Any
   * deadline works: far ones wait outside the slots until in range, +Infinity
   * never expires, past ones are due at the next unprocessed tick boundary.
   * NaN is rejected.
   */
  schedule(node: N, deadline: number): void {
    if (deadline !== deadline) throw new RangeError('TimingWheel: deadline is NaN');
    if (node.wheelId !== -1) return this.touch(node, deadline);
    this.count++;
    this.place(this.alloc(node), deadline);
  }

  /**
   * Heartbeat path: O(1), allocation-free. A later (or same-tick) deadline is
   * only recorded; the entry is re-slotted when its cell's slot comes round.
   * An earlier deadline gets a cell in its slot now so it cannot expire late.
   * No-op for a node that is not scheduled.
   */
  touch(node: N, deadline: number): void {
    const i = node.wheelId;
    if (i < 0) return;
    const rel = Math.ceil((deadline - this.startMs) / this.tickMs) - this.base;
    const recs = this.recs;
    // A far record holds FAR_REL > MAX_REL: never taken here. NaN fails both.
    if (rel >= recs[i * REC]! && rel <= MAX_REL) {
      recs[i * REC] = rel;
      return;
    }
    if (deadline !== deadline) throw new RangeError('TimingWheel: deadline is NaN');
    this.retire(i);
    this.place(i, deadline);
  }

  /** O(1). No-op if not scheduled; afterwards node.wheelId === -1. */
  cancel(node: N): void {
    const i = node.wheelId;
    if (i < 0) return;
    this.retire(i);
    this.release(i);
    node.wheelId = -1;
    this.count--;
  }

  /**
   * Process every tick boundary <= now not yet processed. Each due entry is
   * removed (wheelId = -1) before onExpire(node) runs, so the callback may
   * reschedule it or schedule/touch/cancel any other node; it must not call
   * advance(). Returns how many expired. A `now` earlier than the last one, NaN
   * or infinite is a no-op. If onExpire throws, the error propagates and the
   * wheel stays consistent: entries not yet examined are handled on the next
   * advance().
   */
  advance(now: number, onExpire: (node: N) => void): number {
    if (this.advancing) throw new Error('TimingWheel: advance() called re-entrantly from onExpire');
    const target = Math.floor((now - this.startMs) / this.tickMs);
    // `!(a <= b)` also rejects NaN `now`.
    if (!(this.nextTick <= target) || target === Infinity) return 0;
    if (target - this.base >= REBASE_AT) this.rebase(target - (target % EPOCH));
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
        for (let s = 0; s <= this.mask; s++) this.walk(s, target - this.base, onExpire);
      } else {
        while (this.nextTick <= target) {
          const tick = this.nextTick;
          // Bump first: anything scheduled from onExpire lands in a later tick.
          this.nextTick = tick + 1;
          this.walk(tick & this.mask, tick - this.base, onExpire);
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

  /** Detach slot `s` and examine each of its live cells as of relative tick `tick`. */
  private walk(s: number, tick: number, onExpire: (node: N) => void): void {
    const len = this.lens[s]!;
    if (len === 0) return;
    const cells = this.buckets[s]!;
    this.buckets[s] = this.spare;
    this.spare = EMPTY;
    this.lens[s] = 0;
    this.pending = cells;
    const { stats, mask } = this;
    let recs = this.recs;
    // Pass 1: each cell's tick, or FAR_REL if stale. The record loads are the
    // random accesses; nothing here depends on one, so their misses overlap
    // (appending in the same loop would chain them: a bucket's length is
    // read-modified-written by consecutive visits).
    if (this.ticks.length < len) this.ticks = new Int32Array(Math.max(len, this.ticks.length * 2));
    const ticks = this.ticks;
    for (let k = 0; k < len; k++) {
      const i = cells[k * CELL]!;
      ticks[k] = recs[i * REC + 1] === cells[k * CELL + 1] ? recs[i * REC]! : FAR_REL;
    }
    // Pass 2, from cache. Once a callback ran, records may have changed: read them again.
    let fresh = true;
    let visited = 0;
    let reslotted = 0;
    try {
      for (let k = len - 1; k >= 0; k--) {
        const i = cells[k * CELL]!;
        const stamp = cells[k * CELL + 1]!;
        visited++;
        const t = fresh ? ticks[k]! : recs[i * REC + 1] === stamp ? recs[i * REC]! : FAR_REL;
        if (t === FAR_REL) continue; // stale
        if (t > tick) {
          reslotted++;
          // t > tick >= nextTick - 1 - base, so no clamping is needed.
          this.append(i, t & mask, stamp);
          continue;
        }
        recs[i * REC + 1] = stamp + 1;
        const node = this.nodes[i];
        if (node === undefined) continue; // free: only a wrapped stamp gets here
        this.release(i);
        node.wheelId = -1;
        this.count--;
        stats.expired++;
        this.pendingLen = k;
        fresh = false;
        onExpire(node);
        recs = this.recs;
      }
    } finally {
      stats.visited += visited;
      stats.reslotted += reslotted;
    }
    this.pendingLen = 0;
    this.pending = EMPTY;
    // The walked bucket's capacity serves the next detached slot.
    this.spare = cells;
  }

  /** After onExpire threw: park the cells not walked yet in the next tick's slot. */
  private requeuePending(): void {
    const cells = this.pending;
    const n = this.pendingLen;
    this.pendingLen = 0;
    this.pending = EMPTY;
    const slot = this.nextTick & this.mask;
    for (let k = 0; k < n; k++) this.append(cells[k * CELL]!, slot, cells[k * CELL + 1]!);
  }

  /**
   * Move base up to `to` (a multiple of EPOCH): shift every record (overdue
   * ones saturate at MIN_REL), then move the far entries that now fit into
   * their slots (not clamped to the next tick: they fit ~2^30 ticks before it,
   * or are overdue in a jump, which walks every slot).
   */
  private rebase(to: number): void {
    const shift = to - this.base;
    this.base = to;
    const recs = this.recs;
    for (let i = 0; i < this.nodes.length; i++) {
      const r = recs[i * REC]!;
      if (r === FAR_REL || this.nodes[i] === undefined) continue;
      recs[i * REC] = r - shift < MIN_REL ? MIN_REL : r - shift;
    }
    this.far.sweep(recs, (i, stamp, deadline) => {
      const rel = Math.ceil((deadline - this.startMs) / this.tickMs) - to;
      if (rel > MAX_REL) return false;
      const r = rel < MIN_REL ? MIN_REL : rel;
      recs[i * REC] = r;
      this.append(i, r & this.mask, stamp);
      return true;
    });
  }

  /** Give entry i a live cell where `deadline` belongs: its tick's slot (clamped to the next unprocessed tick) or the far list. */
  private place(i: number, deadline: number): void {
    const rel = Math.ceil((deadline - this.startMs) / this.tickMs) - this.base;
    const stamp = this.recs[i * REC + 1]!;
    if (rel > MAX_REL) {
      this.recs[i * REC] = FAR_REL;
      this.far.push(this.recs, i, stamp, deadline);
      return;
    }
    // `rel < next` also catches -Infinity.
    const next = this.nextTick - this.base;
    const r = rel < next ? next : rel;
    this.recs[i * REC] = r;
    this.append(i, r & this.mask, stamp);
  }

  /** Leave entry i's live cell stale (bump its stamp; Int32Array wraps it). */
  private retire(i: number): void {
    if (this.recs[i * REC] === FAR_REL) this.far.stale++;
    this.recs[i * REC + 1] = this.recs[i * REC + 1]! + 1;
  }

  /** Append cell [i, stamp] to `slot`'s bucket. */
  private append(i: number, slot: number, stamp: number): void {
    let bucket = this.buckets[slot]!;
    const n = this.lens[slot]!;
    if (n * CELL === bucket.length) this.buckets[slot] = bucket = grown(bucket, Math.max(INITIAL_BUCKET, n * 2) * CELL);
    bucket[n * CELL] = i;
    bucket[n * CELL + 1] = stamp;
    this.lens[slot] = n + 1;
  }

  private alloc(node: N): number {
    if (this.freeHead === -1) this.growEntries(this.nodes.length * 2);
    const i = this.freeHead;
    this.freeHead = this.recs[i * REC]!;
    this.nodes[i] = node;
    node.wheelId = i;
    return i;
  }

  /** Return entry i to the free list (its node reference dropped so it can be collected); its stamp is already bumped. */
  private release(i: number): void {
    this.nodes[i] = undefined;
    this.recs[i * REC] = this.freeHead;
    this.freeHead = i;
  }

  /** Double (or create) the entry table; new entries go on the free list, lowest index first. */
  private growEntries(capacity: number): void {
    const old = this.nodes.length;
    const recs = grown(this.recs, capacity * REC);
    this.recs = recs;
    for (let i = capacity - 1; i >= old; i--) {
      recs[i * REC] = this.freeHead;
      this.freeHead = i;
    }
    for (let i = old; i < capacity; i++) this.nodes.push(undefined);
  }
}
