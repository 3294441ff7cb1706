/**
 * Per-key ordering for async work. A push takes the lanes of all its users
 * at once, synchronously, when it arrives; `ready` resolves when every
 * earlier holder of any of those lanes has released. Because the push also
 * starts its inbox appends synchronously (and stores apply calls in order),
 * lane order equals seq order, so waiting on `ready` before publishing makes
 * one router publish each user's pushes in seq order even when store round
 * trips finish out of order. Taking all lanes in one synchronous step means
 * waits only ever point at earlier arrivals: no deadlock.
 */
export interface Lease {
  readonly ready: Promise<void>;
  release(): void;
}

export class Lanes {
  private readonly tails = new Map<string, Promise<void>>();

  get size(): number { return this.tails.size; }

  acquire(keys: Iterable<string>): Lease {
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const before: Promise<void>[] = [];
    const held: string[] = [];
    for (const k of keys) {
      const prev = this.tails.get(k);
      if (prev) before.push(prev);
      this.tails.set(k, mine);
      held.push(k);
    }
    let released = false;
    return {
      ready: before.length === 0 ? Promise.resolve() : Promise.all(before).then(() => undefined),
      release: () => {
        if (released) return;
        released = true;
        release();
        for (const k of held) if (this.tails.get(k) === mine) this.tails.delete(k);
      },
    };
  }
}
