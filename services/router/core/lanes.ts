/**
 * Per-key ordering for async work. A push takes the lanes of all its users
 * at once, synchronously, when it arrives. Two stages per lease:
 *  - `issuable`/`canIssue`: every earlier holder of any of these lanes has
 *    issued its store calls (`issued()`). A push issues its inbox appends
 *    only then, and stores apply calls in order, so lane order equals seq
 *    order. Small pushes issue synchronously on arrival (earlier holders have
 *    all issued); a big batch issues in slices, yielding the event loop in
 *    between, and later pushes to its users wait for its last slice.
 *  - `ready`: every earlier holder has released. Waiting on it before
 *    publishing makes one router publish each user's pushes in seq order even
 *    when store round trips finish out of order.
 * Taking all lanes in one synchronous step means waits only ever point at
 * earlier arrivals: no deadlock.
 */
export interface Lease {
  /** True when every earlier holder has issued: the caller may issue its store calls now, synchronously. */
  readonly issuable: boolean;
  readonly canIssue: Promise<void>;
  /** This holder's store calls are all issued (release() implies it). */
  issued(): void;
  readonly ready: Promise<void>;
  release(): void;
}

interface Tail {
  isIssued: boolean;
  issued: Promise<void>;
  done: Promise<void>;
}

export class Lanes {
  private readonly tails = new Map<string, Tail>();

  get size(): number { return this.tails.size; }

  /** Whether some lease holds one of these keys (a push that finds none may store and route without taking them, in one turn). */
  anyHeld(keys: readonly string[]): boolean {
    for (let i = 0; i < keys.length; i++) if (this.tails.has(keys[i]!)) return true;
    return false;
  }

  /**
   * Keys may repeat (a batch's messages share users): a repeat is skipped.
   * Earlier holders are kept once each, however many keys they share with
   * this lease (a maximum batch shares up to 100,000 with the one before it).
   */
  acquire(keys: Iterable<string>): Lease {
    return this.acquireLists([Array.isArray(keys) ? keys as readonly string[] : [...keys]]);
  }

  /** acquire() over several key lists (a batch's messages), without building one: a maximum batch lists 100,000 keys, taken in one step. */
  acquireLists(lists: ReadonlyArray<readonly string[]>): Lease {
    let release!: () => void, markIssued!: () => void;
    const mine: Tail = {
      isIssued: false,
      issued: new Promise<void>((r) => { markIssued = r; }),
      done: new Promise<void>((r) => { release = r; }),
    };
    const earlier = new Set<Tail>();
    const held: string[] = [];
    for (const keys of lists) {
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const prev = this.tails.get(k);
        if (prev === mine) continue;
        if (prev) earlier.add(prev);
        this.tails.set(k, mine);
        held.push(k);
      }
    }
    const before = [...earlier];
    let released = false;
    const issued = (): void => {
      if (mine.isIssued) return;
      mine.isIssued = true;
      markIssued();
    };
    return {
      get issuable() { return before.every((t) => t.isIssued); },
      get canIssue() { return Promise.all(before.map((t) => t.issued)).then(() => undefined); },
      issued,
      ready: before.length === 0 ? Promise.resolve() : Promise.all(before.map((t) => t.done)).then(() => undefined),
      release: () => {
        if (released) return;
        released = true;
        issued();
        release();
        for (const k of held) if (this.tails.get(k) === mine) this.tails.delete(k);
      },
    };
  }
}
