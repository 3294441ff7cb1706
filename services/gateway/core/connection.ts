/**
 * Per-connection state. One object per socket, shaped for memory: the timing
 * wheel's record index and the inbound token bucket live in plain fields here, so
 * the hot paths (touch on every frame, rate check) allocate nothing.
 */
import type { WheelNode } from './timing-wheel.js';
import type { BucketState } from '../../shared/token-bucket.js';
import type { ClientSocket, PresenceEvent, PushRecord } from './ports.js';
import type { OrderedConn } from './ordered-delivery.js';
import type { ReplayConn, ReplayState } from './replay.js';
import type { ChannelConn } from './channels.js';
import type { ChannelCommand } from './channel-commands.js';
import { heartbeatDeadlineMs } from '../../../protocol/index.js';

export class Connection implements WheelNode, BucketState, OrderedConn, ReplayConn, ChannelConn {
  // The fields a bare heartbeat reads or writes come first and together
  // (GatewayCore.message: closed, the ack watermarks, the token bucket, the
  // socket), so they share the object's first two cache lines (V8 lays fields
  // out in declaration order): a heartbeat arrives on a connection nothing
  // touched for seconds, and each cold line it loads costs more than the
  // JavaScript around it.
  /** Set once `end()` was called or the transport reported the close: never touch the socket after. */
  closed = false;
  /** Highest seq written to this socket, and highest the client acked, both of `epoch`. */
  sentSeq = 0;
  ackedSeq = 0;
  // Numeric fields start as numbers, never `undefined` (what an ES2022 field
  // without initializer holds until the constructor runs): a field that ever
  // held a non-number is stored boxed, so every write of a fractional value
  // (tokens and last, on every frame) would allocate a HeapNumber and take a
  // GC write barrier.
  /** Inbound token bucket: tokens left. */
  tokens = 0;
  /**
   * Clock time of the last inbound frame: the token bucket's refill time
   * (every frame passes take() first, which sets it) and the heartbeat
   * deadline's liveness (deadlines.ts: the deadline is this + deadlineSpanMs).
   * One field for both: a fractional number is a separate heap box in V8, so
   * two equal times cost a heartbeat two boxes to write.
   */
  last = 0;
  readonly socket: ClientSocket;
  /** The timing wheel's index for this connection's deadline record (-1: none). */
  wheelId = -1;
  /** Negotiated heartbeat interval's server-side span (interval x 1.5 + grace). */
  deadlineSpanMs = 0;
  /** Moves forward on an in-band refresh. */
  tokenExpiresAt = 0;

  /** Negotiated heartbeat interval. */
  intervalMs = 0;
  /** Close code the core chose (for metrics); undefined when the peer closed. */
  closeCode: number | undefined = undefined;
  /** Registered in the local registry and announced online. */
  registered = false;
  /** -1 when the send buffer is under its bound; otherwise when it went over. */
  stuckSince = -1;
  /** Between open and the end of the resume replay, live pushes wait here. */
  pending: PushRecord[] | null = [];
  /** The backlog being replayed, paced by the send buffer (replay.ts); null once done. */
  replay: ReplayState | null = null;
  /** '' until the session start answers (the connection is still starting). */
  session = '';
  /** A re-announcement passed over this connection while it was starting: announce it once its start succeeds (bus-link.ts reannounce). */
  announceOnStart = false;
  /** The user's sequence epoch (epoch.ts); -1 until the session start says (or if the router sends none). */
  epoch = -1;
  epochMoved = false;
  /** Upstream requests (`send` with `reply`) awaiting their backend's answer. */
  repliesInFlight = 0;
  /** Out-of-order live pushes waiting for a gap to fill (see ordered-delivery.ts). */
  held: PushRecord[] | null = null;
  heldSince = 0;
  repairing = false;
  /** Channels joined or joining (channels.ts); null until the first. */
  channels: Set<string> | null = null;
  awaitingRecover: { channels: readonly string[]; until: number } | null = null;
  /** Channel commands held while the session starts (channels.ts); [] from open() when the client speaks channel frames. */
  pendingControl: ChannelCommand[] | null = null;
  readonly id: string;
  readonly user: string;
  readonly device: string;

  constructor(socket: ClientSocket, id: string, user: string, device: string, tokenExpiresAt: number, intervalMs: number, graceMs: number, burst: number, now: number) {
    this.socket = socket;
    this.id = id;
    this.user = user;
    this.device = device;
    this.tokenExpiresAt = tokenExpiresAt;
    this.tokens = burst;
    this.last = now;
    this.intervalMs = intervalMs;
    this.deadlineSpanMs = heartbeatDeadlineMs(intervalMs, graceMs);
  }
}

/** Clamp helper shared by hello negotiation and heartbeat announcements. */
export function clampInterval(ms: number, min: number, max: number): number {
  return ms < min ? min : ms > max ? max : ms;
}

/** A re-announced online (no start stamp) for a live connection: its watermark, what the router's catch-up sends after, and its epoch. */
export type AnnouncedConn = Pick<Connection, 'user' | 'device' | 'id' | 'session' | 'sentSeq' | 'epoch' | 'announceOnStart'>;
export function reannounced(c: AnnouncedConn, gateway: string, at: number): PresenceEvent {
  return { type: 'online', user: c.user, device: c.device, conn: c.id, session: c.session, gateway, at, seq: c.sentSeq, ...(c.epoch >= 0 ? { epoch: c.epoch } : {}) };
}
