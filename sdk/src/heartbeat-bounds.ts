/**
 * Heartbeat intervals a server names (hello.hb, heartbeat_ack.intervalMs) are
 * clamped before any timer sees them: a buggy or hostile gateway must not set
 * the interval to 0 (every beat a zombie: a reconnect loop) or to 2^53 (a
 * timer past the platform's range, which fires at once: a timer spin).
 * The hello's [minMs, maxMs] is itself first clamped to [HB_FLOOR_MS,
 * HB_CEIL_MS] (the protocol minimum and one hour); a heartbeat_ack's interval
 * is then clamped to that range (docs/sdk.md).
 */
import type { HelloFrame } from '../../protocol/index.js';

/** The protocol's smallest interval (ms). */
export const HB_FLOOR_MS = 100;
/** The largest interval the SDK accepts from a server (ms). */
export const HB_CEIL_MS = 3_600_000;

export interface HbBounds { minMs: number; maxMs: number }

/** Before a hello (or without one): the widest range the SDK accepts. */
export const DEFAULT_HB_BOUNDS: Readonly<HbBounds> = Object.freeze({ minMs: HB_FLOOR_MS, maxMs: HB_CEIL_MS });

/** `ms` within [lo, hi]; anything not a number (NaN) becomes `lo`. */
export function clampMs(ms: number, lo: number, hi: number): number {
  return ms >= lo ? Math.min(hi, ms) : lo;
}

/** The hello's heartbeat block with every value within the accepted range. */
export function saneHelloHb(hb: HelloFrame['hb']): HelloFrame['hb'] {
  const minMs = clampMs(hb.minMs, HB_FLOOR_MS, HB_CEIL_MS);
  const maxMs = clampMs(hb.maxMs, minMs, HB_CEIL_MS);
  return { ...hb, minMs, maxMs, intervalMs: clampMs(hb.intervalMs, minMs, maxMs) };
}
