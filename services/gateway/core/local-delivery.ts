/**
 * Local delivery: the router's pushes onto this gateway's sockets. Live
 * pushes go through OrderedDelivery (ordered-delivery.ts: in seq order per
 * connection, gaps repaired from the inbox); a connection whose session
 * replay is still running (replay.ts) holds them instead, and they are
 * offered once the replay is done. Both fetch from the router through the
 * gateway link, for the connection's epoch when it knows one.
 *
 * Contract: deliver() and the replay hooks skip closed connections; a failed
 * replay page closes the connection (INTERNAL_ERROR) so the client resumes
 * from its acks. forget() drops everything held for a closed connection.
 */
import { Close } from '../../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { Connection } from './connection.js';
import { OrderedDelivery } from './ordered-delivery.js';
import type { Outbound } from './outbound.js';
import type { GatewayLink, PushRecord, ResumeReply } from './ports.js';
import { Replayer } from './replay.js';

/** Live pushes held for one connection during its replay before they are dropped for one more inbox page (replay.ts). */
const MAX_PENDING_DURING_REPLAY = 1024;

/** The connection's epoch for a fetch, when known (FetchRequest.epoch). */
const epochOf = (c: Connection): { epoch?: number } => (c.epoch >= 0 ? { epoch: c.epoch } : {});

export interface LocalDeliveryDeps {
  out: Outbound;
  link: GatewayLink;
  clock: Clock;
  log: Logger;
  /** Out-of-order pushes wait this long for the missing ones before the inbox is asked (the wheel tick). */
  repairAfterMs: number;
  /** The slow-consumer bound: a replay pauses under it, so a reading client is never taken for a stuck one. */
  sendBufferBound: number;
  closeWith(c: Connection, code: number, message: string): void;
}

export class LocalDelivery {
  private readonly ordered: OrderedDelivery<Connection>;
  private readonly replayer: Replayer<Connection>;

  constructor(private readonly d: LocalDeliveryDeps) {
    this.ordered = new OrderedDelivery<Connection>({
      write: (c, p) => d.out.push(c, p, 'live'),
      fetch: (c, afterSeq) => d.link.fetch({ user: c.user, device: c.device, afterSeq, ...epochOf(c) }).then((r) => r.pushes),
      repairAfterMs: d.repairAfterMs,
    });
    this.replayer = new Replayer<Connection>({
      write: (c, p) => d.out.push(c, p, 'replay'),
      fetch: (c, afterSeq) => d.link.fetch({ user: c.user, device: c.device, afterSeq, ...epochOf(c) }),
      done: (c) => {
        const pending = c.pending ?? [];
        c.pending = null;
        if (pending.length > 0) c.socket.cork(() => this.ordered.offer(c, pending, d.clock.now()));
      },
      failed: (c, err) => {
        d.log.warn({ err: String(err), conn: c.id }, 'replay page fetch failed; closing so the client resumes');
        d.closeWith(c, Close.INTERNAL_ERROR, 'session service unavailable, retry');
      },
      highWaterBytes: d.sendBufferBound,
      maxPending: MAX_PENDING_DURING_REPLAY,
    });
  }

  /** Out-of-order repairs (fetches from the inbox) and gaps the inbox could not fill. */
  get orderingStats(): { repairs: number; skippedGaps: number; pendingGaps: number; epochMoves: number; stalePushes: number } {
    const o = this.ordered;
    return { repairs: o.repairs, skippedGaps: o.skippedGaps, pendingGaps: o.pendingGaps, epochMoves: o.epochMoves, stalePushes: o.stalePushes };
  }

  /** Replay pages fetched after the session start's, and pauses on a full send buffer. */
  get replayStats(): { pages: number; pauses: number } {
    return { pages: this.replayer.pagesFetched, pauses: this.replayer.pauses };
  }

  /** The session start's reply: replay its backlog, holding live pushes until done. */
  replay(c: Connection, reply: ResumeReply): void {
    this.replayer.start(c, reply);
  }

  /** Writes `pushes` to each open connection (held during its replay). Returns how many connections got them. */
  deliver(conns: Iterable<Connection>, pushes: PushRecord[]): number {
    const now = this.d.clock.now();
    let n = 0;
    for (const c of conns) if (this.offerTo(c, pushes, now)) n++;
    return n;
  }

  /** deliver() for one connection (the common case: no iterable, no snapshot). True if it was open. */
  deliverTo(c: Connection, pushes: PushRecord[]): boolean {
    return this.offerTo(c, pushes, this.d.clock.now());
  }

  private offerTo(c: Connection, pushes: PushRecord[], now: number): boolean {
    if (c.closed) return false;
    if (c.pending !== null) { this.replayer.hold(c, pushes); return true; }
    if (pushes.length === 1) this.ordered.offer(c, pushes, now);
    else c.socket.cork(() => this.ordered.offer(c, pushes, now));
    return true;
  }

  /** The socket's send buffer shrank: a paused replay continues. */
  sendBufferDrained(c: Connection): void {
    if (c.replay !== null) c.socket.cork(() => this.replayer.sendBufferDrained(c));
  }

  /** Every wheel tick: repair gaps that waited long enough. */
  tick(now: number): void {
    this.ordered.tick(now);
  }

  /** The connection closed: nothing more is held or replayed for it. */
  forget(c: Connection): void {
    c.pending = null;
    c.replay = null;
    this.ordered.forget(c);
  }
}
