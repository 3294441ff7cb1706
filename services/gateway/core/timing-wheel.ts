/**
 * Hashed timing wheel (Varghese & Lauck, "scheme 6"; the shape of Netty's
 * HashedWheelTimer) owning every connection's heartbeat deadline.
 *
 * Algorithm
 *   Time is cut into ticks of `tickMs`, counted from `startMs`: tick k ends at
 *   boundary B(k) = startMs + k * tickMs. A deadline d belongs to tick
 *   T(d) = ceil((d - startMs) / tickMs), the first boundary at or after d.
 *   `wheelSize` slots (a power of two) each hold an intrusive doubly linked
 *   list; an entry for tick k lives in slot k & (wheelSize - 1), so a slot is
 *   shared by ticks one rotation apart. advance(now) processes every boundary
 *   B(k) <= now it has not processed yet, and for tick k walks only slot k's
 *   list: entries with T(deadline) <= k expire, the rest are re-slotted for
 *   their current deadline. No per-entry round counter is kept; an entry more
 *   than a rotation away is simply seen (and re-linked in place) once per
 *   rotation until its tick comes up.
 *
 *   Each slot is split into up to 8 lanes (independent lists, filled
 *   round-robin) and a tick walks its lanes interleaved. Walking one linked
 *   list is a chain of dependent cache misses; interleaving lets the CPU have a
 *   miss per lane in flight, which halved sweep CPU once the nodes no longer
 *   fit in cache (1M connections, loadtest/bench/wheel.ts: 1 lane 6.7 ms/s,
 *   4 lanes 3.0, 8 lanes 3.1, 16 lanes 3.2). Lanes are capped so the head
 *   array stays <= max(2^20, wheelSize) entries.
 *
 *   Touches are lazy: extending a deadline only writes node.deadline, and the
 *   entry is moved when its old slot comes round. Invariant that makes this
 *   correct: the slot an entry sits in is visited no later than
 *   max(T(deadline), next unprocessed tick). Moving a deadline later keeps it;
 *   moving it earlier may break it, so touch() re-slots eagerly in that case.
 *
 * Complexity (n = entries, S = wheelSize)
 *   schedule / cancel / touch   O(1) time, no allocation (links live on N).
 *   advance                     O(ticks crossed + entries in their slots);
 *                               a jump of more than one rotation is capped at
 *                               O(S + n): one pass over every slot.
 *   Per entry, a deadline D ticks ahead costs ceil(D / S) visits, and a lazily
 *   touched entry is visited about once per touch interval, so sweep cost per
 *   second scales with the touch (heartbeat) rate, not with n.
 *   Space: O(S * lanes) for list heads; nothing per entry beyond N's fields.
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

/** Intrusive node: the gateway's Connection class implements these fields itself, so the wheel allocates nothing per entry. */
export interface WheelNode {
  /** Absolute ms on the caller's clock; set by schedule/touch. */
  deadline: number;
  wheelPrev: WheelNode | null;
  wheelNext: WheelNode | null;
  /** -1 when not in the wheel; otherwise an opaque list index owned by the wheel. */
  wheelSlot: number;
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
  /** Visited entries that were not yet due and were re-linked for a later tick. */
  reslotted: number;
}

const MAX_WHEEL_SIZE = 1 << 20;
const MAX_LANE_SHIFT = 3; // 8 lanes: flat from 4 up on the bench VM; headroom for CPUs with more misses in flight

export class TimingWheel<N extends WheelNode> {
  /** Cumulative counters, mutated in place (cheap to export as metrics). */
  readonly stats: TimingWheelStats = { visited: 0, expired: 0, reslotted: 0 };

  private readonly tickMs: number;
  private readonly startMs: number;
  private readonly mask: number;
  private readonly laneShift: number;
  private readonly laneMask: number;
  /** List heads, indexed by wheelSlot = (slot << laneShift) | lane. */
  private readonly heads: (N | null)[];
  private lane = 0;
  /** Next tick index to process; every tick below it has been processed. */
  private nextTick = 0;
  private count = 0;
  /**
   * Per lane, the head of the list detached from the slot being walked. Its
   * nodes keep their wheelSlot, so unlink() tells "head of a slot list" from
   * "head of a pending list" by comparing pointers; that is what lets onExpire
   * cancel/touch any node, including ones not walked yet.
   */
  private readonly pending: (N | null)[];
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
    this.laneShift = Math.max(0, Math.min(MAX_LANE_SHIFT, 20 - Math.log2(wheelSize)));
    this.laneMask = (1 << this.laneShift) - 1;
    this.heads = new Array<N | null>(wheelSize << this.laneShift).fill(null);
    this.pending = new Array<N | null>(1 << this.laneShift).fill(null);
  }

  /** Number of scheduled nodes (including any mid-walk inside advance()). */
  get size(): number {
    return this.count;
  }

  /**
   * Insert `node`, or move it if already scheduled. Any deadline works: far
   * ones are re-linked once per rotation, +Infinity never expires, past ones
   * are due at the next unprocessed tick boundary. NaN is rejected.
   */
  schedule(node: N, deadline: number): void {
    if (deadline !== deadline) throw new RangeError('TimingWheel: deadline is NaN');
    if (node.wheelSlot !== -1) this.unlink(node);
    else this.count++;
    node.deadline = deadline;
    this.link(node, this.slotFor(deadline));
  }

  /**
   * Heartbeat path: O(1), allocation-free. A later (or equal) deadline is only
   * recorded; the entry is re-slotted when its current slot comes round. An
   * earlier deadline is re-slotted now so the entry cannot expire late.
   * No-op for a node that is not scheduled.
   */
  touch(node: N, deadline: number): void {
    if (node.wheelSlot === -1) return;
    if (deadline >= node.deadline) {
      node.deadline = deadline;
      return;
    }
    if (deadline !== deadline) throw new RangeError('TimingWheel: deadline is NaN');
    node.deadline = deadline;
    const slot = this.slotFor(deadline);
    // Same slot: its next visit is already <= the new tick (see invariant).
    if (slot !== node.wheelSlot >> this.laneShift) {
      this.unlink(node);
      this.link(node, slot);
    }
  }

  /** O(1). No-op if not scheduled; afterwards node.wheelSlot === -1. */
  cancel(node: N): void {
    if (node.wheelSlot === -1) return;
    this.unlink(node);
    node.wheelSlot = -1;
    this.count--;
  }

  /**
   * Process every tick boundary <= now not yet processed. Each due entry is
   * removed (wheelSlot = -1) before onExpire(node) runs, so the callback may
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

  /** Detach slot `s` and examine each entry as of tick `tick`, lanes interleaved. */
  private walk(s: number, tick: number, onExpire: (node: N) => void): void {
    const { heads, pending, laneMask, stats } = this;
    const base = s << this.laneShift;
    let live = false;
    for (let l = 0; l <= laneMask; l++) {
      const head = heads[base | l] ?? null;
      if (head === null) continue;
      heads[base | l] = null;
      pending[l] = head;
      live = true;
    }
    while (live) {
      live = false;
      for (let l = 0; l <= laneMask; l++) {
        const node = pending[l] ?? null;
        if (node === null) continue;
        live = true;
        // Pop before anything else: the callback may unlink other pending nodes.
        const next = node.wheelNext as N | null;
        pending[l] = next;
        if (next !== null) next.wheelPrev = null;
        node.wheelNext = null;
        stats.visited++;
        const t = this.tickOf(node.deadline);
        if (t <= tick) {
          node.wheelSlot = -1;
          this.count--;
          stats.expired++;
          onExpire(node);
        } else {
          stats.reslotted++;
          // t > tick >= nextTick - 1, so no clamping is needed.
          this.link(node, t & this.mask);
        }
      }
    }
  }

  /** After onExpire threw: park unexamined entries in the next tick's slot. */
  private requeuePending(): void {
    const slot = this.nextTick & this.mask;
    for (let l = 0; l <= this.laneMask; l++) {
      let node = this.pending[l] ?? null;
      this.pending[l] = null;
      while (node !== null) {
        const next = node.wheelNext as N | null;
        this.link(node, slot);
        node = next;
      }
    }
  }

  private tickOf(deadline: number): number {
    return Math.ceil((deadline - this.startMs) / this.tickMs);
  }

  /**
   * Slot for a deadline, clamped so overdue entries land on the next
   * unprocessed tick. `&` on a double keeps the low bits of any integer up to
   * 2^53, and maps +/-Infinity to slot 0 (harmless: revisited each rotation).
   */
  private slotFor(deadline: number): number {
    const t = this.tickOf(deadline);
    return (t < this.nextTick ? this.nextTick : t) & this.mask;
  }

  /** Push at the head of one of `slot`'s lanes (round-robin). Overwrites the node's links. */
  private link(node: N, slot: number): void {
    const lane = (this.lane = (this.lane + 1) & this.laneMask);
    const idx = (slot << this.laneShift) | lane;
    const head = this.heads[idx] ?? null;
    node.wheelPrev = null;
    node.wheelNext = head;
    if (head !== null) head.wheelPrev = node;
    this.heads[idx] = node;
    node.wheelSlot = idx;
  }

  /** Remove from whichever list holds it (a slot lane or a pending lane). Leaves wheelSlot as is. */
  private unlink(node: N): void {
    const prev = node.wheelPrev;
    const next = node.wheelNext as N | null;
    const idx = node.wheelSlot;
    if (next !== null) next.wheelPrev = prev;
    if (prev !== null) {
      prev.wheelNext = next;
    } else if (this.heads[idx] === node) {
      this.heads[idx] = next;
    } else if (this.pending[idx & this.laneMask] === node) {
      this.pending[idx & this.laneMask] = next;
    }
    node.wheelPrev = null;
    node.wheelNext = null;
  }
}
