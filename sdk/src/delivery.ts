/**
 * Push delivery: de-duplication by seq, in-order hand-off to the app, and
 * cumulative acks batched briefly.
 *
 * The wire is at-least-once (a reconnect may replay pushes the client already
 * has), so a push whose seq is <= the highest seq handed to the app is dropped.
 * The app therefore sees each push once, in increasing seq order.
 *
 * No buffering on a seq gap, on purpose: seq is per *user* and the protocol
 * allows gaps (inbox trimming, expiry, pushes for the user's other devices),
 * so a gap is not evidence of loss and waiting would only add latency. Order
 * is guaranteed by the gateway (one connection sends in increasing seq, replay
 * before live), and loss is prevented by acks: anything not acked is replayed
 * on the next resume. (docs/protocol.md §6, §7.)
 *
 * Acks: after a push (new or duplicate), ack the highest processed seq after at
 * most `ackDelayMs`, or at once when `ackBatch` pushes are waiting. Acking
 * duplicates too lets the server trim what the client already has.
 *
 * Epochs (docs/protocol.md §7): seqs compare only within one epoch of the
 * user's sequence. When the server names a new one (hello, or a push of a
 * greater epoch), the server lost the old sequence and seqs restart at 1, so
 * the highest seq is forgotten; a push of an older epoch than ours is stale
 * and dropped.
 */
import type { Timer, Timers } from './timers.js';

export interface DeliveryConfig {
  ackDelayMs: number;
  ackBatch: number;
}

export const DEFAULT_DELIVERY: Readonly<DeliveryConfig> = Object.freeze({ ackDelayMs: 100, ackBatch: 50 });

export interface PushMessage {
  seq: number;
  /** The sequence's epoch (absent from older gateways). */
  epoch?: number;
  id: string;
  /** Epoch ms when the router accepted the push. */
  ts: number;
  data: unknown;
}

/** Pushes of sequence `epoch` after `afterSeq` that the server lost (docs/protocol.md §7). */
export interface LostRange {
  epoch: number;
  afterSeq: number;
}

export class Delivery {
  private last: number;
  private ep: number | undefined;
  private unacked = 0;
  private ackTimer: Timer | undefined;
  private sendAck: ((seq: number) => void) | undefined;
  /** Counters for stats. */
  delivered = 0;
  duplicates = 0;
  undecodable = 0;
  acksSent = 0;

  constructor(
    private readonly cfg: DeliveryConfig,
    private readonly timers: Timers,
    private readonly deliver: (p: PushMessage) => void,
    lastSeq = 0,
    epoch?: number,
    /** The epoch moved on during a connection: what the old one may have lost. */
    private readonly moved: (lost: LostRange, epoch: number) => void = () => {},
  ) {
    this.last = lastSeq;
    this.ep = epoch;
  }

  /** Highest seq handed to the app (sent as `last_seq` on resume). */
  get lastSeq(): number { return this.last; }
  /** The epoch lastSeq belongs to (sent as `epoch` on resume); undefined until a server names one. */
  get epoch(): number | undefined { return this.ep; }

  /**
   * hello named the sequence's epoch: the server's word stands. Returns what
   * we had when it differs (lastSeq is then forgotten), else undefined.
   */
  adopt(epoch: number): LostRange | undefined {
    const prev = this.ep;
    this.ep = epoch;
    // Epoch 0 is "no sequence yet": nothing of it can have been lost.
    if (prev === undefined || prev === 0 || prev === epoch) return undefined;
    const lost = { epoch: prev, afterSeq: this.last };
    this.rebase();
    return lost;
  }
  /**
   * The server's sequence is behind ours (hello.seq < lastSeq on a fresh
   * session): its store was reset, so our seqs belong to an old epoch. Start
   * over, or every new push would be dropped as a "duplicate" forever.
   */
  rebase(): void {
    this.last = 0;
    this.unacked = 0;
  }

  /** A connection is ready: acks go through `send`. Flushes an ack owed from before. */
  attach(send: (seq: number) => void): void {
    this.sendAck = send;
    if (this.unacked > 0) this.schedule();
  }

  /** The connection is gone: keep what is owed for the next one. */
  detach(): void {
    this.sendAck = undefined;
    this.ackTimer?.cancel();
    this.ackTimer = undefined;
  }

  /** A push's epoch: false for a stale one (older than ours: drop it); a newer one starts over. */
  private enter(epoch: number | undefined): boolean {
    if (epoch === undefined || epoch === this.ep) return true;
    if (this.ep === undefined || this.ep === 0) { this.ep = epoch; return true; }
    if (epoch < this.ep) return false;
    const lost = { epoch: this.ep, afterSeq: this.last };
    this.ep = epoch;
    this.rebase();
    this.moved(lost, epoch);
    return true;
  }

  /** One push from the wire. Returns true when it was new and handed to the app. */
  receive(p: PushMessage): boolean {
    if (!this.enter(p.epoch)) { this.duplicates++; return false; }
    this.unacked++;
    let fresh = false;
    if (p.seq > this.last) {
      this.last = p.seq;
      this.delivered++;
      fresh = true;
      this.deliver(p);
    } else {
      this.duplicates++;
    }
    if (this.unacked >= this.cfg.ackBatch) this.flush();
    else this.schedule();
    return fresh;
  }

  /**
   * A push that could not be decoded (protocol §10): never handed to the app,
   * but acked like one, so it is trimmed from the inbox instead of being
   * replayed on every resume. Returns true when it was new.
   */
  skip(seq: number, epoch?: number): boolean {
    if (!this.enter(epoch)) { this.duplicates++; return false; }
    this.unacked++;
    const fresh = seq > this.last;
    if (fresh) {
      this.last = seq;
      this.undecodable++;
    } else {
      this.duplicates++;
    }
    if (this.unacked >= this.cfg.ackBatch) this.flush();
    else this.schedule();
    return fresh;
  }

  /** Sends the cumulative ack now, if one is owed and a connection is attached. */
  flush(): void {
    this.ackTimer?.cancel();
    this.ackTimer = undefined;
    if (this.unacked === 0 || this.sendAck === undefined || this.last === 0) return;
    this.unacked = 0;
    this.acksSent++;
    this.sendAck(this.last);
  }

  /** Stops timers for good. */
  dispose(): void {
    this.detach();
  }

  private schedule(): void {
    if (this.ackTimer !== undefined || this.sendAck === undefined) return;
    this.ackTimer = this.timers.setTimeout(() => {
      this.ackTimer = undefined;
      this.flush();
    }, this.cfg.ackDelayMs);
  }
}
