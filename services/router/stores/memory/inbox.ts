/**
 * In-process Inbox for standalone mode and tests. Each method does all its
 * work synchronously before its promise settles, so calls are atomic and
 * applied in call order, which is what the contract asks of every store.
 * Expiry reads the injected clock (monotonic `now()`), so tests drive TTLs by hand.
 */
import type { Clock } from '../../../shared/clock.js';
import { DEFAULT_INBOX_LIMITS, type AckResult, type AppendResult, type Inbox, type InboxEntry, type InboxLimits, type InboxSummary, type PushRecord, type SeqPosition } from '../../core/inbox.js';

interface Stored {
  record: PushRecord;
  expiresAt: number;
}

/**
 * A user's stored pushes, in seq order (so also in expiry order: one TTL),
 * as parallel arrays read from `head`: no object per entry. A standalone
 * router keeps every offline push here (a maximum batch adds 100,000), and
 * two small objects per entry made every garbage collection walk millions
 * of them; numbers in these arrays are stored unboxed and the id and data
 * strings are shared by all recipients of a push.
 *
 * Empty, the five fields point at shared empty arrays (never written: push
 * replaces them first). The usual inbox holds one push until its ack, so
 * the first push gets one-slot arrays (literals) instead of growing empty
 * ones, which V8 grows to 17 slots each: 760 bytes of backing stores per
 * pushed user, copied by every young-generation collection before the ack
 * came (docs/benchmarks.md, "young generation of the standalone process").
 */
const NO_NUMBERS: readonly number[] = Object.freeze([]);
const NO_STRINGS: readonly string[] = Object.freeze([]);

class Entries {
  private head = 0;
  private seqs = NO_NUMBERS as number[];
  private ids = NO_STRINGS as string[];
  private tss = NO_NUMBERS as number[];
  private datas = NO_STRINGS as string[];
  private exps = NO_NUMBERS as number[];

  get length(): number { return this.seqs.length - this.head; }
  seqAt(i: number): number { return this.seqs[this.head + i]!; }
  expiresAt(i: number): number { return this.exps[this.head + i]!; }
  record(i: number, epoch: number): PushRecord {
    const k = this.head + i;
    return { seq: this.seqs[k]!, id: this.ids[k]!, ts: this.tss[k]!, data: this.datas[k]!, epoch };
  }

  push(seq: number, id: string, ts: number, data: string, expiresAt: number): void {
    if (this.seqs.length === 0) {
      this.seqs = [seq]; this.ids = [id]; this.tss = [ts]; this.datas = [data]; this.exps = [expiresAt];
      return;
    }
    this.seqs.push(seq); this.ids.push(id); this.tss.push(ts); this.datas.push(data); this.exps.push(expiresAt);
  }

  /** Drops the first n entries. */
  drop(n: number): void {
    if (n <= 0) return;
    this.head += n;
    if (this.head === this.seqs.length) {
      this.head = 0;
      this.seqs = NO_NUMBERS as number[]; this.ids = NO_STRINGS as string[]; this.tss = NO_NUMBERS as number[];
      this.datas = NO_STRINGS as string[]; this.exps = NO_NUMBERS as number[];
    } else if (this.head >= 64 && this.head * 2 >= this.seqs.length) {
      const h = this.head;
      this.head = 0;
      this.seqs.splice(0, h); this.ids.splice(0, h); this.tss.splice(0, h); this.datas.splice(0, h); this.exps.splice(0, h);
    }
  }

  /** Index of the first entry with seq > afterSeq (binary search). */
  after(afterSeq: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqAt(mid) <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

interface UserInbox {
  seq: number;
  epoch: number;
  entries: Entries;
  /** Made by the first ack (an offline user may never get one). */
  cursors: Map<string, number> | undefined;
  cursorsExpireAt: number;
  /**
   * Made by the first push with an idempotency key. Insertion order = expiry
   * order (one TTL), so expired keys are pruned from the front.
   */
  idem: Map<string, Stored> | undefined;
}

/**
 * Epochs of this process: microseconds of wall time at creation, and always
 * above the last one handed out, so a store created later (a restart, or a
 * new instance in tests) starts greater epochs than any before it.
 */
let lastEpoch = 0;
function newEpoch(wallMs: number): number {
  lastEpoch = Math.max(Math.floor(wallMs * 1000), lastEpoch + 1);
  return lastEpoch;
}

export class MemoryInbox implements Inbox {
  private readonly users = new Map<string, UserInbox>();
  private readonly limits: InboxLimits;

  private readonly clock: Clock;

  constructor(opts: { clock: Clock } & Partial<InboxLimits>) {
    const { clock, ...limits } = opts;
    this.clock = clock;
    this.limits = { ...DEFAULT_INBOX_LIMITS, ...limits };
    if (!(this.limits.maxLen >= 1)) throw new RangeError('MemoryInbox: maxLen must be >= 1');
  }

  private user(user: string): UserInbox {
    let u = this.users.get(user);
    if (!u) {
      // The user's sequence starts here, so its epoch does too (the memory store forgets everything on restart).
      u = { seq: 0, epoch: newEpoch(this.clock.wallNow()), entries: new Entries(), cursors: undefined, cursorsExpireAt: 0, idem: undefined };
      this.users.set(user, u);
    }
    return u;
  }

  /** Drops expired entries, cursors and idempotency keys. */
  private prune(u: UserInbox, now: number): void {
    let n = 0;
    while (n < u.entries.length && u.entries.expiresAt(n) <= now) n++;
    u.entries.drop(n);
    if (u.cursors !== undefined && u.cursors.size > 0 && u.cursorsExpireAt <= now) u.cursors.clear();
    if (u.idem !== undefined) for (const [k, v] of u.idem) {
      if (v.expiresAt > now) break;
      u.idem.delete(k);
    }
  }

  async append(user: string, entry: InboxEntry, opts?: { idempotencyKey?: string }): Promise<AppendResult> {
    return this.appendNow(user, entry, opts);
  }

  /** append(), synchronously (the memory push store: stores/memory/push-store.ts). */
  appendNow(user: string, entry: InboxEntry, opts?: { idempotencyKey?: string }): AppendResult {
    const now = this.clock.now();
    const u = this.user(user);
    this.prune(u, now);
    const key = opts?.idempotencyKey;
    if (key !== undefined) {
      const seen = u.idem?.get(key);
      if (seen) return { record: { ...seen.record }, duplicate: true };
    }
    const seq = ++u.seq;
    u.entries.push(seq, entry.id, entry.ts, entry.data, now + this.limits.ttlMs);
    if (u.entries.length > this.limits.maxLen) u.entries.drop(u.entries.length - this.limits.maxLen);
    const record: PushRecord = { seq, id: entry.id, ts: entry.ts, data: entry.data, epoch: u.epoch };
    if (key !== undefined) {
      (u.idem ??= new Map()).set(key, { record, expiresAt: now + this.limits.idempotencyTtlMs });
      return { record: { ...record }, duplicate: false };
    }
    return { record, duplicate: false };
  }

  async since(user: string, afterSeq: number, limit: number): Promise<PushRecord[]> {
    const u = this.users.get(user);
    if (!u || limit <= 0) return [];
    this.prune(u, this.clock.now());
    const out: PushRecord[] = [];
    for (let i = u.entries.after(afterSeq); i < u.entries.length && out.length < limit; i++) out.push(u.entries.record(i, u.epoch));
    return out;
  }

  async latestSeq(user: string): Promise<number> {
    return this.users.get(user)?.seq ?? 0;
  }

  async position(user: string): Promise<SeqPosition> {
    const u = this.users.get(user);
    return u ? { seq: u.seq, epoch: u.epoch } : { seq: 0, epoch: 0 };
  }

  async ack(user: string, device: string, seq: number, opts?: { list?: boolean; epoch?: number }): Promise<AckResult> {
    return this.ackNow(user, device, seq, opts);
  }

  /** ack(), synchronously (the router's applyAcks: gateway-events.ts). */
  ackNow(user: string, device: string, seq: number, opts?: { list?: boolean; epoch?: number }): AckResult {
    const u = this.users.get(user);
    if (!u) return opts?.list === true ? { cursor: 0, trimmed: 0, acked: [] } : { cursor: 0, trimmed: 0 };
    const now = this.clock.now();
    this.prune(u, now);
    if (opts?.epoch !== undefined && opts.epoch !== u.epoch) {
      const cursor = u.cursors?.get(device) ?? 0;
      return opts.list === true ? { cursor, trimmed: 0, acked: [] } : { cursor, trimmed: 0 };
    }
    const cursors = (u.cursors ??= new Map());
    const prev = cursors.get(device) ?? 0;
    const cursor = Math.max(prev, Math.min(Math.floor(seq), u.seq));
    let acked: Array<{ seq: number; id: string }> | undefined;
    if (opts?.list === true) {
      acked = [];
      for (let i = u.entries.after(prev); i < u.entries.length && u.entries.seqAt(i) <= cursor; i++) {
        const r = u.entries.record(i, u.epoch);
        acked.push({ seq: r.seq, id: r.id });
      }
    }
    cursors.set(device, cursor);
    u.cursorsExpireAt = now + this.limits.cursorTtlMs;
    let min = Infinity;
    for (const c of cursors.values()) if (c < min) min = c;
    let n = 0;
    while (n < u.entries.length && u.entries.seqAt(n) <= min) n++;
    u.entries.drop(n);
    return acked ? { cursor, trimmed: n, acked } : { cursor, trimmed: n };
  }

  async acked(user: string, device: string): Promise<number> {
    const u = this.users.get(user);
    if (!u) return 0;
    this.prune(u, this.clock.now());
    return u.cursors?.get(device) ?? 0;
  }

  async summary(user: string): Promise<InboxSummary> {
    const u = this.users.get(user);
    if (!u) return { latestSeq: 0, depth: 0, cursors: {} };
    this.prune(u, this.clock.now());
    return { latestSeq: u.seq, depth: u.entries.length, cursors: u.cursors ? Object.fromEntries(u.cursors) : {} };
  }

  async close(): Promise<void> {
    this.users.clear();
  }
}
