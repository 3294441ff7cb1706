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
  channels?: { maxPerConnection: number; recoverWaitMs: number; presenceEvents?: boolean };
}

/** Plain counters the core bumps on hot paths; the metrics module reads them at scrape time. */
export interface CoreStats {
  opened: number;
  heartbeats: number;
  heartbeatTimeouts: number;
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  pushesDelivered: number;
  backpressureDrops: number;
  slowConsumerCloses: number;
  upstream: number;
  acks: number;
  /** Session starts a router refused at once (overloaded), closed with 1013 and a retry delay. */
  startsShedByRouter: number;
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

export function newStats(): CoreStats {
  return {
    opened: 0, heartbeats: 0, heartbeatTimeouts: 0, framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0,
    pushesDelivered: 0, backpressureDrops: 0, slowConsumerCloses: 0, upstream: 0, acks: 0, startsShedByRouter: 0, startsDeviceLimit: 0,
    closedByReason: new Map(), authFailures: new Map(), admissionRejections: new Map(), resumeOutcomes: new Map(), refreshes: new Map(), upstreamReplies: new Map(),
  };
}

/** Hooks for distributions (histograms) that plain counters can't carry. */
export interface CoreObserver {
  sweepSeconds(s: number): void;
  negotiatedIntervalMs(ms: number): void;
  /** A push was written to a socket `s` seconds after the router accepted it (wall clocks; may be slightly negative across hosts). */
  pushLatencySeconds(s: number, path: 'live' | 'replay'): void;
}
