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

interface UserInbox {
  seq: number;
  epoch: number;
  /** In seq order, so also in expiry order (the TTL is the same for all). */
  entries: Stored[];
  cursors: Map<string, number>;
  cursorsExpireAt: number;
  /** Insertion order = expiry order (one TTL), so expired keys are pruned from the front. */
  idem: Map<string, Stored>;
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
      u = { seq: 0, epoch: newEpoch(this.clock.wallNow()), entries: [], cursors: new Map(), cursorsExpireAt: 0, idem: new Map() };
      this.users.set(user, u);
    }
    return u;
  }

  /** Drops expired entries, cursors and idempotency keys. */
  private prune(u: UserInbox, now: number): void {
    let n = 0;
    while (n < u.entries.length && u.entries[n]!.expiresAt <= now) n++;
    if (n > 0) u.entries.splice(0, n);
    if (u.cursors.size > 0 && u.cursorsExpireAt <= now) u.cursors.clear();
    for (const [k, v] of u.idem) {
      if (v.expiresAt > now) break;
      u.idem.delete(k);
    }
  }

  async append(user: string, entry: InboxEntry, opts?: { idempotencyKey?: string }): Promise<AppendResult> {
    const now = this.clock.now();
    const u = this.user(user);
    this.prune(u, now);
    const key = opts?.idempotencyKey;
    if (key !== undefined) {
      const seen = u.idem.get(key);
      if (seen) return { record: { ...seen.record }, duplicate: true };
    }
    const record: PushRecord = { seq: ++u.seq, id: entry.id, ts: entry.ts, data: entry.data, epoch: u.epoch };
    u.entries.push({ record, expiresAt: now + this.limits.ttlMs });
    if (u.entries.length > this.limits.maxLen) u.entries.splice(0, u.entries.length - this.limits.maxLen);
    if (key !== undefined) u.idem.set(key, { record, expiresAt: now + this.limits.idempotencyTtlMs });
    return { record: { ...record }, duplicate: false };
  }

  async since(user: string, afterSeq: number, limit: number): Promise<PushRecord[]> {
    const u = this.users.get(user);
    if (!u || limit <= 0) return [];
    this.prune(u, this.clock.now());
    // Binary search for the first entry with seq > afterSeq.
    let lo = 0;
    let hi = u.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (u.entries[mid]!.record.seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return u.entries.slice(lo, lo + limit).map((s) => ({ ...s.record }));
  }

  async latestSeq(user: string): Promise<number> {
    return this.users.get(user)?.seq ?? 0;
  }

  async position(user: string): Promise<SeqPosition> {
    const u = this.users.get(user);
    return u ? { seq: u.seq, epoch: u.epoch } : { seq: 0, epoch: 0 };
  }

  async ack(user: string, device: string, seq: number, opts?: { list?: boolean; epoch?: number }): Promise<AckResult> {
    const u = this.users.get(user);
    if (!u) return opts?.list === true ? { cursor: 0, trimmed: 0, acked: [] } : { cursor: 0, trimmed: 0 };
    const now = this.clock.now();
    this.prune(u, now);
    if (opts?.epoch !== undefined && opts.epoch !== u.epoch) {
      const cursor = u.cursors.get(device) ?? 0;
      return opts.list === true ? { cursor, trimmed: 0, acked: [] } : { cursor, trimmed: 0 };
    }
    const prev = u.cursors.get(device) ?? 0;
    const cursor = Math.max(prev, Math.min(Math.floor(seq), u.seq));
    const acked = opts?.list === true ? u.entries.filter((e) => e.record.seq > prev && e.record.seq <= cursor).map((e) => ({ seq: e.record.seq, id: e.record.id })) : undefined;
    u.cursors.set(device, cursor);
    u.cursorsExpireAt = now + this.limits.cursorTtlMs;
    let min = Infinity;
    for (const c of u.cursors.values()) if (c < min) min = c;
    let n = 0;
    while (n < u.entries.length && u.entries[n]!.record.seq <= min) n++;
    if (n > 0) u.entries.splice(0, n);
    return acked ? { cursor, trimmed: n, acked } : { cursor, trimmed: n };
  }

  async acked(user: string, device: string): Promise<number> {
    const u = this.users.get(user);
    if (!u) return 0;
    this.prune(u, this.clock.now());
    return u.cursors.get(device) ?? 0;
  }

  async summary(user: string): Promise<InboxSummary> {
    const u = this.users.get(user);
    if (!u) return { latestSeq: 0, depth: 0, cursors: {} };
    this.prune(u, this.clock.now());
    return { latestSeq: u.seq, depth: u.entries.length, cursors: Object.fromEntries(u.cursors) };
  }

  async close(): Promise<void> {
    this.users.clear();
  }
}
