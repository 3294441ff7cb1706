/**
 * The channel history contract: per channel, an epoch, an offset counter and
 * a bounded window of recent messages. Memory (standalone) and Redis
 * (cluster) implement it and pass one contract suite
 * (tests/contract/channel-history.contract.ts).
 *
 * - append() gives the message the channel's next offset (1, 2, …) in the
 *   current epoch, atomically, and keeps at most `maxLen` messages, each for
 *   at most `ttlMs`.
 * - The epoch is made on first use (append or since) and kept for
 *   `epochTtlMs` after the last append. When the store loses it (expiry, a
 *   flushed or restarted Redis without persistence), the next use makes a new
 *   one and offsets restart from 1: clients holding the old epoch are told
 *   their position means nothing any more.
 * - since() answers whether the window still holds every message after an
 *   offset; it returns them only when it does (a partial answer would look
 *   like a complete one to an app).
 * - since() with `maxBytes` also answers not covered when those
 *   messages' `data` (UTF-8 bytes) plus HISTORY_ENTRY_BYTES each add up to more than `maxBytes`. Why: the
 *   reply crosses the bus, whose messages are bounded (NATS max_payload,
 *   1 MiB by default); an unbounded one (100 x 64 KiB) was never delivered
 *   and the subscriber lost the channel. Not covered is the answer the
 *   protocol already has for "cannot recover": the client refetches
 *   (docs/protocol.md 13.4). The stores stop reading once over the bound,
 *   so a read costs the store at most about `maxBytes` plus one message.
 *   Over the bound, `pubs` holds the messages from afterOffset + 1 that fit
 *   (a contiguous prefix), and the window held every later message when it
 *   was read: gateways repair gaps and recover clients in pages that way,
 *   each next read after the last offset they got (gateway
 *   channel-pager.ts).
 */
import type { ChannelRecord } from '../../shared/bus/messages.js';

export type { ChannelRecord } from '../../shared/bus/messages.js';

/**
 * What each message adds to a history reply besides its `data` (offset, id of up to 128 characters, ts, JSON
 * punctuation), counted against `maxBytes` with the data: a window of many small messages (a history size of
 * thousands) is bounded too.
 */
export const HISTORY_ENTRY_BYTES = 192;

/**
 * A history reply's `maxBytes` for a router whose bus messages hold `maxBusMessageBytes`: half of it, as the inbox
 * resume (`data` is JSON inside JSON, and escaping can double it).
 */
export function historyReplyBytes(maxBusMessageBytes: number): number {
  return Math.floor(maxBusMessageBytes / 2);
}

/**
 * A problem when the largest channel message (`maxPublishBytes` of data plus HISTORY_ENTRY_BYTES, as since() counts
 * it) cannot fit one history reply of `maxHistoryBytes`: it would be accepted and given an offset, then never be in a
 * reply, so every recovery reaching it is cut and every gap repair skips it. Checked at start, as the bus limits
 * (shared/bus/payload-limits.ts).
 */
export function publishLimitProblems(maxPublishBytes: number, maxHistoryBytes: number): string[] {
  if (maxPublishBytes + HISTORY_ENTRY_BYTES <= maxHistoryBytes) return [];
  const fits = Math.max(0, maxHistoryBytes - HISTORY_ENTRY_BYTES);
  return [`LONGLINK_MAX_PUBLISH_BYTES: ${maxPublishBytes} bytes plus ${HISTORY_ENTRY_BYTES} per message exceed a channel history reply's bound (${maxHistoryBytes}: `
    + `half the router's bus message bound, for escaping), so such a message could never be recovered or repaired; set LONGLINK_MAX_PUBLISH_BYTES to at most ${fits}`];
}

export interface HistoryLimits {
  /** Messages kept per channel (oldest dropped first). */
  maxLen: number;
  /** How long a message stays in the window (ms). */
  ttlMs: number;
  /** How long a channel's epoch and offset survive without a publish (ms). */
  epochTtlMs: number;
}

export const DEFAULT_HISTORY_LIMITS: Readonly<HistoryLimits> = Object.freeze({
  maxLen: 100,
  ttlMs: 10 * 60_000,
  epochTtlMs: 7 * 24 * 3600_000,
});

export interface HistoryEntry {
  id: string;
  ts: number;
  data: string;
}

export interface HistoryWindow {
  epoch: string;
  /** Latest offset assigned in this epoch (0: nothing yet). */
  offset: number;
  /** Every message after the asked offset, in order, when `covered`; otherwise the prefix that fit `maxBytes`, or none. */
  pubs: ChannelRecord[];
  covered: boolean;
}

export interface ChannelHistory {
  append(channel: string, entry: HistoryEntry): Promise<{ offset: number; epoch: string }>;
  /**
   * Without `afterOffset`: the position (covered, no pubs). With it: the
   * messages after it, if the window still holds all of them (an offset at
   * or past the latest is covered with none; one past it is not: it came
   * from another epoch's numbering). Not covered either when their data
   * exceed `maxBytes` (no bound when absent): `pubs` then holds the prefix that fits.
   */
  since(channel: string, afterOffset: number | undefined, maxBytes?: number): Promise<HistoryWindow>;
  close(): Promise<void>;
}
