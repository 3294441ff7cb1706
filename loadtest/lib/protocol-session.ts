/**
 * Client side of Longlink wire protocol v1 (docs/protocol.md) for load tools:
 * connect URLs with resume parameters, and a clock-driven session that runs
 * the SDK's own client rules (heartbeat scheduler and zombie rule, ack
 * batching and de-duplication, reconnect decisions and backoff: §5-§7) under
 * a retry policy (retry-policy.ts). Frames are built and parsed by
 * the one protocol module (protocol), as in the gateway and the SDK.
 *
 * Plain ES module: no Node, DOM or k6 APIs (no TextDecoder, no URL), so the
 * k6 scripts bundle it (`npm run build:k6`) and Node runs its compiled form
 * (the load generator, the benches, tests/loadtest/*). The driver owns the
 * socket and the clock: it feeds received frames to `receive()`, sends what
 * `poll()` returns, and wakes up at `nextWakeAt()`.
 * tests/loadtest/protocol-session.test.ts checks the rules against the SDK's.
 */
import { SDK_RETRY, type RetryPolicy } from './retry-policy.js';
import { decide, type Decision, type LossInfo } from '../../sdk/src/reconnect-decision.js';
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, HeartbeatScheduler } from '../../sdk/src/heartbeat-scheduler.js';
import { DEFAULT_DELIVERY, Delivery } from '../../sdk/src/delivery.js';
import { ManualTimers } from '../../sdk/src/manual-timers.js';
import { decodeServerFrame, encodeAck, encodeHeartbeat } from '../../protocol/codec.js';
import { handshakeSubprotocols, withHandshakeQuery } from '../../protocol/handshake-query.js';
import {
  SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX,
  type ErrorFrame, type HeartbeatAckFrame, type HelloFrame, type PubFrame, type PushFrame, type ReconnectFrame, type SentFrame, type ServerFrame,
  type SubscribedFrame, type UnsubscribedFrame,
} from '../../protocol/frames.js';

// The client frames, under the names the load tools use.
export { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, encodeAck as ackFrame, encodeHeartbeat as heartbeatFrame };

// ---- frames ------------------------------------------------------------------------------

/** A standalone ArrayBuffer holding exactly the frame's bytes (what k6's `ws.send` wants for a binary frame). */
export function toArrayBuffer(frame: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(frame.byteLength);
  new Uint8Array(out).set(frame);
  return out;
}

/** A frame the codec rejected: counted, never thrown. */
export interface Invalid { op: 'invalid'; reason: string }
export type ServerMessage = ServerFrame | Invalid;

/** Parses one server frame: a string is a text (JSON) frame, bytes are a binary frame. Never throws. */
export function parseServerFrame(data: string | ArrayBuffer | Uint8Array): ServerMessage {
  const r = decodeServerFrame(data, typeof data !== 'string');
  return r.ok ? r.frame : { op: 'invalid', reason: r.reason };
}

// ---- handshake -------------------------------------------------------------------------------

export interface ConnectParams {
  /** JWT. In the query (`access_token`) unless `tokenIn` is 'subprotocol' (then see `subprotocols()`). */
  token?: string;
  tokenIn?: 'query' | 'subprotocol';
  device?: string;
  /** Heartbeat interval to ask for (ms). */
  hbMs?: number;
  /** Resume: both or neither (§7). */
  session?: string;
  lastSeq?: number;
  /** The epoch lastSeq belongs to (hello.epoch), sent with resume so the server can say what it lost (§7). */
  epoch?: number;
  /** `channels=1`: the client speaks channel frames (§13). */
  channels?: boolean;
}

/** `ws://host:port/ws?…` with the handshake's query parameters (§2.2): the protocol's one builder (protocol/handshake-query.ts). */
export function connectUrl(base: string, p: ConnectParams): string {
  return withHandshakeQuery(base, {
    accessToken: p.tokenIn !== 'subprotocol' ? p.token : undefined,
    device: p.device,
    hbMs: p.hbMs,
    resume: p.session !== undefined && p.lastSeq !== undefined ? { session: p.session, lastSeq: p.lastSeq, epoch: p.epoch } : undefined,
    channels: p.channels,
  });
}

/** Subprotocols to offer (§2.1, §3): `longlink.v1`, plus the token when it travels there (the protocol's one list). */
export const subprotocols = handshakeSubprotocols;

// ---- the session state machine -------------------------------------------------------------------

export interface SessionOptions {
  /** Interval to ask for in the handshake (ms); the server's answer in hello wins. */
  intervalMs: number;
  /** Acks are batched as the SDK batches them (sdk/src/delivery.ts): at most this long (ms, SDK ackDelayMs) … */
  ackBatchMs?: number;
  /** … or this many pushes, whichever first (SDK ackBatch; §6). */
  ackBatchCount?: number;
  /** The zombie wait after a heartbeat is min(interval, this) (SDK heartbeat.timeoutMs). */
  heartbeatTimeoutMs?: number;
  /**
   * Ack pushes (default true, as the SDK does). false: pushes are still
   * de-duplicated and counted but never acked, for a bench that compares
   * delivery cost alone (bench:fanout's per-user push baseline).
   */
  acks?: boolean;
  retry?: RetryPolicy;
  random?: () => number;
}

export type SessionEvent =
  | { type: 'hello'; frame: HelloFrame }
  | { type: 'heartbeat_ack'; frame: HeartbeatAckFrame; rttMs: number | undefined }
  /** `latencyMs`: now − push.ts (router accept); `e2eMs`: now − data.t when the pusher stamped one. `gap`: seqs skipped before it. */
  | { type: 'push'; frame: PushFrame; duplicate: boolean; gap: number; latencyMs: number; e2eMs: number | undefined }
  | { type: 'reconnect'; frame: ReconnectFrame }
  | { type: 'error'; frame: ErrorFrame }
  | { type: 'sent'; frame: SentFrame }
  /** A channel message; `latencyMs`: now − pub.ts (router accept); `e2eMs` as for pushes. */
  | { type: 'pub'; frame: PubFrame; latencyMs: number; e2eMs: number | undefined }
  | { type: 'subscribed' | 'unsubscribed'; frame: SubscribedFrame | UnsubscribedFrame }
  | { type: 'invalid'; frame: Invalid };

/** Why the last connection ended, as the driver saw it. */
export interface Ended {
  /** WebSocket close code (1006 when the TCP connection just dropped). Absent when the upgrade failed. */
  closeCode?: number;
  /** HTTP status of a refused upgrade (503, 401…). */
  status?: number;
  /** Retry-After of a 503, in ms. */
  retryAfterMs?: number;
  /** It came from Retry-After-Ms (the gateway's exact schedule). */
  retryAfterExact?: true;
}

const NOTHING: { frames: Uint8Array[]; zombie: boolean } = Object.freeze({ frames: Object.freeze([]) as unknown as Uint8Array[], zombie: false });

/**
 * One load client's protocol state across its connections. The client rules
 * are the SDK's own parts, driven by the caller's clock through ManualTimers:
 * heartbeats and the zombie rule by its HeartbeatScheduler, de-duplication and
 * ack batching by its Delivery, reconnect decisions by its decide() and
 * backoff. What is the load tools' own: measurements (latency, gaps, counters)
 * and the 'fixed' retry policy the storms compare the SDK's with.
 */
export class ClientSession {
  /** From the last hello: kept across connections for resume. */
  session: string | undefined;
  gateway: string | undefined;
  /** The current (last hello's) connection id. */
  conn: string | undefined;
  resumed = false;
  /** Highest seq acked on the wire. */
  ackedSeq = 0;
  intervalMs: number;
  connected = false;
  attempt = 0;
  readonly stats = { connects: 0, resumes: 0, pushes: 0, duplicates: 0, gaps: 0, heartbeats: 0, heartbeatAcks: 0, acks: 0, zombies: 0, invalid: 0, epochChanges: 0 };

  private readonly retry: RetryPolicy;
  private readonly random: () => number;
  private readonly hbTimeoutMs: number;
  private readonly acks: boolean;
  private readonly timers = new ManualTimers();
  private readonly delivery: Delivery;
  /** The current connection's heartbeats, from its hello on. */
  private scheduler: HeartbeatScheduler | undefined;
  /** Frames due, for the driver's next poll. */
  private outbox: Uint8Array[] = [];
  private zombie = false;
  private connectedAt = 0;
  /** When the server's drain frame said to come back. */
  private drainAt: number | undefined;
  /** The last `ended()` decision (the SDK's `Decision`), for drivers and tests. */
  lastDecision: Decision | undefined;
  /**
   * The SDK would fetch a fresh token for the next attempt (after a 401 or a
   * token-expired close); as in its reconnect machine, this holds until a hello.
   */
  wantsFreshToken = false;
  /** `wantsFreshToken` when the current connection opened: its token was a fresh one. */
  private openedFresh = false;

  constructor(o: SessionOptions) {
    this.intervalMs = o.intervalMs;
    this.retry = o.retry ?? SDK_RETRY;
    this.random = o.random ?? Math.random;
    this.hbTimeoutMs = o.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    this.acks = o.acks ?? true;
    const cfg = { ackDelayMs: o.ackBatchMs ?? DEFAULT_DELIVERY.ackDelayMs, ackBatch: o.ackBatchCount ?? DEFAULT_DELIVERY.ackBatch };
    this.delivery = new Delivery(cfg, this.timers, () => {}, 0, undefined, () => { this.stats.epochChanges++; });
  }

  /** Highest seq processed (what `last_seq` says on resume). */
  get lastSeq(): number { return this.delivery.lastSeq; }

  /** Handshake parameters for the next connection: the interval, and resume once a session is known. */
  connectParams(base: Omit<ConnectParams, 'session' | 'lastSeq' | 'epoch' | 'hbMs'> = {}): ConnectParams {
    const epoch = this.delivery.epoch;
    return { ...base, hbMs: this.intervalMs, ...(this.session !== undefined ? { session: this.session, lastSeq: this.lastSeq, ...(epoch !== undefined ? { epoch } : {}) } : {}) };
  }

  /** The WebSocket opened; hello is next (heartbeats start with it, as in the SDK). */
  opened(now: number): void {
    this.timers.setNow(now);
    this.connected = true;
    this.connectedAt = now;
    this.outbox = [];
    this.zombie = false;
    this.drainAt = undefined;
    this.openedFresh = this.wantsFreshToken;
  }

  /** One frame from the server. */
  receive(data: string | ArrayBuffer | Uint8Array, now: number): SessionEvent {
    this.timers.setNow(now);
    const m = parseServerFrame(data);
    // Any frame is proof of life and restarts the idle timer (§5.1).
    this.scheduler?.received();
    switch (m.op) {
      case 'hello':
        this.stats.connects++;
        if (m.resumed) this.stats.resumes++;
        this.session = m.session;
        this.gateway = m.gateway;
        this.conn = m.conn;
        this.resumed = m.resumed;
        this.wantsFreshToken = false;
        this.intervalMs = m.hb.intervalMs;
        // The SDK's rule (§7): a new epoch means the server lost the sequence our lastSeq is from;
        // a gateway without epochs shows the same as a fresh session's seq behind ours.
        if (m.epoch !== undefined) { if (this.delivery.adopt(m.epoch) !== undefined || m.lost !== undefined) this.stats.epochChanges++; }
        else if (!m.resumed && m.seq < this.delivery.lastSeq) this.delivery.rebase();
        if (this.scheduler === undefined && this.connected) {
          this.scheduler = this.newScheduler();
          this.scheduler.start(this.intervalMs, this.intervalMs);
          this.delivery.attach((seq) => {
            if (!this.acks) return;
            this.queue(encodeAck(seq));
            this.ackedSeq = seq;
            this.stats.acks++;
          });
        }
        return { type: 'hello', frame: m };
      case 'heartbeat_ack': {
        this.stats.heartbeatAcks++;
        let rttMs: number | undefined;
        const sch = this.scheduler;
        sch?.ack(m.intervalMs, (beat, rtt) => {
          if (beat !== undefined) rttMs = rtt;
          // The gateway corrected our interval: adopt it (as the SDK client does).
          if (m.intervalMs !== undefined && m.intervalMs !== sch.currentIntervalMs) sch.setInterval(m.intervalMs);
        });
        if (m.intervalMs !== undefined) this.intervalMs = m.intervalMs;
        return { type: 'heartbeat_ack', frame: m, rttMs };
      }
      case 'push': {
        const last = this.delivery.lastSeq, epoch = this.delivery.epoch;
        // New or not is the SDK's Delivery's decision (seq within the push's epoch); a gap only counts within one epoch.
        const duplicate = !this.delivery.receive(m);
        const gap = duplicate || last === 0 || (m.epoch !== undefined && m.epoch !== epoch) ? 0 : m.seq - last - 1;
        const t = typeof m.data === 'object' && m.data !== null ? (m.data as { t?: unknown }).t : undefined;
        if (duplicate) this.stats.duplicates++;
        else {
          this.stats.pushes++;
          this.stats.gaps += gap;
        }
        return { type: 'push', frame: m, duplicate, gap, latencyMs: now - m.ts, e2eMs: typeof t === 'number' ? now - t : undefined };
      }
      case 'reconnect':
        this.drainAt = now + m.delayMs;
        return { type: 'reconnect', frame: m };
      case 'error': return { type: 'error', frame: m };
      case 'sent': return { type: 'sent', frame: m };
      case 'pub': {
        const t = typeof m.data === 'object' && m.data !== null ? (m.data as { t?: unknown }).t : undefined;
        return { type: 'pub', frame: m, latencyMs: now - m.ts, e2eMs: typeof t === 'number' ? now - t : undefined };
      }
      case 'subscribed':
      case 'unsubscribed': return { type: m.op, frame: m };
      case 'refreshed': // load sessions never send `refresh`
        this.stats.invalid++;
        return { type: 'invalid', frame: { op: 'invalid', reason: 'refreshed without a refresh' } };
      case 'reply': // nor requests
        this.stats.invalid++;
        return { type: 'invalid', frame: { op: 'invalid', reason: 'reply without a request' } };
      default:
        this.stats.invalid++;
        return { type: 'invalid', frame: m };
    }
  }

  /**
   * Frames due now, in order; the driver sends them. `zombie`: a heartbeat
   * went unanswered for min(interval, heartbeatTimeoutMs), so the connection
   * is dead however it looks (§5.1): close it and reconnect. Reported once.
   */
  poll(now: number): { frames: Uint8Array[]; zombie: boolean } {
    if (!this.connected) return NOTHING;
    this.timers.setNow(now);
    if (this.nextWakeAt() > now) return NOTHING; // the common case in a sweep: nothing due
    this.timers.runDue();
    if (this.zombie) {
      this.zombie = false;
      this.outbox = [];
      return { frames: [], zombie: true };
    }
    if (this.outbox.length === 0) return NOTHING;
    const frames = this.outbox;
    this.outbox = [];
    return { frames, zombie: false };
  }

  /** When `poll` next has something to do. */
  nextWakeAt(): number {
    if (!this.connected) return Infinity;
    if (this.zombie || this.outbox.length > 0) return this.timers.now();
    return this.timers.nextAt() ?? Infinity;
  }

  /**
   * The connection ended (or the upgrade failed). Returns the delay before
   * reconnecting, or undefined when the SDK would stop (terminal close code,
   * 400/404, a second 401). The decision is the SDK's own `decide()`
   * (sdk/src/reconnect-decision.ts, what its reconnect machine runs); only the 'fixed' policy replaces the
   * backoff delay with its constant. After a 401 or a token-expired close the
   * SDK fetches a fresh token and retries at once: `wantsFreshToken` tells the
   * driver so (a driver with one static token just retries with it, and a
   * second 401 is then terminal, as in the SDK).
   */
  ended(e: Ended, now: number): number | undefined {
    this.timers.setNow(now);
    const wasConnected = this.connected;
    this.connected = false;
    this.scheduler?.stop();
    this.scheduler = undefined;
    // Acks still owed wait for the next connection (the SDK's rule).
    this.delivery.detach();
    this.outbox = [];
    this.zombie = false;
    if (wasConnected && now - this.connectedAt >= this.retry.healthyAfterMs) this.attempt = 0;
    const usedFreshToken = wasConnected ? this.openedFresh : this.wantsFreshToken;
    const d = this.lastDecision = decide(this.lossInfo(e, usedFreshToken, now), this.attempt, this.retry, this.random);
    if (d.kind === 'retry' && d.refreshToken) this.wantsFreshToken = true;
    if (d.kind === 'terminal') return undefined;
    if (d.countsAsAttempt) this.attempt++;
    // 'fixed' (the naive client the storms compare with) keeps its constant where the SDK would back off.
    // 'deaf' (fixed, ignoreServerWait) keeps it even where the server said when.
    return this.retry.mode === 'fixed' && d.countsAsAttempt && (!d.serverWait || this.retry.ignoreServerWait === true) ? this.retry.baseMs : d.delayMs;
  }

  private newScheduler(): HeartbeatScheduler {
    const sch: HeartbeatScheduler = new HeartbeatScheduler(this.timers, this.random, { timeoutMs: this.hbTimeoutMs }, {
      send: (announce) => {
        this.queue(encodeHeartbeat(announce));
        this.stats.heartbeats++;
      },
      zombie: () => {
        this.stats.zombies++;
        this.zombie = true;
        sch.stop();
      },
    });
    return sch;
  }

  private queue(frame: Uint8Array): void {
    this.outbox.push(frame);
    this.scheduler?.sent();
  }

  /** What the SDK's reconnect machine would be told about this loss (a drain's delay counts from its frame, as in the SDK's connection). */
  private lossInfo(e: Ended, usedFreshToken: boolean, now: number): LossInfo {
    return {
      code: e.closeCode ?? 1006,
      reason: '',
      ...(e.status !== undefined ? { httpStatus: e.status } : {}),
      ...(e.status === 503 && e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs, ...(e.retryAfterExact ? { retryAfterExact: true } : {}) } : {}),
      ...(this.drainAt !== undefined ? { reconnectDelayMs: Math.max(0, this.drainAt - now) } : {}),
      ...(usedFreshToken ? { usedFreshToken: true } : {}),
    };
  }
}
