/**
 * The cap on channel history reads that carry messages (LONGLINK_CHANNEL_PAGE_READS):
 * a recovering join's first read (channels.ts) and the catch-up page reads
 * after it (channel-pager.ts), each up to the history's reply bound (half the
 * bus message bound). After a mass reconnect with large gaps every
 * recovering connection would otherwise have its own read in flight at once
 * (2,000 connections: 2,000 reads, ~500 MB through the router and the bus).
 *
 * Over the cap a read waits its turn, oldest first. The caller decides what
 * bypasses it: a read it can share with one in flight (SharedReads) neither
 * waits nor counts. A waiter that no longer needs its turn (its connection
 * left the channel or closed) is cancelled and leaves nothing behind. A
 * waiter may name the read it is after (`key`): when such a read starts,
 * `release(key)` lets its waiters go at once, to share it.
 */
export interface ReadGateCounts {
  /** Reads in flight now (at most the cap). */
  readsInFlight: number;
  /** Reads waiting for their turn. */
  waiting: number;
}

export class ReadGate {
  /** Waiters, oldest first, with the read each is after: each runs when a read ends with room for one more. */
  private readonly line = new Map<() => void, string | undefined>();
  /** Waiters by the read they are after. */
  private readonly byKey = new Map<string, Set<() => void>>();

  constructor(private readonly max: number, private readonly counts: ReadGateCounts) {}

  /** No room for another read now. */
  get full(): boolean { return this.counts.readsInFlight >= this.max; }

  /** Counts `p` in flight until it settles; then the waiters go on while there is room. */
  track<T>(p: Promise<T>): Promise<T> {
    this.counts.readsInFlight++;
    const done = (): void => { this.counts.readsInFlight--; this.admit(); };
    p.then(done, done);
    return p;
  }

  /** `go` runs at its turn, or when the read `key` starts (it may then start a read, share one, or need none). */
  wait(go: () => void, key?: string): void {
    this.line.set(go, key);
    if (key !== undefined) {
      let set = this.byKey.get(key);
      if (set === undefined) this.byKey.set(key, set = new Set());
      set.add(go);
    }
    this.counts.waiting = this.line.size;
  }

  /** `go` no longer waits (it never runs). */
  cancel(go: () => void): void {
    if (!this.line.has(go)) return;
    const key = this.line.get(go);
    this.line.delete(go);
    if (key !== undefined) {
      const set = this.byKey.get(key);
      set?.delete(go);
      if (set?.size === 0) this.byKey.delete(key);
    }
    this.counts.waiting = this.line.size;
  }

  /** The read `key` started: its waiters go now, out of turn (they share it). */
  release(key: string): void {
    const set = this.byKey.get(key);
    if (set === undefined) return;
    for (const go of [...set]) { this.cancel(go); go(); }
  }

  private admit(): void {
    for (const go of this.line.keys()) {
      if (this.full) break;
      this.cancel(go);
      go();
    }
  }
}
