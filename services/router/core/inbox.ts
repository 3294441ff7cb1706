/**
 * The inbox contract: per-user sequence numbers and a bounded store of recent
 * pushes, plus per-device ack cursors.
 *
 * Why per user: every device of a user sees the same seq numbers (docs/protocol.md §6),
 * so a reconnecting device asks for "everything after N" without the router
 * tracking what each connection saw.
 *
 * Every method is async so that a Redis implementation fits unchanged:
 * ../stores/memory/inbox.ts and ../stores/redis/inbox.ts (key layout in
 * ../stores/redis/keys.ts). `append` assigns the seq and stores the entry
 * atomically, so no seq is ever lost or reused.
 *
 * Ordering: implementations apply calls in the order they are made (a single
 * pipelined Redis connection does). The router relies on this to publish a
 * user's pushes in seq order.
 *
 * Epochs: a user's sequence has an epoch, a positive integer created with the
 * seq counter. A store that loses the counter (a Redis FLUSHALL, a restart
 * without persistence, a failover to a replica that never had the key, a
 * memory store's process restart) starts the sequence at 1 again under a new,
 * greater epoch, so gateways and clients can tell "seq 3 again" from "seq 3
 * already seen" (docs/protocol.md §7). Every record carries its epoch; an ack
 * naming another epoch is ignored (it is about pushes the store no longer has,
 * and would otherwise trim new pushes with the same seqs).
 */
import type { PushRecord } from '../../shared/bus/messages.js';

export type { PushRecord };

/** What the router stores per push; `data` is already-serialised JSON. */
export interface InboxEntry {
  id: string;
  /** Router accept time, epoch ms. */
  ts: number;
  data: string;
}

export interface InboxLimits {
  /** Entries kept per user; older ones are dropped first when a new one would exceed it. */
  maxLen: number;
  /** An entry is dropped this long after it was appended (ms). */
  ttlMs: number;
  /** How long an idempotency key maps to its first result (ms). */
  idempotencyTtlMs: number;
  /** A user's ack cursors are forgotten this long after the last ack of any of their devices (ms). */
  cursorTtlMs: number;
}

export const DEFAULT_INBOX_LIMITS: Readonly<InboxLimits> = Object.freeze({
  maxLen: 1000,
  ttlMs: 7 * 24 * 3600_000,
  idempotencyTtlMs: 24 * 3600_000,
  cursorTtlMs: 30 * 24 * 3600_000,
});

export interface SeqPosition {
  seq: number;
  epoch: number;
}

export interface AppendResult {
  record: PushRecord;
  /** True when the idempotency key was seen within its TTL: `record` is the first append's record and nothing was stored. */
  duplicate: boolean;
}

export interface AckResult {
  /** The device's cursor after the ack (unchanged if the ack was lower). */
  cursor: number;
  /** Entries removed because every known device has now acked them. */
  trimmed: number;
  /**
   * Only when asked (`{ list: true }`): the stored, unexpired pushes this ack
   * newly covered for the device (old cursor < seq ≤ new cursor), in seq
   * order, read before the trim. The ack receipts are built from it.
   */
  acked?: AckedPush[];
}

/** A push one device's ack newly covered. */
export interface AckedPush {
  seq: number;
  id: string;
}

/** What the operator console shows of one user's inbox. */
export interface InboxSummary {
  /** As latestSeq(). */
  latestSeq: number;
  /** Stored, unexpired entries (waiting for an ack from some known device, or for a device that never acked). */
  depth: number;
  /** Ack cursor per known device (devices whose cursor expired are gone). */
  cursors: Record<string, number>;
}

export interface Inbox {
  /**
   * Assigns the user's next seq and stores the entry, atomically. With an
   * idempotency key seen within `idempotencyTtlMs`, returns the first
   * append's record with `duplicate: true` and stores nothing. Keys are
   * scoped per user.
   */
  append(user: string, entry: InboxEntry, opts?: { idempotencyKey?: string }): Promise<AppendResult>;

  /** Up to `limit` stored, unexpired entries with seq > afterSeq, in seq order. */
  since(user: string, afterSeq: number, limit: number): Promise<PushRecord[]>;

  /** Highest seq ever assigned to the user (0 if none), even if its entry is gone. */
  latestSeq(user: string): Promise<number>;

  /** latestSeq() and the sequence's epoch, read together; `{ seq: 0, epoch: 0 }` when the user has no sequence. */
  position(user: string): Promise<SeqPosition>;

  /**
   * Cumulative ack from one device: the cursor only moves forward and never
   * past latestSeq. Then trims every entry with seq ≤ the minimum cursor over
   * the user's known devices (those with a cursor), so no known device loses
   * a push it has not acked. A device that never acked is not known: it gets
   * what is still stored. With `list`, also returns the pushes the ack newly
   * covered (AckResult.acked), read in the same atomic step. With `epoch` set
   * and not the user's epoch, nothing changes (the ack is about a lost
   * sequence): the device's cursor is returned.
   */
  ack(user: string, device: string, seq: number, opts?: { list?: boolean; epoch?: number }): Promise<AckResult>;

  /**
   * ack() answered synchronously (throws what the promise would reject
   * with): only a store that does its work in process offers it (the memory
   * inbox), so a batch of acks is applied without a promise per ack.
   */
  ackNow?(user: string, device: string, seq: number, opts?: { list?: boolean; epoch?: number }): AckResult;

  /** The device's ack cursor (0 if it never acked or its cursor expired). */
  acked(user: string, device: string): Promise<number>;

  /** Latest seq, depth and every device's cursor, read at one instant. For operators: cost grows with the depth. */
  summary(user: string): Promise<InboxSummary>;

  /** Releases resources (connections, timers). */
  close(): Promise<void>;
}
