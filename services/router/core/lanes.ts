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
  /** True when every earlier holder has released: the caller may publish now, without awaiting `ready`. */
  readonly isReady: boolean;
  readonly ready: Promise<void>;
  release(): void;
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * One holder's two stages. Their promises are made only when a later
 * holder waits on them: most pushes find their users' lanes free and are
 * waited on by no one, and two promises and their resolvers per push were
 * garbage on the hot path.
 */
class Tail {
  isIssued = false;
  isDone = false;
  private issuedP: Promise<void> | undefined;
  private doneP: Promise<void> | undefined;
  private onIssued: (() => void) | undefined;
  private onDone: (() => void) | undefined;

  get issued(): Promise<void> {
    if (this.isIssued) return RESOLVED;
    return (this.issuedP ??= new Promise<void>((r) => { this.onIssued = r; }));
  }

  get done(): Promise<void> {
    if (this.isDone) return RESOLVED;
    return (this.doneP ??= new Promise<void>((r) => { this.onDone = r; }));
  }

  issue(): void {
    if (this.isIssued) return;
    this.isIssued = true;
    this.onIssued?.();
  }

  finish(): void {
    this.issue();
    if (this.isDone) return;
    this.isDone = true;
    this.onDone?.();
  }
}

const NONE: readonly Tail[] = [];

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
    const mine = new Tail();
    let earlier: Set<Tail> | undefined;
    const held: string[] = [];
    for (const keys of lists) {
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const prev = this.tails.get(k);
        if (prev === mine) continue;
        if (prev) (earlier ??= new Set()).add(prev);
        this.tails.set(k, mine);
        held.push(k);
      }
    }
    const before = earlier ? [...earlier] : NONE;
    let released = false;
    const tails = this.tails;
    return {
      get issuable() { return before.every((t) => t.isIssued); },
      get canIssue() { return before.length === 0 ? RESOLVED : Promise.all(before.map((t) => t.issued)).then(() => undefined); },
      issued: () => mine.issue(),
      get isReady() { return before.every((t) => t.isDone); },
      get ready() { return before.length === 0 ? RESOLVED : Promise.all(before.map((t) => t.done)).then(() => undefined); },
      release: () => {
        if (released) return;
        released = true;
        mine.finish();
        for (const k of held) if (tails.get(k) === mine) tails.delete(k);
      },
    };
  }
}
