/**
 * Shapes the router core exposes to its callers (HTTP API, bus, metrics),
 * its options and its counters.
 */
import type { GatewayInfo } from './presence.js';

export interface PushLimits {
  /** Recipients of one push. */
  maxUsersPerPush: number;
  /** Messages in one batch request. */
  maxBatch: number;
}

/** A validated push, in the router's own (camelCase) form. */
export interface PushRequest {
  /** Recipients; duplicates are ignored. */
  users: string[];
  /** Any JSON value (null included); stored serialised. */
  data: unknown;
  /** Message id, the same for every recipient; generated if absent. */
  id?: string;
  /** Same key within its TTL → same seq and record per user, stored and delivered once. */
  idempotencyKey?: string;
  /** Wait up to this long (ms) for receipts: results say delivered / stored / offline (and acked with awaitFor 'acked'). */
  awaitMs?: number;
  /** What awaitMs waits for; 'delivered' (written to a socket) by default. Needs awaitMs. */
  awaitFor?: AwaitFor;
}

/** `delivered`: a gateway wrote the push to a live connection. `acked`: a device of the user acked it. */
export type AwaitFor = 'delivered' | 'acked';

export interface RouterCoreOptions extends PushLimits {
  /** Serialised size of one push's `data` (UTF-8 bytes). */
  maxPushBytes: number;
  /** Most pushes returned to one resume (the rest stays in the inbox until acked pushes are trimmed). */
  maxResumePushes: number;
  /** How often dead gateways' presence entries are deleted (ms). */
  sweepIntervalMs: number;
  /** Deliveries to one gateway are split into bus messages of about this many bytes (NATS' default max_payload is 1 MiB). */
  maxBusMessageBytes: number;
  /** Resume requests from the bus served at once; the rest wait in a FIFO (see work-queue.ts). */
  resumeConcurrency: number;
  /** Resume requests allowed to wait; more are refused at once (ROUTER_OVERLOADED). */
  resumeQueue: number;
  /**
   * Presence events from the bus applied at once (each a few store round
   * trips); the rest wait in a FIFO. Bounds what a re-announcement of a whole
   * gateway (tens of thousands of events in one burst) puts in the store
   * connection's pipeline ahead of pushes and publishes (gateway-events.ts).
   */
  presenceConcurrency: number;
  /** Presence events allowed to wait; more are dropped and counted (presence_events_shed_total). */
  presenceQueue: number;
  /**
   * Most devices of one user connected at once, cluster-wide; a session start
   * for one more device is refused with DEVICE_LIMIT. The same device
   * reconnecting replaces its old connection and does not count twice. 0 = no cap.
   */
  maxDevicesPerUser: number;
  /**
   * Ack receipts: every push a device acks is published (RouterOutbound.acked),
   * which `await: "acked"` relies on. `'await'`: only while some router
   * awaits one (RouterOutbound.ackReceiptsWanted), for deployments whose
   * backends take no receipts. Off: acks only move cursors, and pushes
   * asking to await acks are refused.
   */
  ackReceipts: boolean | 'await';
}

export const DEFAULT_ROUTER_OPTIONS: Readonly<RouterCoreOptions> = Object.freeze({
  maxUsersPerPush: 1000,
  maxBatch: 100,
  maxPushBytes: 64 * 1024,
  maxResumePushes: 1000,
  sweepIntervalMs: 5000,
  maxBusMessageBytes: 512 * 1024,
  resumeConcurrency: 256,
  resumeQueue: 20_000,
  presenceConcurrency: 64,
  presenceQueue: 500_000,
  maxDevicesPerUser: 16,
  ackReceipts: true,
});

/**
 * `sent`: at least one connection's gateway was sent the push. `offline`: no
 * live connection; the push waits in the inbox and an offline notice was
 * published. `duplicate`: the idempotency key was seen before; seq/id are the
 * first push's and nothing was stored or delivered again.
 * With `awaitMs`, `sent` becomes `delivered` (a gateway confirmed writing it
 * to a live connection in time) or `stored` (no receipt in time: it stays in
 * the inbox and arrives on the next resume). With awaitFor 'acked', `acked`
 * when a device of the user acked it in time; otherwise `delivered` or
 * `stored` as above.
 */
export type PushStatus = 'sent' | 'offline' | 'duplicate' | 'delivered' | 'stored' | 'acked';

export interface PushResult {
  user: string;
  seq: number;
  id: string;
  status: PushStatus;
  /** Live connections the push was routed to. */
  connections: number;
  /** Internal while awaiting: resolves true when a receipt arrived. Never serialised. */
  receipt?: Promise<boolean>;
  /** Internal while awaiting `acked`: resolves true when a device acked it. Never serialised. */
  ackReceipt?: Promise<boolean>;
}

export interface PushOutcome {
  /** The message id (given or generated). For a duplicate, each result carries the first push's id. */
  id: string;
  results: PushResult[];
}

/** Published on `subjects.offline` for each push that found the user offline. */
export interface OfflineNotice {
  user: string;
  seq: number;
  id: string;
  ts: number;
  /** The sequence epoch `seq` belongs to (docs/protocol.md §7.1). */
  epoch?: number;
}

export interface PresenceView {
  user: string;
  online: boolean;
  /** Session ids are left out on purpose: they are resume credentials. */
  connections: Array<{ conn: string; device: string; gateway: string; since: number }>;
}

export interface ControlRequest {
  type: 'kick' | 'logout';
  user: string;
  device?: string;
}

export interface ControlOutcome extends ControlRequest {
  /** Gateways the command was published to. */
  gateways: number;
  /** Connections the directory listed for the user (and device). */
  connections: number;
}

export interface ClusterView {
  gateways: GatewayInfo[];
}

/** Plain counters bumped on hot paths; the metrics module reads them at scrape time. */
export interface RouterStats {
  /** Push messages accepted (each message of a batch counts). */
  pushRequests: number;
  /** Per-recipient results, by PushStatus. */
  readonly pushes: Map<string, number>;
  inboxAppends: number;
  inboxDuplicates: number;
  /** Entries trimmed because every known device acked them. */
  inboxTrims: number;
  presenceLookups: number;
  presenceEvents: number;
  beacons: number;
  /** Replace commands sent to other gateways (cluster-wide one-session rule). */
  replaces: number;
  /** Gateways asked to re-announce their connections after their lease lapsed while they were alive. */
  resyncs: number;
  /** Re-announced connections sent pushes they missed while the directory did not list them. */
  catchUps: number;
  /** Session starts whose client named an epoch the store no longer has: the store lost that sequence (hello carries `lost`). */
  epochResets: number;
  /** By outcome: resumed, fresh, rejected, failed. */
  readonly resumes: Map<string, number>;
  acks: number;
  /** Ack receipts published: pushes newly acked by a device (AckEvent). */
  ackReceipts: number;
  controls: number;
  /** Bus messages published to gateways' deliver subjects. */
  deliveryMessages: number;
  offlineNotices: number;
  sweptEntries: number;
  /** Gateways whose presence lease expired (no beacon for leaseMs: died without draining), swept with their entries. */
  leaseExpiries: number;
  /** Malformed bus messages and failed publishes. */
  busErrors: number;
  storeErrors: number;
}

export function newRouterStats(): RouterStats {
  return {
    pushRequests: 0, pushes: new Map(), inboxAppends: 0, inboxDuplicates: 0, inboxTrims: 0, presenceLookups: 0, presenceEvents: 0,
    beacons: 0, replaces: 0, resyncs: 0, catchUps: 0, epochResets: 0, resumes: new Map(), acks: 0, ackReceipts: 0, controls: 0, deliveryMessages: 0, offlineNotices: 0, sweptEntries: 0, leaseExpiries: 0,
    busErrors: 0, storeErrors: 0,
  };
}
