/**
 * Per-connection state. One object per socket, shaped for memory: the timing
 * wheel's record index lives in a plain field here, and the numbers every
 * inbound frame reads or writes (token bucket, deadline inputs, sequence
 * numbers) live in the connection's record in a shared dense store
 * (conn-records.ts), read through accessors, so the hot paths allocate
 * nothing and a heartbeat loads one record line instead of boxed doubles.
 */
import type { WheelNode } from './timing-wheel.js';
import type { BucketState } from '../../shared/token-bucket.js';
import type { ClientSocket, PushRecord } from './ports.js';
import type { OrderedConn } from './ordered-delivery.js';
import type { ReplayConn, ReplayState } from './replay.js';
import type { ChannelConn } from './channels.js';
import { ConnRecords, R, STRIDE } from './conn-records.js';
import { heartbeatDeadlineMs } from '../../../protocol/index.js';

export class Connection implements WheelNode, BucketState, OrderedConn, ReplayConn, ChannelConn {
  // The fields every heartbeat reads come first, so they share the object's
  // first cache line (V8 lays fields out in declaration order): a heartbeat
  // arrives on a connection nothing touched for seconds, and each cold line
  // it loads costs more than the JavaScript around it.
  /** Set once `end()` was called or the transport reported the close: never touch the socket after. */
  closed = false;
  /** The timing wheel's index for this connection's deadline record (-1: none). */
  wheelId = -1;
  /** The store holding this connection's record, and the record's first index in `rec.f` (slot x STRIDE). */
  rec: ConnRecords;
  base = 0;
  /** The record's slot in the shared store; -1 once detach() moved the record out. */
  private slot = -1;
  readonly socket: ClientSocket;

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
  session = '';
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
  readonly id: string;
  readonly user: string;
  readonly device: string;

  /**
   * `records` is the gateway's shared store; without one (tests, tools) the
   * connection gets a private record.
   */
  constructor(socket: ClientSocket, id: string, user: string, device: string, tokenExpiresAt: number, intervalMs: number, graceMs: number, burst: number, now: number, records?: ConnRecords) {
    this.rec = records ?? new ConnRecords(1);
    this.slot = this.rec.alloc();
    this.base = this.slot * STRIDE;
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

  // The record's fields. Each accessor reads the store's current array (it is
  // replaced when the store grows).
  /** Inbound token bucket. */
  get tokens(): number { return this.rec.f[this.base + R.TOKENS]!; }
  set tokens(v: number) { this.rec.f[this.base + R.TOKENS] = v; }
  get last(): number { return this.rec.f[this.base + R.LAST]!; }
  set last(v: number) { this.rec.f[this.base + R.LAST] = v; }
  /** Highest seq written to this socket, and highest the client acked, both of `epoch`. */
  get sentSeq(): number { return this.rec.f[this.base + R.SENT]!; }
  set sentSeq(v: number) { this.rec.f[this.base + R.SENT] = v; }
  get ackedSeq(): number { return this.rec.f[this.base + R.ACKED]!; }
  set ackedSeq(v: number) { this.rec.f[this.base + R.ACKED] = v; }
  /** Negotiated heartbeat interval's server-side span (interval x 1.5 + grace). */
  get deadlineSpanMs(): number { return this.rec.f[this.base + R.SPAN]!; }
  set deadlineSpanMs(v: number) { this.rec.f[this.base + R.SPAN] = v; }
  /** Moves forward on an in-band refresh. */
  get tokenExpiresAt(): number { return this.rec.f[this.base + R.EXPIRY]!; }
  set tokenExpiresAt(v: number) { this.rec.f[this.base + R.EXPIRY] = v; }

  /**
   * Moves the record out of the shared store into a private one and frees
   * the shared slot for the next connection. Called when the connection
   * closes: async continuations may still read or write its fields, which
   * must never land in a record that now belongs to another connection.
   * Idempotent.
   */
  detach(): void {
    if (this.slot < 0) return;
    const own = new ConnRecords(1);
    own.f.set(this.rec.f.subarray(this.base, this.base + STRIDE));
    this.rec.release(this.slot);
    this.slot = -1;
    this.rec = own;
    this.base = 0;
  }
}

/** Clamp helper shared by hello negotiation and heartbeat announcements. */
export function clampInterval(ms: number, min: number, max: number): number {
  return ms < min ? min : ms > max ? max : ms;
}
