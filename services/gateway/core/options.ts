import type { AdmissionOptions } from './admission.js';

/** The subset of gateway configuration the core uses (the composition root maps config → options). */
export interface CoreOptions {
  gatewayId: string;
  hb: { minMs: number; maxMs: number; defaultMs: number; graceMs: number; check: boolean; log: boolean };
  wheel: { tickMs: number; size: number };
  limits: { maxPayload: number; ratePerSec: number; burst: number; sendBufferBound: number; writeTimeoutMs: number };
  admission: AdmissionOptions;
  drain: { windowMs: number; reconnectJitterMs: number };
  /** Channels (channels.ts); defaults when absent. */
  channels?: { maxPerConnection: number; recoverWaitMs: number; presenceEvents?: boolean; maxPageReads?: number };
}

/**
 * Plain counters the core bumps on hot paths; the metrics module reads them at
 * scrape time. The bare heartbeat (1 byte in, the 1-byte ack out) bumps one
 * counter, `bareHeartbeats`, instead of five: `heartbeats`, `framesIn`,
 * `bytesIn`, `framesOut` and `bytesOut` are totals read through getters that
 * add it to the `…Other` counters every other frame bumps.
 */
export interface CoreStats {
  opened: number;
  /** Bare heartbeats answered with the bare ack (GatewayCore.message's fast path). */
  bareHeartbeats: number;
  heartbeatsOther: number;
  framesInOther: number;
  framesOutOther: number;
  bytesInOther: number;
  bytesOutOther: number;
  readonly heartbeats: number;
  readonly framesIn: number;
  readonly framesOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  heartbeatTimeouts: number;
  pushesDelivered: number;
  backpressureDrops: number;
  slowConsumerCloses: number;
  upstream: number;
  acks: number;
  /** Session starts a router refused at once (overloaded), closed with 1013 and a retry delay. */
  startsShedByRouter: number;
  /** Session starts no router answered within the resume timeout, closed with 1013 and a retry delay (not 1011). */
  startsTimedOut: number;
  /** Session starts refused because the user had LONGLINK_MAX_DEVICES_PER_USER other devices connected (closed with 4011). */
  startsDeviceLimit: number;
  readonly closedByReason: Map<string, number>;
  readonly authFailures: Map<string, number>;
  readonly admissionRejections: Map<string, number>;
  readonly resumeOutcomes: Map<string, number>;
  /** In-band token refreshes: ok, refused (verification failed), mismatch (another user/device: closed 4001). */
  readonly refreshes: Map<string, number>;
  /** Upstream requests (`send` with `reply`) by outcome: ok, or the LL_UPSTREAM_… error code. */
  readonly upstreamReplies: Map<string, number>;
}

/**
 * A class, not an object literal: a literal of this many properties with
 * getters among them is created in dictionary mode, so every `stats.x++` on a
 * hot path (one per bare heartbeat) was a hash lookup and store through V8's
 * generic property stubs (~200 instructions, measured under callgrind). A
 * class instance keeps the counters as in-object fields and the getters on
 * its prototype.
 */
class Stats implements CoreStats {
  opened = 0;
  bareHeartbeats = 0;
  heartbeatsOther = 0;
  framesInOther = 0;
  framesOutOther = 0;
  bytesInOther = 0;
  bytesOutOther = 0;
  get heartbeats(): number { return this.bareHeartbeats + this.heartbeatsOther; }
  get framesIn(): number { return this.bareHeartbeats + this.framesInOther; }
  get framesOut(): number { return this.bareHeartbeats + this.framesOutOther; }
  // Each bare heartbeat and each bare ack is one byte.
  get bytesIn(): number { return this.bareHeartbeats + this.bytesInOther; }
  get bytesOut(): number { return this.bareHeartbeats + this.bytesOutOther; }
  heartbeatTimeouts = 0;
  pushesDelivered = 0;
  backpressureDrops = 0;
  slowConsumerCloses = 0;
  upstream = 0;
  acks = 0;
  startsShedByRouter = 0;
  startsTimedOut = 0;
  startsDeviceLimit = 0;
  readonly closedByReason = new Map<string, number>();
  readonly authFailures = new Map<string, number>();
  readonly admissionRejections = new Map<string, number>();
  readonly resumeOutcomes = new Map<string, number>();
  readonly refreshes = new Map<string, number>();
  readonly upstreamReplies = new Map<string, number>();
}

export function newStats(): CoreStats {
  return new Stats();
}

/** Hooks for distributions (histograms) that plain counters can't carry. */
export interface CoreObserver {
  sweepSeconds(s: number): void;
  negotiatedIntervalMs(ms: number): void;
  /** A push was written to a socket `s` seconds after the router accepted it (wall clocks; may be slightly negative across hosts). */
  pushLatencySeconds(s: number, path: 'live' | 'replay'): void;
}
