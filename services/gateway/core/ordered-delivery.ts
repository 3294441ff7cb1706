/**
 * In-order, gap-repairing delivery of live pushes to one connection.
 *
 * Why: per-user seqs are assigned atomically in the inbox store, but with
 * several routers two pushes for one user can reach a gateway in the wrong
 * order (router A appended seq 11, router B appended 12 and published first).
 * The gateway writes only the next expected seq; a later one is held. If the
 * gap is not filled by the next tick, the missing pushes are fetched from the
 * inbox through the resume path. They are always there already: a push is
 * appended before it is published, and appends happen in seq order. So
 * clients see each user's pushes in seq order, even those that do no
 * reordering themselves.
 *
 * A gap the inbox cannot fill (trimmed by length or TTL) is skipped after one
 * repair, so a connection never stalls. A push of a newer sequence epoch
 * (epoch.ts) restarts the order from seq 1 and drops what was held; one of an
 * older epoch is dropped. Costs: nothing on the in-order path
 * but a comparison; a held push costs one array per connection with a gap.
 */
import type { PushRecord } from './ports.js';
import { enterEpoch, type EpochConn } from './epoch.js';

export interface OrderedConn extends EpochConn {
  /** Highest seq written to the socket (the watermark). */
  sentSeq: number;
  closed: boolean;
  held: PushRecord[] | null;
  heldSince: number;
  repairing: boolean;
}

export interface OrderedDeliveryDeps<C extends OrderedConn> {
  write(c: C, p: PushRecord): void;
  /** Fetches pushes after `afterSeq` (of the connection's epoch) from the inbox (resolves in seq order). */
  fetch(c: C, afterSeq: number): Promise<PushRecord[]>;
  /** A gap older than this is repaired on the next tick. */
  repairAfterMs: number;
}

export class OrderedDelivery<C extends OrderedConn> {
  private readonly gapped = new Set<C>();
  repairs = 0;
  skippedGaps = 0;
  /** Connections moved to a newer epoch, and pushes of an older one dropped. */
  epochMoves = 0;
  stalePushes = 0;

  constructor(private readonly d: OrderedDeliveryDeps<C>) {}

  get pendingGaps(): number { return this.gapped.size; }

  /** Offers live pushes (any order, duplicates allowed). */
  offer(c: C, pushes: readonly PushRecord[], now: number): void {
    for (const p of pushes) {
      if (c.closed) return;
      const e = enterEpoch(c, p.epoch);
      if (e === 'stale') { this.stalePushes++; continue; }
      if (e === 'moved') { this.epochMoves++; this.forget(c); }
      if (p.seq <= c.sentSeq) continue; // already written
      if (p.seq === c.sentSeq + 1) {
        this.d.write(c, p);
        this.flushHeld(c);
      } else {
        this.hold(c, p, now);
      }
    }
  }

  /** Starts repairs for gaps that waited long enough. Call every tick. */
  tick(now: number): void {
    for (const c of this.gapped) {
      if (c.closed) { this.forget(c); continue; }
      if (!c.repairing && now - c.heldSince >= this.d.repairAfterMs) this.repair(c, now);
    }
  }

  forget(c: C): void {
    c.held = null;
    this.gapped.delete(c);
  }

  private hold(c: C, p: PushRecord, now: number): void {
    const held = (c.held ??= []);
    let i = held.length;
    while (i > 0 && held[i - 1]!.seq > p.seq) i--;
    if (i > 0 && held[i - 1]!.seq === p.seq) return;
    held.splice(i, 0, p);
    if (!this.gapped.has(c)) {
      c.heldSince = now;
      this.gapped.add(c);
    }
  }

  /** Writes held pushes that have become contiguous. */
  private flushHeld(c: C): void {
    const held = c.held;
    if (held === null) return;
    while (held.length > 0 && held[0]!.seq <= c.sentSeq + 1) {
      const p = held.shift()!;
      if (p.seq > c.sentSeq) this.d.write(c, p);
    }
    if (held.length === 0) this.forget(c);
  }

  private repair(c: C, now: number): void {
    c.repairing = true;
    this.repairs++;
    const epoch = c.epoch;
    this.d.fetch(c, c.sentSeq).then(
      (fetched) => {
        c.repairing = false;
        // The connection moved to a newer epoch meanwhile: this answer is about the old one.
        if (c.closed || c.held === null || c.epoch !== epoch) return;
        // The inbox is on a newer epoch than what was held: offer() moves the connection and drops the held ones.
        if (fetched.some((p) => p.epoch !== undefined && p.epoch !== epoch)) { this.offer(c, fetched, now); return; }
        const firstHeld = c.held[0]!.seq;
        // The inbox is authoritative: write what it has before the held ones, in order.
        for (const p of fetched) {
          if (p.seq >= firstHeld) break;
          if (p.seq <= c.sentSeq) continue;
          if (p.seq !== c.sentSeq + 1) this.skippedGaps++;
          this.d.write(c, p);
        }
        this.flushHeld(c);
        if (c.held === null || c.closed) return;
        if (fetched.length > 0 && fetched[fetched.length - 1]!.seq < firstHeld - 1) {
          // The inbox answered with a page short of the gap: fetch the next page now.
          this.repair(c, now);
          return;
        }
        // The inbox no longer has the missing seqs: skip the gap rather than stall.
        this.skippedGaps++;
        c.sentSeq = firstHeld - 1;
        this.flushHeld(c);
      },
      () => {
        c.repairing = false;
        c.heldSince = now; // retry after another repairAfterMs
      },
    );
  }
}
