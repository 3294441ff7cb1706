/**
 * One WebSocket connection attempt and its life: handshake URL, waiting for
 * hello (bounded by `connectTimeoutMs`), decoding frames with the shared
 * protocol module, heartbeats (heartbeat-scheduler.ts) and the end.
 *
 * A Connection reports its end exactly once through `lost()`, unless the
 * owner ended it with `dispose()` (then nothing more is reported). After
 * either, every socket event is ignored, so a late close or message from an
 * abandoned socket can never touch the client's state.
 */
import {
  decodeServerFrame, handshakeSubprotocols, encodeAck, encodeHeartbeat,
  encodeJson, type ChannelPosition, type HeartbeatAckFrame, type HelloFrame, type PubFrame, type PushFrame, type RefreshedFrame, type ReplyFrame, type SentFrame,
  type SubscribedFrame, type UnsubscribedFrame, withHandshakeQuery,
} from '../../protocol/index.js';
import { DEFAULT_HB_BOUNDS, clampMs, saneHelloHb, type HbBounds } from './heartbeat-bounds.js';
import { HeartbeatScheduler, type Beat } from './heartbeat-scheduler.js';
import type { LossInfo } from './reconnect-machine.js';
import type { Timer, Timers } from './timers.js';
import type { CloseInfo, TransportFactory, TransportSocket, WireData } from './transport.js';

export interface ConnectionParams {
  /** ws(s)://host/ws */
  url: string;
  token: string;
  tokenIn: 'protocol' | 'query';
  device: string | undefined;
  /** Interval asked for in the handshake (`hb`). */
  hbMs: number;
  resume: { session: string; lastSeq: number; epoch?: number } | undefined;
  /**
   * Channel positions to recover (`recover=1`, then a `recover` frame right
   * after hello); undefined: none. Given only after a gateway has shown it
   * speaks channels, since an older one would close on the unknown frame.
   */
  recover?: ChannelPosition[] | undefined;
  connectTimeoutMs: number;
  heartbeatTimeoutMs: number;
}

export interface ConnectionEvents {
  hello(f: HelloFrame): void;
  push(f: PushFrame): void;
  /** A push whose data this client may not accept (protocol §10): reported and acked past, the connection stays. */
  undecodable(p: { seq: number; id: string; epoch?: number }, reason: string): void;
  sent(f: SentFrame): void;
  reply(f: ReplyFrame): void;
  refreshed(f: RefreshedFrame): void;
  pub(f: PubFrame): void;
  subscribed(f: SubscribedFrame): void;
  unsubscribed(f: UnsubscribedFrame): void;
  heartbeatAck(f: HeartbeatAckFrame, beat: Beat | undefined, rttMs: number): void;
  /** The connection ended (never after dispose()). `pendingBeat`: a beat still awaiting its ack. */
  lost(info: LossInfo, pendingBeat: Beat | undefined): void;
  beatSent(beat: Beat): void;
}

/**
 * Builds the handshake URL (docs/protocol.md §2.2) with the one query builder
 * (protocol/handshake-query.ts). Handshake parameters already in the app's URL
 * are replaced by the client's own; other parameters stay.
 */
export function handshakeUrl(p: Pick<ConnectionParams, 'url' | 'token' | 'tokenIn' | 'device' | 'hbMs' | 'resume' | 'recover'>): string {
  return withHandshakeQuery(p.url, {
    // This client speaks channel frames (§13); recover=1 implies it.
    channels: true,
    recover: p.recover !== undefined,
    device: p.device,
    hbMs: p.hbMs,
    resume: p.resume,
    accessToken: p.tokenIn === 'query' ? p.token : undefined,
  });
}

export class Connection {
  private socket: TransportSocket | undefined;
  private done = false;
  private helloSeen = false;
  /** The hello's heartbeat range, clamped (heartbeat-bounds.ts); bounds a heartbeat_ack's interval. */
  private hbBounds: HbBounds = DEFAULT_HB_BOUNDS;
  private connectTimer: Timer | undefined;
  private reconnectAt: number | undefined;
  private lastError: string | undefined;
  readonly scheduler: HeartbeatScheduler;
  session: string | undefined;

  constructor(
    private readonly p: ConnectionParams,
    private readonly transport: TransportFactory,
    private readonly timers: Timers,
    random: () => number,
    private readonly ev: ConnectionEvents,
  ) {
    this.scheduler = new HeartbeatScheduler(timers, random, { timeoutMs: p.heartbeatTimeoutMs }, {
      send: (announce) => {
        this.write(encodeHeartbeat(announce));
        const b = this.scheduler.pending;
        if (!this.done && b !== undefined) this.ev.beatSent(b);
      },
      zombie: (beat) => this.fail({ code: 1006, reason: `no answer to a heartbeat within ${Math.min(beat.intervalMs, p.heartbeatTimeoutMs)} ms`, zombie: true }),
    });
  }

  get open(): boolean { return this.helloSeen && !this.done; }

  start(): void {
    const protocols = handshakeSubprotocols(this.p.tokenIn === 'protocol' ? this.p.token : undefined);
    this.connectTimer = this.timers.setTimeout(() => {
      this.connectTimer = undefined;
      this.fail({ code: 1006, reason: `no hello within ${this.p.connectTimeoutMs} ms` });
    }, this.p.connectTimeoutMs);
    try {
      this.socket = this.transport(handshakeUrl(this.p), protocols, {
        onOpen: () => {},
        onMessage: (data, isBinary) => this.onMessage(data, isBinary),
        onClose: (info) => this.onClose(info),
      });
    } catch (err) {
      this.fail({ code: 1006, reason: `cannot open a WebSocket: ${err instanceof Error ? err.message : String(err)}` });
    }
  }

  /** Sends a JSON text frame (upstream). */
  sendText(frame: string): void {
    this.write(frame);
  }

  sendAck(seq: number): void {
    this.write(encodeAck(seq));
  }

  /** Ends this connection as lost, so the client reconnects (and recovers channels): a channel gap was seen. */
  resync(reason: string): void {
    this.fail({ code: 1011, reason });
  }

  /** The owner ends the connection: close gracefully (or hard), report nothing. */
  dispose(code = 1000, reason = 'client closed', hard = false): void {
    if (this.done) return;
    this.done = true;
    this.teardownTimers();
    const s = this.socket;
    this.socket = undefined;
    if (s === undefined) return;
    try {
      if (hard) s.terminate();
      else s.close(code, reason);
    } catch { /* already gone */ }
  }

  private write(data: string | Uint8Array): void {
    if (this.done || this.socket === undefined) return;
    try {
      this.socket.send(data);
      this.scheduler.sent();
    } catch (err) {
      this.fail({ code: 1006, reason: `send failed: ${err instanceof Error ? err.message : String(err)}` });
    }
  }

  private onMessage(data: WireData, isBinary: boolean): void {
    if (this.done) return;
    const d = decodeServerFrame(data, isBinary);
    if (!d.ok && d.push !== undefined) {
      this.scheduler.received();
      this.ev.undecodable(d.push, d.reason);
      return;
    }
    if (!d.ok) {
      // docs/protocol.md §10: a client that rejects a server frame closes with its decoder's code.
      const s = this.socket;
      this.socket = undefined;
      try { s?.close(d.code, d.reason.slice(0, 120)); } catch { /* gone */ }
      this.fail({ code: d.code, reason: `client rejected a server frame: ${d.reason}` });
      return;
    }
    this.scheduler.received();
    const f = d.frame;
    switch (f.op) {
      case 'hello': {
        if (this.helloSeen) return;
        this.helloSeen = true;
        this.session = f.session;
        this.connectTimer?.cancel();
        this.connectTimer = undefined;
        // The recover frame must be the first after hello: the gateway holds channel joins until it comes.
        if (this.p.recover !== undefined) this.write(encodeJson({ op: 'recover', channels: this.p.recover }));
        const hb = saneHelloHb(f.hb);
        this.hbBounds = hb;
        this.ev.hello({ ...f, hb });
        return;
      }
      case 'heartbeat_ack': {
        // Clamped before the scheduler sees it (heartbeat-bounds.ts).
        const a = f.intervalMs === undefined ? f : { ...f, intervalMs: clampMs(f.intervalMs, this.hbBounds.minMs, this.hbBounds.maxMs) };
        this.scheduler.ack(a.intervalMs, (beat, rtt) => this.ev.heartbeatAck(a, beat, rtt));
        return;
      }
      case 'push':
        this.ev.push(f);
        return;
      case 'sent':
        this.ev.sent(f);
        return;
      case 'reply':
        this.ev.reply(f);
        return;
      case 'refreshed':
        this.ev.refreshed(f);
        return;
      case 'pub':
        this.ev.pub(f);
        return;
      case 'subscribed':
        this.ev.subscribed(f);
        return;
      case 'unsubscribed':
        this.ev.unsubscribed(f);
        return;
      case 'reconnect':
        this.reconnectAt = this.timers.now() + f.delayMs;
        return;
      case 'error':
        this.lastError = `${f.name}: ${f.message}`;
        return;
    }
  }

  private onClose(info: CloseInfo): void {
    if (this.done) return;
    const loss: LossInfo = { code: info.code, reason: this.lastError ?? info.reason };
    if (info.httpStatus !== undefined) loss.httpStatus = info.httpStatus;
    if (info.retryAfterMs !== undefined) loss.retryAfterMs = info.retryAfterMs;
    if (info.retryAfterExact) loss.retryAfterExact = true;
    if (info.errorCode !== undefined) loss.errorCode = info.errorCode;
    this.socket = undefined;
    this.fail(loss);
  }

  private fail(info: LossInfo): void {
    if (this.done) return;
    this.done = true;
    const pending = this.scheduler.pending;
    this.teardownTimers();
    if (this.reconnectAt !== undefined) info.reconnectDelayMs = Math.max(0, this.reconnectAt - this.timers.now());
    const s = this.socket;
    this.socket = undefined;
    if (s !== undefined) {
      try { s.terminate(); } catch { /* gone */ }
    }
    this.ev.lost(info, pending);
  }

  private teardownTimers(): void {
    this.connectTimer?.cancel();
    this.connectTimer = undefined;
    this.scheduler.stop();
  }
}
