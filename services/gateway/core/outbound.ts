/**
 * The one write path to client sockets: counts frames and bytes, turns a
 * dropped frame into a slow-consumer close, starts the slow-consumer clock on
 * a backed-up send buffer, and records each push's delivery latency.
 */
import { encodePushRaw } from '../../../protocol/index.js';
import type { TraceHooks } from '../../shared/trace-hooks.js';
import type { Clock } from '../../shared/clock.js';
import type { Connection } from './connection.js';
import type { SlowConsumers } from './slow-consumers.js';
import type { CoreObserver, CoreStats } from './options.js';
import { SendStatus, type PushRecord } from './ports.js';

/** Live delivery, or replay from the inbox on resume (kept apart in the latency histogram). */
export type PushPath = 'live' | 'replay';

export interface OutboundDeps {
  stats: CoreStats;
  clock: Clock;
  slow: SlowConsumers<Connection>;
  trace: TraceHooks;
  observer?: CoreObserver;
  /** The send buffer overflowed and the frame was dropped: close the connection as a slow consumer. */
  overflowed(c: Connection): void;
}

export class Outbound {
  constructor(private readonly d: OutboundDeps) {}

  /** No-op on a closed connection. */
  write(c: Connection, data: Uint8Array | string, isBinary: boolean): void {
    if (c.closed) return;
    const { stats } = this.d;
    const status = c.socket.send(data, isBinary);
    stats.framesOutOther++;
    stats.bytesOutOther += typeof data === 'string' ? data.length : data.byteLength;
    if (status !== SendStatus.OK) this.sent(c, status);
  }

  /**
   * The bare heartbeat ack on a live connection (GatewayCore.message checked
   * `closed`); counted by the caller's `bareHeartbeats`, so a send that went
   * through costs nothing more here.
   */
  bareAck(c: Connection, ack: Uint8Array): void {
    const status = c.socket.send(ack, true);
    if (status !== SendStatus.OK) this.sent(c, status);
  }

  /** A send that did not go straight out: dropped (close as a slow consumer) or buffered (start its clock). */
  private sent(c: Connection, status: number): void {
    const { stats } = this.d;
    if (status === SendStatus.DROPPED) {
      stats.backpressureDrops++;
      // Already closing (e.g. the error frame itself was dropped): don't re-enter the close.
      if (c.closeCode !== undefined) return;
      this.d.overflowed(c);
      return;
    }
    this.d.slow.buffered(c, this.d.clock.now());
  }

  push(c: Connection, p: PushRecord, path: PushPath): void {
    const { trace } = this.d;
    if (!trace.enabled) { this.pushNow(c, p, path); return; }
    // Only inside a trace (a traced delivery or session): a held push flushed by the tick starts none.
    trace.span('longlink.gateway.write', { childOnly: true, attrs: { 'messaging.message.id': p.id, 'longlink.seq': p.seq, 'longlink.path': path } },
      () => this.pushNow(c, p, path));
  }

  /**
   * The last push frame encoded, by record and epoch: a delivery writes one
   * record to each of the user's connections in a row, so the frame is
   * built once per push, not once per socket.
   */
  private lastRecord: PushRecord | undefined;
  private lastEpoch = -1;
  private lastFrame = '';

  private frameOf(p: PushRecord, epoch: number): string {
    if (p === this.lastRecord && epoch === this.lastEpoch) return this.lastFrame;
    this.lastFrame = encodePushRaw(p.seq, p.id, p.ts, p.data, epoch >= 0 ? epoch : undefined);
    this.lastRecord = p;
    this.lastEpoch = epoch;
    return this.lastFrame;
  }

  private pushNow(c: Connection, p: PushRecord, path: PushPath): void {
    this.write(c, this.frameOf(p, c.epoch), false);
    if (p.seq > c.sentSeq) c.sentSeq = p.seq;
    this.d.stats.pushesDelivered++;
    this.d.observer?.pushLatencySeconds((this.d.clock.wallNow() - p.ts) / 1000, path);
  }
}
