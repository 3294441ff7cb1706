/**
 * The store answers of a big batch, kept as numbers as they arrive.
 *
 * Why: a maximum batch makes 100,000 store calls, and the batch is routed
 * only once the last one has answered (seq order per user, see Lanes).
 * Holding each recipient's answer (its promise, Located, AppendResult and
 * PushRecord) until then kept every one of them alive through several young-
 * generation collections: each scavenge copied all answers received since
 * the last one, then promoted them, and those copies were the longest pauses
 * of the router's event loop during maximum batches (docs/benchmarks.md).
 * Here an answer is reduced to its seq and epoch when it settles and the
 * objects die young, which a scavenge does not have to touch.
 *
 * An answer is kept whole only when numbers would lose something: a
 * duplicate (its record is the first append's), a recipient with live
 * connections (its entries), or a record whose id, ts or data are not the
 * entry's. `located(k)` rebuilds the same Located either way.
 *
 * Also the batch's bound on store calls in flight (`below`), and its one
 * outcome: resolves when all have settled, rejects with the first failure
 * once all have settled (none left to reject unhandled).
 */
import type { InboxEntry } from './inbox.js';
import type { Located } from './push-store.js';

/** Shared by every offline answer rebuilt here: frozen, so a caller that tried to add to it would throw. */
const NO_ENTRIES = Object.freeze([]) as unknown as Located['entries'];

export class SettledBatch {
  private readonly seqs: Float64Array;
  /** NaN: the record had no epoch. */
  private readonly epochs: Float64Array;
  private readonly whole = new Map<number, Located>();
  private inFlight = 0;
  private failed: { err: unknown } | undefined;
  private waitLimit = 0;
  private wake: (() => void) | undefined;

  /** `entryOf(k)`: the inbox entry recipient k was stored with. */
  constructor(size: number, private readonly entryOf: (k: number) => InboxEntry) {
    this.seqs = new Float64Array(size);
    this.epochs = new Float64Array(size);
  }

  /** Store calls issued and not yet settled. */
  get pending(): number { return this.inFlight; }

  /** Recipient k's store call: its answer is kept (as numbers when it can be) once it settles. */
  track(k: number, p: Promise<Located>): void {
    this.inFlight++;
    p.then((loc) => { this.keep(k, loc); this.settled(); }, (err: unknown) => { this.failed ??= { err }; this.settled(); });
  }

  /** Resolves once fewer than `limit` calls are in flight (at once if already so). One waiter at a time: the batch's issuing loop. */
  below(limit: number): Promise<void> {
    if (this.inFlight < limit) return Promise.resolve();
    return new Promise((r) => { this.waitLimit = limit; this.wake = r; });
  }

  /** Resolves once every tracked call has settled; rejects with the first failure, if any. */
  async all(): Promise<void> {
    await this.below(1);
    if (this.failed) throw this.failed.err;
  }

  /** Recipient k's answer (rebuilt when it was kept as numbers). */
  located(k: number): Located {
    const w = this.whole.get(k);
    if (w !== undefined) return w;
    const e = this.entryOf(k), epoch = this.epochs[k]!;
    const record = Number.isNaN(epoch) ? { seq: this.seqs[k]!, id: e.id, ts: e.ts, data: e.data } : { seq: this.seqs[k]!, id: e.id, ts: e.ts, data: e.data, epoch };
    return { appended: { record, duplicate: false }, entries: NO_ENTRIES };
  }

  private keep(k: number, loc: Located): void {
    const { appended: { record, duplicate }, entries } = loc;
    const e = this.entryOf(k);
    if (duplicate || entries.length > 0 || record.id !== e.id || record.ts !== e.ts || record.data !== e.data) { this.whole.set(k, loc); return; }
    this.seqs[k] = record.seq;
    this.epochs[k] = record.epoch ?? NaN;
  }

  private settled(): void {
    this.inFlight--;
    if (this.wake !== undefined && this.inFlight < this.waitLimit) {
      const w = this.wake;
      this.wake = undefined;
      w();
    }
  }
}
