/**
 * What a router knows of the other routers' share charges (jetstream-share.ts),
 * and which releases it has already applied.
 *
 * Releases once (RecentIds). A queue message settled twice (its first ack
 * lost, or a lease that ran out while a router was stalled: JetStream hands
 * it out again, to any router) used to report its jobs twice, and each
 * report released one more of the user's charges at every router: the user
 * could pass its share by the duplicates. A settle notice now names each
 * job's place in the stream (`@<stream seq>.<index>`), and every router
 * applies the first notice of a place and skips the others it hears within
 * its window (`windowMs`: a few leases; the redelivery of a message whose ack
 * was lost comes one lease after it was settled). Bounded: at most
 * 2 × `maxEntries` places, the oldest half forgotten first.
 *
 * Charges confirmed (OtherRouters). A router announces a charge before its
 * job is stored, so that the store, and a settle notice after it, never
 * overtake the announcement. A router dying in between left the charge
 * at the others until it lapsed (about two horizons). Announcements now say
 * which turn they are (`#<n>`) and the router confirms a turn (`^<n>`) once
 * every job charged in it is stored or refunded; a turn not confirmed within
 * `confirmMs` is released at the others. Announcements without a turn (an
 * earlier release's) are kept as before, until they lapse.
 */
import { ShareLedger, type Held } from './core/share.js';

export class RecentIds {
  private cur = new Set<string>();
  private prev = new Set<string>();
  private since: number;

  constructor(private readonly windowMs: number, private readonly maxEntries: number, private readonly now: () => number = () => performance.now()) {
    this.since = now();
  }

  /** True when `id` was seen within the window (skip it); otherwise remembers it. */
  repeat(id: string): boolean {
    const t = this.now();
    if (t - this.since >= this.windowMs || this.cur.size >= this.maxEntries) {
      this.prev = t - this.since >= 2 * this.windowMs ? new Set() : this.cur;
      this.cur = new Set();
      this.since = t;
    }
    if (this.cur.has(id) || this.prev.has(id)) return true;
    this.cur.add(id);
    return false;
  }

  get size(): number { return this.cur.size + this.prev.size; }
}

interface Turn { readonly at: number; readonly items: Array<[key: string, bytes: number]> }
interface Other { readonly ledger: ShareLedger; readonly turns: Map<number, Turn> }

/** The other routers' charges by origin, as they announce them; unconfirmed turns released after `confirmMs`. */
export class OtherRouters {
  private readonly by = new Map<string, Other>();
  /** When the oldest unconfirmed turn expires (Infinity: none). */
  private nextExpiry = Infinity;
  /** Charges released because their turn was never confirmed (a metric). */
  unconfirmed = 0;
  /**
   * Runs expire() at the next expiry: without it, turns expired only as this router next charged (of()), so the
   * dead letters' share, which charges only as it buries, and the metric, kept a dead router's charges long after
   * the window. Unref'd: it never keeps a process alive; close() clears it.
   */
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly lapseMs: number, private readonly confirmMs: number, private readonly now: () => number = () => performance.now()) {}

  get size(): number { return this.by.size; }

  /** A charge announced by `origin`, in its turn `turn` (none: an earlier release's announcement, never confirmed). */
  charge(origin: string, key: string, bytes: number, turn: number | undefined): void {
    let o = this.by.get(origin);
    if (!o) this.by.set(origin, (o = { ledger: new ShareLedger({ maxJobs: Infinity, maxBytes: Infinity }, { ms: this.lapseMs }), turns: new Map() }));
    o.ledger.takeCopies(key, bytes, 1);
    if (turn === undefined) return;
    let t = o.turns.get(turn);
    if (!t) {
      o.turns.set(turn, (t = { at: this.now(), items: [] }));
      this.nextExpiry = Math.min(this.nextExpiry, t.at + this.confirmMs);
      this.arm();
    }
    t.items.push([key, bytes]);
  }

  release(origin: string, key: string, bytes: number): void { this.by.get(origin)?.ledger.release(key, bytes); }

  /** `origin` stored (or refunded) every job of its turn `turn`: its charges stand. */
  confirm(origin: string, turn: number): void { this.by.get(origin)?.turns.delete(turn); }

  /** What `key` holds at the other routers. */
  of(key: string): Held {
    this.expire();
    let jobs = 0, bytes = 0;
    for (const [origin, o] of this.by) {
      if (o.ledger.keys === 0 && o.turns.size === 0) { this.by.delete(origin); continue; }
      const h = o.ledger.of(key);
      jobs += h.jobs;
      bytes += h.bytes;
    }
    return { jobs, bytes };
  }

  clear(): void { this.by.clear(); this.nextExpiry = Infinity; }

  /** Stops the expiry timer for good (the share closed). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer !== undefined || this.closed || this.nextExpiry === Infinity) return;
    this.timer = setTimeout(() => { this.timer = undefined; this.expire(); }, Math.max(0, this.nextExpiry - this.now()) + 1);
    this.timer.unref();
  }

  /** Releases the charges of turns not confirmed within `confirmMs`: their router died before storing them. */
  expire(): void {
    const now = this.now();
    if (now < this.nextExpiry) { this.arm(); return; }
    let next = Infinity;
    for (const o of this.by.values()) {
      for (const [n, t] of o.turns) {
        if (t.at + this.confirmMs > now) { next = Math.min(next, t.at + this.confirmMs); break; }
        for (const [key, bytes] of t.items) o.ledger.release(key, bytes);
        this.unconfirmed += t.items.length;
        o.turns.delete(n);
      }
    }
    this.nextExpiry = next;
    this.arm();
  }
}
