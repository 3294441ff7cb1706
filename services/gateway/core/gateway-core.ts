/**
 * The gateway's protocol core: connection lifecycle, frames, heartbeats,
 * resume, local delivery, admission, slow-consumer detection and drain.
 *
 * It knows sockets only through `ClientSocket` and the cluster only through
 * `GatewayLink`, and reads time only from the injected clock; the transport
 * calls `tick()` every wheel tick. Every async continuation re-checks
 * `conn.closed` before touching the socket.
 */
import {
  BinaryOp, Close, PROTOCOL_VERSION, closeCodeInfo, closeReasonLabel, decodeClientFrame, heartbeatDeadlineMs, encodeHeartbeatAck, encodeJson, encodePushRaw,
  type HelloFrame,
} from '../../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { NO_TRACING, type TraceHooks } from '../../shared/trace-hooks.js';
import { Connection, clampInterval } from './connection.js';
import { ConnectionRegistry } from './registry.js';
import { OrderedDelivery } from './ordered-delivery.js';
import { TimingWheel } from './timing-wheel.js';
import { take } from './token-bucket.js';
import { AdmissionControl, type Admission } from './admission.js';
import type { SampleOutcome } from './adaptive-limit.js';
import { Errors, LonglinkError } from '../../shared/errors.js';
import { DrainPacer } from './drain.js';
import { SlowConsumers } from './slow-consumers.js';
import { Replayer } from './replay.js';
import { bump } from '../../shared/stats.js';
import { newStats, type CoreObserver, type CoreOptions, type CoreStats } from './options.js';
import { SendStatus, type ClientSocket, type ControlCommand, type Delivery, type GatewayLink, type Handshake, type IdSource, type PushRecord, type TokenVerifier } from './ports.js';


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
}


const HEARTBEAT_ACK_BARE = encodeHeartbeatAck();
/** The connection's epoch for a fetch, when known (docs: FetchRequest.epoch). */
const epochOf = (c: Connection): { epoch?: number } => (c.epoch >= 0 ? { epoch: c.epoch } : {});
/** Live pushes held for one connection during its replay before they are dropped for one more inbox page (replay.ts). */
const MAX_PENDING_DURING_REPLAY = 1024;

export class GatewayCore {
  readonly stats: CoreStats = newStats();
  private readonly o: CoreOptions;
  private readonly clock: Clock;
  private readonly wheel: TimingWheel<Connection>;
  private readonly registry = new ConnectionRegistry();
  private readonly slow: SlowConsumers<Connection>;
  private readonly admission: AdmissionControl;
  private readonly random: () => number;
  private readonly trace: TraceHooks;
  private readonly drain: DrainPacer<Connection>;
  private readonly onExpire = (c: Connection): void => this.expire(c);
  private readonly onStuck = (c: Connection): void => {
    this.stats.slowConsumerCloses++;
    this.closeWith(c, Close.SLOW_CONSUMER, `send buffer over ${this.o.limits.sendBufferBound} bytes for ${this.o.limits.writeTimeoutMs} ms`);
  };
  private readonly ordered: OrderedDelivery<Connection>;
  private readonly replayer: Replayer<Connection>;

  constructor(private readonly deps: CoreDeps) {
    this.o = deps.options;
    this.clock = deps.clock;
    this.random = deps.random ?? Math.random;
    this.trace = deps.trace ?? NO_TRACING;
    const now = this.clock.now();
    this.wheel = new TimingWheel<Connection>({ tickMs: this.o.wheel.tickMs, wheelSize: this.o.wheel.size, startMs: now });
    this.admission = new AdmissionControl(this.o.admission, now, this.random);
    this.slow = new SlowConsumers(this.o.limits);
    this.drain = new DrainPacer<Connection>({ ...this.o.drain, tickMs: this.o.wheel.tickMs }, this.random, (c, delayMs) => {
      if (c.closed) return;
      this.write(c, encodeJson({ op: 'reconnect', delayMs, reason: 'gateway draining' }), false);
      this.closeWith(c, Close.DRAINING, 'gateway draining');
    });
    this.ordered = new OrderedDelivery<Connection>({
      write: (c, p) => this.writePush(c, p, 'live'),
      fetch: (c, afterSeq) => deps.link.fetch({ user: c.user, device: c.device, afterSeq, ...epochOf(c) }).then((r) => r.pushes),
      repairAfterMs: this.o.wheel.tickMs,
    });
    this.replayer = new Replayer<Connection>({
      write: (c, p) => this.writePush(c, p, 'replay'),
      fetch: (c, afterSeq) => deps.link.fetch({ user: c.user, device: c.device, afterSeq, ...epochOf(c) }),
      done: (c) => {
        const pending = c.pending ?? [];
        c.pending = null;
        if (pending.length > 0) c.socket.cork(() => this.ordered.offer(c, pending, this.clock.now()));
      },
      failed: (c, err) => {
        this.deps.log.warn({ err: String(err), conn: c.id }, 'replay page fetch failed; closing so the client resumes');
        this.closeWith(c, Close.INTERNAL_ERROR, 'session service unavailable, retry');
      },
      // Under the slow-consumer bound: a reading client is never taken for a stuck one.
      highWaterBytes: this.o.limits.sendBufferBound,
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

  get connections(): number { return this.registry.size; }
  /** Connections waiting for the router's answer to their session start. */
  get sessionsStarting(): number { return this.admission.limit.inFlight; }
  /** The adaptive session-start limit: current limit, smoothed latency, its target, the resume timeout in use, the Retry-After window. */
  get startLimit(): { limit: number; latencyMs: number; targetMs: number; resumeTimeoutMs: number; retryWindowS: number; increases: number; decreases: number } {
    const l = this.admission.limit;
    return {
      limit: l.limit, latencyMs: l.latencyMs, targetMs: l.targetMs, resumeTimeoutMs: this.admission.resumeTimeoutMs(),
      retryWindowS: this.admission.retryWindowS, increases: l.stats.increases, decreases: l.stats.decreases,
    };
  }
  /** Buckets held by the per-source budget. */
  get sourcesTracked(): number { return this.admission.sources.sources; }
  get wheelSize(): number { return this.wheel.size; }
  get isDraining(): boolean { return this.drain.active; }
  /** Sessions to move in the current drain, and how many were told so far. */
  get drainProgress(): { total: number; sent: number } { return { total: this.drain.total, sent: this.drain.sent }; }
  get gatewayId(): string { return this.o.gatewayId; }

  // ---- admission (before the upgrade; admission.ts has the order) ----------------

  /** Before the token is verified: draining, connection limit, then the source address's own budget. */
  precheck(source: string): Admission {
    return this.counted(this.admission.precheck({ draining: this.drain.active, connections: this.registry.size }, source, this.clock.now()));
  }

  /** After the token verified: the adaptive session-start limit and the connect-rate ceiling. On ok, open() must follow. */
  admitVerified(): Admission {
    return this.counted(this.admission.admitVerified(this.clock.now()));
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
    this.schedule(c, now);
    // The session span covers announcing, the resume round trip, HELLO and the replay (one trace per session start).
    if (this.trace.enabled) {
      void this.trace.span('longlink.gateway.session', { kind: 'server', attrs: { 'longlink.gateway': this.o.gatewayId, 'longlink.resume_requested': hs.session !== undefined } },
        () => this.startSession(c, hs));
    } else {
      void this.startSession(c, hs);
    }
    return c;
  }

  /**
   * Asks for the session and missed pushes; the router registers the connection
   * online before it reads the inbox (see ResumeRequest). The connection is
   * already in the local registry, so live deliveries that arrive meanwhile wait
   * in c.pending and are de-duplicated against the replay. Settles once HELLO is
   * written or the connection closed.
   */
  private startSession(c: Connection, hs: Handshake): Promise<void> {
    const startedAt = this.admission.startBegan(this.clock.now());
    let outcome: SampleOutcome = 'ignore';
    return this.deps.link
      .resume({
        user: c.user, device: c.device, gateway: this.o.gatewayId, conn: c.id, session: hs.session, lastSeq: hs.lastSeq,
        ...(hs.lastEpoch !== undefined ? { lastEpoch: hs.lastEpoch } : {}),
      }, this.admission.resumeTimeoutMs())
      .then((reply) => {
        outcome = 'ok';
        if (c.closed) return;
        c.session = reply.session;
        if (reply.epoch !== undefined) c.epoch = reply.epoch;
        bump(this.stats.resumeOutcomes, hs.session === undefined ? 'fresh' : reply.resumed ? 'resumed' : 'rejected');
        const hello: HelloFrame = {
          op: 'hello', v: PROTOCOL_VERSION, session: reply.session, conn: c.id, gateway: this.o.gatewayId,
          resumed: reply.resumed, seq: reply.latestSeq,
          ...(reply.epoch !== undefined ? { epoch: reply.epoch } : {}),
          ...(reply.lost !== undefined ? { lost: { epoch: reply.lost.epoch, afterSeq: reply.lost.afterSeq } } : {}),
          hb: { minMs: this.o.hb.minMs, maxMs: this.o.hb.maxMs, intervalMs: c.intervalMs, graceMs: this.o.hb.graceMs },
          limits: { maxPayload: this.o.limits.maxPayload, ratePerSec: this.o.limits.ratePerSec, burst: this.o.limits.burst },
          ...(this.deps.verifyToken && c.tokenExpiresAt !== Infinity ? { tokenExpiresInMs: Math.max(0, Math.round(c.tokenExpiresAt - this.clock.now())) } : {}),
        };
        c.socket.cork(() => {
          this.write(c, encodeJson(hello), false);
          // Paced by the send buffer; live pushes stay in c.pending until it ends.
          this.replayer.start(c, reply);
        });
      })
      .catch((err: unknown) => {
        outcome = 'failed';
        bump(this.stats.resumeOutcomes, 'failed');
        if (err instanceof LonglinkError && err.code === Errors.ROUTER_OVERLOADED.code) {
          // Refused at once by a router that could not start it in time: tell the client when to come back.
          this.stats.startsShedByRouter++;
          if (c.closed) return;
          const hint = err.retryAfterMs ?? 1000;
          const delayMs = Math.round(hint * (1 + this.random()));
          this.write(c, encodeJson({ op: 'reconnect', delayMs, reason: 'routers overloaded' }), false);
          this.closeWith(c, Close.TRY_AGAIN_LATER, 'routers overloaded, retry after the delay');
          return;
        }
        if (err instanceof LonglinkError && err.code === Errors.DEVICE_LIMIT.code) {
          this.stats.startsDeviceLimit++;
          this.closeWith(c, Close.DEVICE_LIMIT, 'too many devices connected for this user');
          return;
        }
        this.deps.log.warn({ err: String(err), conn: c.id }, 'resume failed; closing so the client retries');
        this.closeWith(c, Close.INTERNAL_ERROR, 'session service unavailable, retry');
      })
      .finally(() => { this.admission.startEnded(startedAt, this.clock.now(), outcome); });
  }

  /** The transport reports the socket closed (by us or the peer). Idempotent. */
  closed(c: Connection, code: number): void {
    c.closed = true;
    this.wheel.cancel(c);
    this.slow.forget(c);
    c.pending = null;
    c.replay = null;
    this.ordered.forget(c);
    if (c.registered) {
      // Counted once: uWS reports the close again after closeWith() already did.
      bump(this.stats.closedByReason, closeReasonLabel(c.closeCode ?? code));
      c.registered = false;
      this.registry.remove(c);
      this.deps.link.presence({ type: 'offline', user: c.user, device: c.device, conn: c.id, session: c.session, gateway: this.o.gatewayId, at: this.clock.wallNow() });
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

  message(c: Connection, data: ArrayBuffer, isBinary: boolean): void {
    if (c.closed) return;
    const now = this.clock.now();
    const len = data.byteLength;
    this.stats.framesIn++;
    this.stats.bytesIn += len;
    if (len > this.o.limits.maxPayload) {
      this.closeWith(c, Close.MESSAGE_TOO_BIG, `frame of ${len} bytes exceeds the ${this.o.limits.maxPayload}-byte limit`);
      return;
    }
    if (!take(c, this.o.limits.ratePerSec, this.o.limits.burst, now)) {
      this.closeWith(c, Close.RATE_LIMITED, `more than ${this.o.limits.ratePerSec} frames/s (burst ${this.o.limits.burst})`);
      return;
    }
    // Last-packet time: any frame is liveness. O(1), no allocation.
    this.touch(c, now);
    // Fast path for the bare 1-byte heartbeat: no decoder, preallocated ack.
    if (isBinary && len === 1 && new Uint8Array(data, 0, 1)[0] === BinaryOp.HEARTBEAT) {
      this.heartbeat(c, undefined);
      return;
    }
    const d = decodeClientFrame(data, isBinary);
    if (!d.ok) {
      this.closeWith(c, d.code, d.reason);
      return;
    }
    const f = d.frame;
    switch (f.op) {
      case 'heartbeat':
        this.heartbeat(c, f.intervalMs);
        return;
      case 'ack':
        this.stats.acks++;
        // Once the sequence restarted under a new epoch on this connection, an ack above what the
        // new epoch wrote was sent for the old one: passing it on would trim new pushes with those seqs.
        if (c.epochMoved && f.seq > c.sentSeq) return;
        if (f.seq > c.ackedSeq) {
          c.ackedSeq = f.seq;
          this.deps.link.ack(c.user, c.device, f.seq, c.epoch >= 0 ? c.epoch : undefined);
        }
        return;
      case 'refresh':
        this.refresh(c, f.token);
        return;
      case 'send':
        this.stats.upstream++;
        this.deps.link
          .upstream({ user: c.user, device: c.device, conn: c.id, gateway: this.o.gatewayId, topic: f.topic, id: f.id, data: f.data })
          .then(
            () => { if (!c.closed) this.write(c, encodeJson({ op: 'sent', id: f.id }), false); },
            (err: unknown) => { if (!c.closed) this.write(c, encodeJson({ op: 'sent', id: f.id, error: err instanceof Error ? err.message : 'upstream unavailable' }), false); },
          );
        return;
    }
  }

  /**
   * In-band token refresh: a token verified for the same user (and device)
   * moves the connection's expiry, so it is never closed with 4002. A token
   * that fails verification is answered with its error code and the old
   * expiry stands; a valid token for someone else is an attack or a bug: 4001.
   */
  private refresh(c: Connection, token: string): void {
    const verify = this.deps.verifyToken;
    if (verify === undefined) { this.write(c, encodeJson({ op: 'refreshed', error: 'LL_AUTH_INVALID_TOKEN' }), false); return; }
    let vt;
    try {
      vt = verify(token);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      bump(this.stats.refreshes, 'refused');
      this.write(c, encodeJson({ op: 'refreshed', error: typeof code === 'string' ? code : 'LL_AUTH_INVALID_TOKEN' }), false);
      return;
    }
    if (vt.user !== c.user || (vt.device !== undefined && vt.device !== c.device)) {
      bump(this.stats.refreshes, 'mismatch');
      this.closeWith(c, Close.AUTH_FAILED, 'refresh token is for another user or device');
      return;
    }
    const now = this.clock.now();
    c.tokenExpiresAt = Math.max(c.tokenExpiresAt, now + (vt.expiresAt - this.clock.wallNow()));
    bump(this.stats.refreshes, 'ok');
    if (c.wheelId >= 0) this.touch(c, now);
    else this.schedule(c, now);
    this.write(c, encodeJson({ op: 'refreshed', expiresInMs: Math.max(0, Math.round(c.tokenExpiresAt - now)) }), false);
  }

  private heartbeat(c: Connection, announcedMs: number | undefined): void {
    this.stats.heartbeats++;
    if (this.o.hb.log) this.deps.log.debug({ conn: c.id, user: c.user, intervalMs: announcedMs }, 'heartbeat');
    let intervalMs: number | undefined;
    if (announcedMs !== undefined) {
      const clamped = clampInterval(announcedMs, this.o.hb.minMs, this.o.hb.maxMs);
      if (clamped !== c.intervalMs) {
        c.intervalMs = clamped;
        c.deadlineSpanMs = heartbeatDeadlineMs(clamped, this.o.hb.graceMs);
        this.deps.observer?.negotiatedIntervalMs(clamped);
        this.touch(c, this.clock.now());
      }
      if (clamped !== announcedMs) intervalMs = clamped;
    }
    // Business data rides on the ack only when there is something to say.
    const behind = c.sentSeq > c.ackedSeq;
    if (intervalMs === undefined && !behind) this.write(c, HEARTBEAT_ACK_BARE, true);
    else this.write(c, encodeHeartbeatAck({ ...(behind ? { seq: c.sentSeq } : {}), ...(intervalMs !== undefined ? { intervalMs } : {}) }), true);
  }

  // ---- deadlines -------------------------------------------------------------------

  private nextDeadline(c: Connection, now: number): number {
    return this.o.hb.check ? Math.min(now + c.deadlineSpanMs, c.tokenExpiresAt) : c.tokenExpiresAt;
  }

  private schedule(c: Connection, now: number): void {
    const d = this.nextDeadline(c, now);
    if (d !== Infinity) this.wheel.schedule(c, d);
  }

  private touch(c: Connection, now: number): void {
    if (c.wheelId >= 0) this.wheel.touch(c, this.nextDeadline(c, now));
  }

  private expire(c: Connection): void {
    if (c.closed) return;
    const now = this.clock.now();
    if (now >= c.tokenExpiresAt) {
      this.closeWith(c, Close.TOKEN_EXPIRED, 'token expired; reconnect with a fresh token');
    } else if (this.o.hb.check) {
      this.stats.heartbeatTimeouts++;
      this.closeWith(c, Close.HEARTBEAT_TIMEOUT, `nothing received for ${Math.round(c.deadlineSpanMs)} ms`);
    } else {
      this.schedule(c, now);
    }
  }

  /** Called every wheel tick by the transport: expire deadlines, close stuck writers, pace the drain. */
  tick(): void {
    const t0 = performance.now();
    const now = this.clock.now();
    this.wheel.advance(now, this.onExpire);
    this.slow.sweep(now, this.onStuck);
    this.ordered.tick(now);
    this.drain.step(now);
    this.admission.tick(now);
    this.deps.observer?.sweepSeconds((performance.now() - t0) / 1000);
  }

  /** The transport's drain event: the socket's send buffer shrank (not the gateway drain: that is startDrain). */
  sendBufferDrained(c: Connection): void {
    this.slow.sendBufferDrained(c);
    if (c.replay !== null) c.socket.cork(() => this.replayer.sendBufferDrained(c));
  }

  // ---- outbound ---------------------------------------------------------------------

  private write(c: Connection, data: Uint8Array | string, isBinary: boolean): void {
    if (c.closed) return;
    const status = c.socket.send(data, isBinary);
    this.stats.framesOut++;
    this.stats.bytesOut += typeof data === 'string' ? data.length : data.byteLength;
    if (status === SendStatus.OK) return;
    if (status === SendStatus.DROPPED) {
      this.stats.backpressureDrops++;
      // Already closing (e.g. the error frame itself was dropped): don't re-enter closeWith.
      if (c.closeCode !== undefined) return;
      this.stats.slowConsumerCloses++;
      this.closeWith(c, Close.SLOW_CONSUMER, 'send buffer overflowed');
      return;
    }
    this.slow.buffered(c, this.clock.now());
  }

  /** `path`: live delivery, or replay from the inbox on resume (kept apart in the latency histogram). */
  private writePush(c: Connection, p: PushRecord, path: 'live' | 'replay'): void {
    if (!this.trace.enabled) { this.writePushNow(c, p, path); return; }
    // Only inside a trace (a traced delivery or session): a held push flushed by the tick starts none.
    this.trace.span('longlink.gateway.write', { childOnly: true, attrs: { 'messaging.message.id': p.id, 'longlink.seq': p.seq, 'longlink.path': path } },
      () => this.writePushNow(c, p, path));
  }

  private writePushNow(c: Connection, p: PushRecord, path: 'live' | 'replay'): void {
    this.write(c, encodePushRaw(p.seq, p.id, p.ts, p.data, c.epoch >= 0 ? c.epoch : undefined), false);
    if (p.seq > c.sentSeq) c.sentSeq = p.seq;
    this.stats.pushesDelivered++;
    this.deps.observer?.pushLatencySeconds((this.clock.wallNow() - p.ts) / 1000, path);
  }

  /** A delivery from the router: write to this user's local sockets. Returns how many connections got it. */
  deliver(d: Delivery): number {
    const conns = this.registry.get(d.user, d.device);
    const now = this.clock.now();
    let n = 0;
    for (const c of conns) {
      if (c.closed) continue;
      n++;
      if (c.pending !== null) { this.replayer.hold(c, d.pushes); continue; }
      if (d.pushes.length === 1) this.ordered.offer(c, d.pushes, now);
      else c.socket.cork(() => this.ordered.offer(c, d.pushes, now));
    }
    return n;
  }

  control(cmd: ControlCommand): number {
    const targets = this.registry.get(cmd.user, cmd.device);
    let n = 0;
    for (const c of targets) {
      if (cmd.type === 'replace' && c.id === cmd.keepConn) continue;
      n++;
      if (cmd.type === 'kick') this.closeWith(c, Close.KICKED, 'disconnected by the service');
      else if (cmd.type === 'logout') this.closeWith(c, Close.LOGGED_OUT, 'logged out');
      else this.closeWith(c, Close.REPLACED, 'a newer connection for this user and device took over');
    }
    return n;
  }

  /** Every live connection (for presence re-announcement). */
  allConnections(): IterableIterator<Connection> {
    return this.registry.all();
  }

  /** Local connections of a user (for presence lookups in standalone mode and tests). */
  localConnections(user: string): readonly Connection[] {
    return this.registry.get(user);
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
