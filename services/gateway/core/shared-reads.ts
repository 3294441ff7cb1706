/**
 * Reads in flight by key: a caller asking for a key already being read gets
 * the same promise instead of a second read. The entry is dropped when the
 * read settles (fulfilled or rejected), so a later caller reads afresh: this
 * shares only concurrent reads, it caches nothing.
 *
 * Used for channel history reads (channels.ts): after a mass reconnect every
 * recovering client of a channel asks for the same offset at once, and each
 * read is a store script over up to the reply bound; shared, the store sees
 * one per gateway per (channel, offset) at a time.
 */
export interface SharedReadCounts { started: number; shared: number }

export class SharedReads<K, V> {
  private readonly inFlight = new Map<K, Promise<V>>();

  /** `counts`: reads started, and calls that joined one in flight (may be shared by several instances). */
  constructor(private readonly counts: SharedReadCounts = { started: 0, shared: 0 }) {}

  /** A read of `key` is in flight (a `read` of it now would share it). */
  has(key: K): boolean { return this.inFlight.has(key); }

  read(key: K, start: () => Promise<V>): Promise<V> {
    const cur = this.inFlight.get(key);
    if (cur !== undefined) { this.counts.shared++; return cur; }
    this.counts.started++;
    const p = start();
    this.inFlight.set(key, p);
    const done = (): void => { if (this.inFlight.get(key) === p) this.inFlight.delete(key); };
    p.then(done, done);
    return p;
  }
}
