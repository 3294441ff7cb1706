/**
 * The gateway's protocol core: connection lifecycle, frames, heartbeats,
 * resume, local delivery, admission, slow-consumer detection and drain.
 * The parts live beside it: session-start.ts (resume and HELLO),
 * client-frames.ts (what each client frame does), deadlines.ts (heartbeat and
 * token deadlines on the wheel), outbound.ts (the one write path),
 * local-delivery.ts (pushes to local sockets: in order, held during replay).
 *
 * It knows sockets only through `ClientSocket` and the cluster only through
 * `GatewayLink`, and reads time only from the injected clock; the transport
 * calls `tick()` every wheel tick. Every async continuation re-checks
 * `conn.closed` before touching the socket.
 */
import { BinaryOp, Close, closeCodeInfo, closeReasonLabel, decodeClientFrame, encodeJson } from '../../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { NO_TRACING, type TraceHooks } from '../../shared/trace-hooks.js';
import { Connection, clampInterval } from './connection.js';
import { ConnectionRegistry } from './registry.js';
import { Deadlines, type Due } from './deadlines.js';
import { take } from '../../shared/token-bucket.js';
import { AdmissionControl, type Admission } from './admission.js';
import { returnKey } from './return-line.js';
import { DrainPacer } from './drain.js';
import { SlowConsumers } from './slow-consumers.js';
import { bump } from '../../shared/stats.js';
import { Outbound } from './outbound.js';
import { LocalDelivery } from './local-delivery.js';
import { startSession, type SessionStartDeps } from './session-start.js';
import { ClientFrames, HEARTBEAT_ACK_BARE } from './client-frames.js';
import { newStats, type CoreObserver, type CoreOptions, type CoreStats } from './options.js';
import { ChannelHub } from './channels.js';
import type { ChannelLink, ClientSocket, ControlCommand, Delivery, GatewayLink, Handshake, IdSource, TokenVerifier, TopicPublisher } from './ports.js';


export interface CoreDeps {
  options: CoreOptions;
  clock: Clock;
  ids: IdSource;
  link: GatewayLink;
  log: Logger;
  observer?: CoreObserver;
  /** Tracing (services/shared/tracing.ts); NO_TRACING by default. */
  trace?: TraceHooks;
  /** [0, 1); injectable for deterministic drain jitter in tests. */
  random?: () => number;
  /** In-band token refresh; without it hello announces no refresh and `refresh` frames are answered with an error. */
  verifyToken?: TokenVerifier;
  /** Channels: the bus side and the transport's native topic publish. Without them no connection joins a channel. */
  channels?: { link: ChannelLink; topics: TopicPublisher };
}

export class GatewayCore {
  readonly stats: CoreStats = newStats();
  private readonly o: CoreOptions;
  private readonly clock: Clock;
  private readonly deadlines: Deadlines;
  private readonly out: Outbound;
  private readonly sessionStart: SessionStartDeps;
  private readonly frames: ClientFrames;
  private readonly registry = new ConnectionRegistry();
  private readonly slow: SlowConsumers<Connection>;
  private readonly admission: AdmissionControl;
  private readonly random: () => number;
  private readonly trace: TraceHooks;
  private readonly drain: DrainPacer<Connection>;
  private readonly onStuck = (c: Connection): void => {
    this.stats.slowConsumerCloses++;
    this.closeWith(c, Close.SLOW_CONSUMER, `send buffer over ${this.o.limits.sendBufferBound} bytes for ${this.o.limits.writeTimeoutMs} ms`);
  };
  private readonly local: LocalDelivery;
  /** Channel subscriptions and fan-out (channels.ts); null without a channel link. */
  readonly channels: ChannelHub<Connection> | null;

  constructor(private readonly deps: CoreDeps) {
    this.o = deps.options;
    this.clock = deps.clock;
    this.random = deps.random ?? Math.random;
    this.trace = deps.trace ?? NO_TRACING;
    const now = this.clock.now();
    this.deadlines = new Deadlines({ tickMs: this.o.wheel.tickMs, wheelSize: this.o.wheel.size, startMs: now, check: this.o.hb.check }, (c, why) => this.due(c, why));
    this.admission = new AdmissionControl(this.o.admission, now, this.random);
    this.slow = new SlowConsumers(this.o.limits);
    this.out = new Outbound({
      stats: this.stats, clock: this.clock, slow: this.slow, trace: this.trace, observer: deps.observer,
      overflowed: (c) => {
        this.stats.slowConsumerCloses++;
        this.closeWith(c, Close.SLOW_CONSUMER, 'send buffer overflowed');
      },
    });
    this.drain = new DrainPacer<Connection>({ ...this.o.drain, tickMs: this.o.wheel.tickMs }, this.random, (c, delayMs) => {
      if (c.closed) return;
      this.write(c, encodeJson({ op: 'reconnect', delayMs, reason: 'gateway draining' }), false);
      this.closeWith(c, Close.DRAINING, 'gateway draining');
    });
    this.local = new LocalDelivery({
      out: this.out, link: deps.link, clock: this.clock, log: deps.log,
      repairAfterMs: this.o.wheel.tickMs, sendBufferBound: this.o.limits.sendBufferBound,
      closeWith: (c, code, message) => this.closeWith(c, code, message),
    });
    const ch = deps.channels;
    const hub = this.channels = ch === undefined ? null : new ChannelHub<Connection>(
      {
        maxPerConnection: this.o.channels?.maxPerConnection ?? 64, recoverWaitMs: this.o.channels?.recoverWaitMs ?? 5000, repairAfterMs: this.o.wheel.tickMs,
        highWaterBytes: this.o.limits.sendBufferBound, maxPageReads: this.o.channels?.maxPageReads ?? 64,
        ...(this.o.channels?.presenceEvents === true ? { presenceEvents: { gateway: this.o.gatewayId, wallNow: () => this.clock.wallNow() } } : {}),
        occupancyEvents: { gateway: this.o.gatewayId, wallNow: () => this.clock.wallNow() },
      },
      ch.link, ch.topics, (c, frame) => this.write(c, frame, false), () => this.clock.now(), this.trace);
    this.sessionStart = {
      options: this.o, clock: this.clock, link: deps.link, log: deps.log, stats: this.stats, admission: this.admission,
      refreshable: deps.verifyToken !== undefined,
      write: (c, data, isBinary) => this.write(c, data, isBinary),
      closeWith: (c, code, message) => this.closeWith(c, code, message),
      replay: (c, reply) => this.local.replay(c, reply),
      ...(hub ? { started: (c: Connection, hs: Handshake) => { if (hs.channels !== undefined) hub.start(c, hs.channels, hs.recover === true); } } : {}),
    };
    this.frames = new ClientFrames({
      options: this.o, clock: this.clock, link: deps.link, log: deps.log, stats: this.stats, deadlines: this.deadlines,
      observer: deps.observer, verifyToken: deps.verifyToken,
      write: (c, data, isBinary) => this.write(c, data, isBinary),
      closeWith: (c, code, message) => this.closeWith(c, code, message),
      ...(hub ? { recover: (c: Connection, positions: Parameters<ChannelHub<Connection>['recover']>[1]) => hub.recover(c, positions) } : {}),
    });
  }

  /** Out-of-order repairs (fetches from the inbox) and gaps the inbox could not fill. */
  get orderingStats(): LocalDelivery['orderingStats'] { return this.local.orderingStats; }

  /** Replay pages fetched after the session start's, and pauses on a full send buffer. */
  get replayStats(): LocalDelivery['replayStats'] { return this.local.replayStats; }

  get connections(): number { return this.registry.size; }
  /** Connections waiting for the router's answer to their session start. */
  get sessionsStarting(): number { return this.admission.limit.inFlight; }
  /** The adaptive session-start limit: current limit, smoothed latency, its target, the resume timeout in use, the time to the last scheduled return (s). */
  get startLimit(): { limit: number; latencyMs: number; targetMs: number; resumeTimeoutMs: number; retryWindowS: number; increases: number; decreases: number; reverts: number; returnLine: number; admittedOnReturn: number } {
    const l = this.admission.limit;
    return {
      limit: l.limit, latencyMs: l.latencyMs, targetMs: l.targetMs, resumeTimeoutMs: this.admission.resumeTimeoutMs(),
      retryWindowS: this.admission.retryHorizonS(this.clock.now()), increases: l.stats.increases, decreases: l.stats.decreases, reverts: l.stats.reverts,
      returnLine: this.admission.returns.size, admittedOnReturn: this.admission.admittedOnReturn,
    };
  }
  /** Buckets held by the per-source budget. */
  get sourcesTracked(): number { return this.admission.sources.sources; }
  get wheelSize(): number { return this.deadlines.size; }
  get isDraining(): boolean { return this.drain.active; }
  /** Sessions to move in the current drain, and how many were told so far. */
  get drainProgress(): { total: number; sent: number } { return { total: this.drain.total, sent: this.drain.sent }; }
  get gatewayId(): string { return this.o.gatewayId; }

  // ---- admission (before the upgrade; admission.ts has the order) ----------------

  /** Before the token is verified: draining, connection limit, then the source address's own budget. */
  precheck(source: string): Admission {
    return this.counted(this.admission.precheck({ draining: this.drain.active, connections: this.registry.size }, source, this.clock.now()));
  }

  /**
   * After the token verified: the adaptive session-start limit and the connect-rate ceiling. On ok, open() must follow.
   * `user` and `device` (the handshake's): the client's place in the return line of refused starts (admission.ts).
   */
  admitVerified(user?: string, device?: string): Admission {
    return this.counted(this.admission.admitVerified(this.clock.now(), user === undefined ? undefined : returnKey(user, device ?? 'default')));
  }

  private counted(res: Admission): Admission {
    if (!res.ok) bump(this.stats.admissionRejections, res.error.code);
    return res;
  }

  recordAuthFailure(code: string): void {
    bump(this.stats.authFailures, code);
  }

  // ---- lifecycle ---------------------------------------------------------------

  /** The transport opened a socket for a verified handshake. */
  open(socket: ClientSocket, hs: Handshake): Connection {
    const now = this.clock.now();
    const interval = clampInterval(hs.requestedIntervalMs ?? this.o.hb.defaultMs, this.o.hb.minMs, this.o.hb.maxMs);
    const c = new Connection(socket, this.deps.ids.next(), hs.user, hs.device, hs.tokenExpiresAt, interval, this.o.hb.graceMs, this.o.limits.burst, now);
    this.stats.opened++;
    this.deps.observer?.negotiatedIntervalMs(interval);
    // One live session per (user, device) on this gateway: the newest wins.
    for (const old of this.registry.get(hs.user, hs.device)) {
      this.closeWith(old, Close.REPLACED, 'a newer connection for this user and device took over');
    }
    this.registry.add(c);
    c.registered = true;
    if (hs.channels !== undefined && this.channels !== null) c.pendingControl = [];
    this.deadlines.schedule(c, now);
    // The session span covers announcing, the resume round trip, HELLO and the replay (one trace per session start).
    if (this.trace.enabled) {
      void this.trace.span('longlink.gateway.session', { kind: 'server', attrs: { 'longlink.gateway': this.o.gatewayId, 'longlink.resume_requested': hs.session !== undefined } },
        () => startSession(this.sessionStart, c, hs));
    } else {
      void startSession(this.sessionStart, c, hs);
    }
    return c;
  }

  /** The transport reports the socket closed (by us or the peer). Idempotent. */
  closed(c: Connection, code: number): void {
    c.closed = true;
    this.deadlines.cancel(c);
    this.slow.forget(c);
    this.local.forget(c);
    this.channels?.closed(c);
    if (c.registered) {
      // Counted once: uWS reports the close again after closeWith() already did.
      const finalCode = c.closeCode ?? code;
      const reason = closeReasonLabel(finalCode);
      bump(this.stats.closedByReason, reason);
      c.registered = false;
      this.registry.remove(c);
      this.deps.link.presence({ type: 'offline', user: c.user, device: c.device, conn: c.id, session: c.session, gateway: this.o.gatewayId, at: this.clock.wallNow(), code: finalCode, reason });
      if (this.drain.active && this.registry.size === 0) this.drain.finish();
    }
  }

  /** Sends an error frame and closes with `code`. Safe to call on an already-closed connection. */
  closeWith(c: Connection, code: number, message: string): void {
    if (c.closed) return;
    const info = closeCodeInfo(code);
    c.closeCode = code;
    if (code !== Close.DRAINING) {
      this.write(c, encodeJson({ op: 'error', code, name: info?.name ?? 'OTHER', message }), false);
    }
    c.closed = true;
    c.socket.end(code, message.slice(0, 120));
    // uWS reports the close from inside end(); call closed() anyway so fakes and
    // other transports behave the same (closed() is idempotent for the registry).
    if (c.registered) this.closed(c, code);
  }

  // ---- inbound frames ------------------------------------------------------------

  /**
   * Every inbound frame: size, rate, liveness, then what it says. The bare
   * 1-byte heartbeat with no ack business to carry, most of a gateway's
   * traffic, is recognised first by one byte compare (a 1-byte frame is
   * always under the size limit, which is at least 64) and costs a rate
   * check, a deadline touch, one counter and the preallocated ack. Any other
   * bare heartbeat, and one over the rate, takes the general path.
   */
  message(c: Connection, data: ArrayBuffer, isBinary: boolean): void {
    if (c.closed) return;
    const now = this.clock.now();
    const len = data.byteLength;
    const lim = this.o.limits;
    const bareBeat = len === 1 && isBinary && new Uint8Array(data, 0, 1)[0] === BinaryOp.HEARTBEAT;
    if (bareBeat && c.sentSeq <= c.ackedSeq && !this.o.hb.log && take(c, lim.ratePerSec, lim.burst, now)) {
      this.deadlines.touch(c, now);
      this.stats.bareHeartbeats++;
      this.out.bareAck(c, HEARTBEAT_ACK_BARE);
      return;
    }
    this.stats.framesInOther++;
    this.stats.bytesInOther += len;
    if (len > lim.maxPayload) {
      this.closeWith(c, Close.MESSAGE_TOO_BIG, `frame of ${len} bytes exceeds the ${lim.maxPayload}-byte limit`);
      return;
    }
    if (!take(c, lim.ratePerSec, lim.burst, now)) {
      this.closeWith(c, Close.RATE_LIMITED, `more than ${lim.ratePerSec} frames/s (burst ${lim.burst})`);
      return;
    }
    // Last-packet time: any frame is liveness. O(1), no allocation.
    this.deadlines.touch(c, now);
    if (bareBeat) {
      this.frames.heartbeat(c, undefined);
      return;
    }
    const d = decodeClientFrame(data, isBinary);
    if (!d.ok) {
      this.closeWith(c, d.code, d.reason);
      return;
    }
    this.frames.handle(c, d.frame);
  }

  // ---- deadlines -------------------------------------------------------------------

  /** A connection's deadline passed (deadlines.ts says which). */
  private due(c: Connection, why: Due): void {
    if (why === 'token') {
      this.closeWith(c, Close.TOKEN_EXPIRED, 'token expired; reconnect with a fresh token');
    } else {
      this.stats.heartbeatTimeouts++;
      this.closeWith(c, Close.HEARTBEAT_TIMEOUT, `nothing received for ${Math.round(c.deadlineSpanMs)} ms`);
    }
  }

  /** Called every wheel tick by the transport: expire deadlines, close stuck writers, pace the drain. */
  tick(): void {
    const t0 = performance.now();
    const now = this.clock.now();
    this.deadlines.advance(now);
    this.slow.sweep(now, this.onStuck);
    this.local.tick(now);
    this.channels?.tick(now);
    this.drain.step(now);
    this.admission.tick(now);
    this.deps.observer?.sweepSeconds((performance.now() - t0) / 1000);
  }

  /** The transport's drain event: the socket's send buffer shrank (not the gateway drain: that is startDrain). */
  sendBufferDrained(c: Connection): void {
    this.slow.sendBufferDrained(c);
    this.local.sendBufferDrained(c);
    this.channels?.sendBufferDrained(c);
  }

  // ---- outbound ---------------------------------------------------------------------

  private write(c: Connection, data: Uint8Array | string, isBinary: boolean): void {
    this.out.write(c, data, isBinary);
  }

  /** A delivery from the router: write to this user's local sockets. Returns how many connections got it. */
  deliver(d: Delivery): number {
    const one = this.registry.only(d.user, d.device);
    if (one !== undefined) return this.local.deliverTo(one, d.pushes) ? 1 : 0;
    return this.local.deliver(this.registry.get(d.user, d.device), d.pushes);
  }

  control(cmd: ControlCommand): number {
    const targets = this.registry.get(cmd.user, cmd.device);
    let n = 0;
    for (const c of targets) {
      if (cmd.type === 'subscribe' || cmd.type === 'unsubscribe') {
        // Only connections that speak channel frames; held while their session starts (channel-commands.ts).
        if (this.channels !== null && this.channels.control(c, cmd.type === 'subscribe', cmd.channels)) n++;
        continue;
      }
      // Replace closes the displaced connections it names, never a newer one of the device (messages.ts).
      if (cmd.type === 'replace' && (c.id === cmd.keepConn || (Array.isArray(cmd.conns) && !cmd.conns.includes(c.id)))) continue;
      n++;
      if (cmd.type === 'kick') this.closeWith(c, Close.KICKED, 'disconnected by the service');
      else if (cmd.type === 'logout') this.closeWith(c, Close.LOGGED_OUT, 'logged out');
      else this.closeWith(c, Close.REPLACED, 'a newer connection for this user and device took over');
    }
    return n;
  }

  /** Local connections receiving (or joining) `channel`. */
  channelSubscribers(channel: string): number {
    return this.channels?.count(channel) ?? 0;
  }

  /** Every live connection (for presence re-announcement). */
  allConnections(): IterableIterator<Connection> {
    return this.registry.all();
  }

  // ---- drain -----------------------------------------------------------------------------

  /**
   * Stops admitting, then over the drain window tells every session to
   * reconnect elsewhere (after a jittered delay) and closes it, in batches
   * paced by the wheel tick. Resolves when no connection is left.
   */
  startDrain(): Promise<void> {
    if (!this.drain.active) this.deps.log.info({ connections: this.registry.size, windowMs: this.o.drain.windowMs }, 'drain started');
    return this.drain.start([...this.registry.all()], this.clock.now(), () => this.registry.size);
  }
}
