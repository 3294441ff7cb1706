/**
 * The timing wheel's entry table (timing-wheel.ts says what the wheel does
 * with it): which node each entry index stands for and where the entry's
 * cell is, in two int32s per entry, with a free list threaded through the
 * same array. This file owns allocating and freeing indexes; the wheel owns
 * what a location means.
 *
 * Contract
 * - An entry's location is [slot, cell position] at locs[LOC * i] and
 *   locs[LOC * i + 1]; a free entry has slot -1 and the next free index in
 *   the second int32 (-1 ends the list). The wheel reads and writes
 *   locations directly (touch() is the hot path: no call per read).
 * - `locs` is replaced when the table grows: read it from here each time,
 *   never keep a reference across alloc().
 * - alloc() is O(1) amortized: it allocates only when the table doubles, and
 *   hands out the lowest free indexes first after a grow. release() is O(1)
 *   and drops the node reference so it can be collected.
 * - A node's `wheelId` is its index while it holds one, -1 otherwise; alloc()
 *   and release() keep it so.
 */

/** What the wheel needs on a node: one number (the gateway's Connection carries it), so it allocates nothing per touch. */
export interface WheelNode {
  /** -1 when not in the wheel (set it so before the first schedule); otherwise the wheel's index for it. */
  wheelId: number;
}

/** Int32s per entry location: [slot, cell position]. */
export const LOC = 2;
const INITIAL_ENTRIES = 1024;

export class WheelEntries<N extends WheelNode> {
  /** Per entry i: slot at [2i] (-1 when free), cell position at [2i + 1] (next free entry when free). */
  locs = new Int32Array(0);
  private readonly nodes: (N | undefined)[] = [];
  private freeHead = -1;
  private live = 0;

  constructor() {
    this.grow(INITIAL_ENTRIES);
  }

  /** Entries in use. */
  get size(): number {
    return this.live;
  }

  /** A free index for `node` (its wheelId set to it); its location is for the caller to write. */
  alloc(node: N): number {
    if (this.freeHead === -1) this.grow(this.nodes.length * 2);
    const i = this.freeHead;
    this.freeHead = this.locs[i * LOC + 1]!;
    this.nodes[i] = node;
    node.wheelId = i;
    this.live++;
    return i;
  }

  /** Return entry i to the free list; its node (returned) gets wheelId -1. */
  release(i: number): N {
    const node = this.nodes[i]!;
    this.nodes[i] = undefined;
    node.wheelId = -1;
    this.locs[i * LOC] = -1;
    this.locs[i * LOC + 1] = this.freeHead;
    this.freeHead = i;
    this.live--;
    return node;
  }

  /** Double (or create) the table; new entries go on the free list, lowest index first. */
  private grow(capacity: number): void {
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
