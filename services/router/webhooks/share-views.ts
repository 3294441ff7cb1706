/**
 * What a router knows of the other routers' share charges (jetstream-share.ts),
 * and which charges' releases it has already applied.
 *
 * Released once (ReleasedCharges). One job's charge can be reported as
 * leaving the queue more than once: a queue message settled twice (its ack
 * lost, or its lease run out while a router stalled: JetStream hands it out
 * again, to any router), a redelivery that fails again and waits out a
 * backoff of up to an hour before it settles, a job re-stored for a retry
 * twice (once per delivery of its message), each copy settling in its own
 * time. Each charge has an id, unique per origin (the router that charged
 * it: random per start) and carried by every copy of its job, and every
 * router applies the first release of an id and skips the others for as
 * long as they can come: until no copy of the job can still be queued (the
 * charge's lapse time, `keepMs`). The earlier places in the stream
 * (`@<stream seq>.<index>`) were remembered for a few leases only, and
 * restarted with a stream deleted and created again, so a place of the new
 * stream could skip a legitimate release.
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

/** Charge ids per block: one bit each. */
const BLOCK = 4096;
/** A block's bits, or undefined once all are set (every charge of it released: only its entry is kept). */
interface Block { bits: Uint32Array | undefined; set: number; touched: number }

/**
 * The charge ids released, per origin, a bit per id in blocks of BLOCK consecutive ids (an origin numbers its
 * charges 1, 2, 3, …, so they are dense). A block is dropped once no release touched it for `keepMs`: its charges
 * were all made before that, so they have lapsed and their releases no longer matter. At most `maxBlocks` blocks
 * (the least recently created dropped first past it): a dropped block's ids read as never released, so a repeat of
 * one is applied again (under-counts, never over), as is one heard after a restart.
 */
export class ReleasedCharges {
  private readonly by = new Map<string, Map<number, Block>>();
  private blocks = 0;
  private nextSweep: number;

  constructor(private readonly keepMs: number, private readonly maxBlocks: number, private readonly now: () => number = () => performance.now()) {
    this.nextSweep = now() + keepMs / 8;
  }

  /** True when `origin`'s charge `id` was released before (skip it); otherwise remembers it. */
  repeat(origin: string, id: number): boolean {
    const t = this.now();
    if (t >= this.nextSweep) this.sweep(t);
    let m = this.by.get(origin);
    if (m === undefined) this.by.set(origin, (m = new Map()));
    const n = Math.floor(id / BLOCK);
    let b = m.get(n);
    if (b === undefined) {
      if (this.blocks >= this.maxBlocks) this.dropOldest();
      m.set(n, (b = { bits: new Uint32Array(BLOCK / 32), set: 0, touched: t }));
      this.blocks++;
    }
    b.touched = t;
    if (b.bits === undefined) return true;
    const i = id - n * BLOCK, w = i >>> 5, bit = 1 << (i & 31);
    if ((b.bits[w]! & bit) !== 0) return true;
    b.bits[w]! |= bit;
    if (++b.set === BLOCK) b.bits = undefined;
    return false;
  }

  /** Blocks held (each ≤ BLOCK / 8 bytes of bits, none once full). */
  get size(): number { return this.blocks; }

  private sweep(t: number): void {
    this.nextSweep = t + this.keepMs / 8;
    for (const [origin, m] of this.by) {
      for (const [n, b] of m) if (t - b.touched >= this.keepMs) { m.delete(n); this.blocks--; }
      if (m.size === 0) this.by.delete(origin);
    }
  }

  private dropOldest(): void {
    let oldest: Map<number, Block> | undefined, at = Infinity, key = 0;
    for (const m of this.by.values()) {
      const first = m.entries().next();
      if (!first.done && first.value[1].touched < at) { oldest = m; at = first.value[1].touched; key = first.value[0]; }
    }
    if (oldest !== undefined) { oldest.delete(key); this.blocks--; }
  }
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
