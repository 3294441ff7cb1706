/**
 * The cap on channel history reads that carry messages (LONGLINK_CHANNEL_PAGE_READS):
 * a recovering join's first read (channels.ts) and the catch-up page reads
 * after it (channel-pager.ts), each up to the history's reply bound (half the
 * bus message bound). After a mass reconnect with large gaps every
 * recovering connection would otherwise have its own read in flight at once
 * (2,000 connections: 2,000 reads, ~500 MB through the router and the bus).
 *
 * Over the cap a read waits its turn. **Order: round-robin by user, then
 * oldest first within a user.** Each user with reads waiting has one place
 * in a turn order (a user with none waiting joins at its end); when a read
 * ends with room for one more, the user at the front gets its oldest waiter
 * run and, if it has more waiting, moves to the end. So a user with a burst
 * of reads (one user's 16 connections recovering 63 channels each: ~1,000)
 * cannot put them all ahead of another user's single read: that read starts
 * within the next (users waiting) turns, at most cap-many read ends when
 * fewer users than the cap wait. The line was one FIFO before: the single
 * read waited behind the whole burst (a 2.4 MB recovery took 0.7-1.9 s
 * instead of 35-60 ms beside such a burst). Which users are fair to each other
 * is the caller's `user` (the connection's user id); reads given none share
 * one place.
 *
 * The caller decides what bypasses the line: a read it can share with one in
 * flight (SharedReads) neither waits nor counts. A waiter that no longer
 * needs its turn (its connection left the channel or closed) is cancelled and
 * leaves nothing behind. A waiter may name the read it is after (`key`: its
 * channel and offset): when such a read starts, `release(key)` lets its
 * waiters go at once, out of turn and whatever their user, to share it.
 */
export interface ReadGateCounts {
  /** Reads in flight now (at most the cap). */
  readsInFlight: number;
  /** Reads waiting for their turn. */
  waiting: number;
}

/** The user of reads given none (they share one place in the turn order). */
const ANYONE = '';

interface Waiter { readonly user: string; readonly key: string | undefined }

export class ReadGate {
  /** Users with waiters, in turn order (the next to be served first), each with its waiters oldest first. */
  private readonly users = new Map<string, Set<() => void>>();
  /** Every waiter, with its user and the read it is after. */
  private readonly waiters = new Map<() => void, Waiter>();
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

  /**
   * `go` runs at its turn (round-robin by `user`, oldest first within it), or when the read `key` starts (it may
   * then start a read, share one, or need none).
   */
  wait(go: () => void, key?: string, user: string = ANYONE): void {
    if (this.waiters.has(go)) return;
    this.waiters.set(go, { user, key });
    let mine = this.users.get(user);
    if (mine === undefined) this.users.set(user, mine = new Set());
    mine.add(go);
    if (key !== undefined) {
      let set = this.byKey.get(key);
      if (set === undefined) this.byKey.set(key, set = new Set());
      set.add(go);
    }
    this.counts.waiting = this.waiters.size;
  }

  /** `go` no longer waits (it never runs). A user left with none waiting gives up its place in the turn order. */
  cancel(go: () => void): void {
    const w = this.waiters.get(go);
    if (w === undefined) return;
    this.waiters.delete(go);
    const mine = this.users.get(w.user);
    mine?.delete(go);
    if (mine?.size === 0) this.users.delete(w.user);
    if (w.key !== undefined) {
      const set = this.byKey.get(w.key);
      set?.delete(go);
      if (set?.size === 0) this.byKey.delete(w.key);
    }
    this.counts.waiting = this.waiters.size;
  }

  /**
   * The read `key` started: its waiters go now, out of turn (they share it). One that an earlier one's `go`
   * cancelled meanwhile does not run (the contract of cancel).
   */
  release(key: string): void {
    const set = this.byKey.get(key);
    if (set === undefined) return;
    for (const go of [...set]) {
      if (!this.waiters.has(go)) continue;
      this.cancel(go);
      go();
    }
  }

  /**
   * While there is room: the front user's oldest waiter goes, and the user moves to the end of the turn order if it
   * has more. A waiter that starts no read (it shares one, or no longer needs one) leaves the room to the next.
   */
  private admit(): void {
    while (!this.full) {
      const front = this.users.entries().next();
      if (front.done === true) return;
      const [user, mine] = front.value;
      const go = mine.values().next().value!;
      this.cancel(go);
      if (this.users.get(user) === mine) { this.users.delete(user); this.users.set(user, mine); }
      go();
    }
  }
}
