/**
 * Client side of Longlink wire protocol v1 (docs/protocol.md) for load tools:
 * connect URLs with resume parameters, the heartbeat / zombie / ack-batching
 * rules of §5-§6 as a clock-driven state machine, and reconnect delays
 * (exponential backoff with full jitter, as sdk/src/backoff.ts, or a fixed
 * delay for comparison). Frames are built and parsed by the one protocol
 * module (protocol), as in the gateway and the SDK.
 *
 * Plain ES module: no Node, DOM or k6 APIs (no TextDecoder, no URL), so the
 * k6 scripts bundle it (`npm run build:k6`) and Node runs its compiled form
 * (the load generator, the benches, tests/loadtest/*). The driver owns the
 * socket and the clock: it feeds received frames to `receive()`, sends what
 * `poll()` returns, and wakes up at `nextWakeAt()`.
 * tests/loadtest/protocol-session.test.ts checks the backoff against the SDK's.
 */
import { closeCodeInfo, type ReconnectAdvice } from '../../protocol/close-codes.js';
import { DEFAULT_BACKOFF, backoffDelay, retryAfterDelay } from '../../sdk/src/backoff.js';
import { decide, type Decision, type LossInfo } from '../../sdk/src/reconnect-decision.js';
import { decodeServerFrame, encodeAck, encodeHeartbeat } from '../../protocol/codec.js';
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
}

/** `ws://host:port/ws?…` with the handshake's query parameters (§2.2), URL-encoded. */
export function connectUrl(base: string, p: ConnectParams): string {
  const q: string[] = [];
  const add = (k: string, v: string | number): void => { q.push(`${k}=${encodeURIComponent(String(v))}`); };
  if (p.token !== undefined && p.tokenIn !== 'subprotocol') add('access_token', p.token);
  if (p.device !== undefined) add('device', p.device);
  if (p.hbMs !== undefined) add('hb', p.hbMs);
  if (p.session !== undefined && p.lastSeq !== undefined) { add('session', p.session); add('last_seq', p.lastSeq); }
  if (q.length === 0) return base;
  return base + (base.includes('?') ? '&' : '?') + q.join('&');
}

/** Subprotocols to offer (§2.1, §3): `longlink.v1`, plus the token when it travels there. */
export function subprotocols(token?: string): string[] {
  return token === undefined ? [SUBPROTOCOL] : [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + token];
}

// ---- close codes and reconnect delays ----------------------------------------------------------

export type CloseAdvice = ReconnectAdvice;

/** What a client does after a close code (the close-code table, §11); codes the table does not define mean backoff. */
export function closeAdvice(code: number): CloseAdvice {
  return closeCodeInfo(code)?.reconnect ?? 'backoff';
}

export interface RetryPolicy {
  /** 'full-jitter': uniform in [0, min(cap, base·2^n)) (the SDK). 'fixed': always `baseMs`, no jitter. */
  mode: 'full-jitter' | 'fixed';
  baseMs: number;
  capMs: number;
  /** Extra random fraction on top of a 503's Retry-After (SDK: 0.5). 'fixed' adds none. */
  retryAfterJitter: number;
  /** A connection up at least this long resets the attempt counter (SDK: healthyAfterMs). */
  healthyAfterMs: number;
}

/** The SDK's defaults (sdk/src/backoff.ts DEFAULT_BACKOFF, taken from there). */
export const SDK_RETRY: Readonly<RetryPolicy> = Object.freeze({ mode: 'full-jitter', ...DEFAULT_BACKOFF });
/** The usual naive client: retry every second, everyone at the same moment. */
export const FIXED_RETRY: Readonly<RetryPolicy> = Object.freeze({ mode: 'fixed', baseMs: 1_000, capMs: 1_000, retryAfterJitter: 0, healthyAfterMs: 30_000 });

/**
 * Delay before reconnect attempt `attempt` (0-based); a server's Retry-After (ms) is honoured as a floor.
 * 'full-jitter' is the SDK's own formula (sdk/src/backoff.ts), not a copy of it.
 */
export function retryDelay(p: RetryPolicy, attempt: number, random: () => number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return retryAfterDelay({ retryAfterJitter: p.mode === 'fixed' ? 0 : p.retryAfterJitter }, retryAfterMs, random);
  if (p.mode === 'fixed') return p.baseMs;
  return backoffDelay(p, attempt, random);
}

// ---- the session state machine -------------------------------------------------------------------

export interface SessionOptions {
  /** Interval to ask for in the handshake (ms); the server's answer in hello wins. */
  intervalMs: number;
  /** Acks are batched: at most this long (ms) … */
  ackBatchMs?: number;
  /** … or this many pushes, whichever first (§6). */
  ackBatchCount?: number;
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
}

export class ClientSession {
  /** From the last hello: kept across connections for resume. */
  session: string | undefined;
  gateway: string | undefined;
  /** The current (last hello's) connection id. */
  conn: string | undefined;
  resumed = false;
  /** Highest seq processed (what `last_seq` says on resume). */
  lastSeq = 0;
  ackedSeq = 0;
  intervalMs: number;
  connected = false;
  attempt = 0;
  readonly stats = { connects: 0, resumes: 0, pushes: 0, duplicates: 0, gaps: 0, heartbeats: 0, heartbeatAcks: 0, acks: 0, zombies: 0, invalid: 0 };

  private readonly retry: RetryPolicy;
  private readonly random: () => number;
  private readonly ackBatchMs: number;
  private readonly ackBatchCount: number;
  private connectedAt = 0;
  private nextHeartbeatAt = Infinity;
  /** Send time of the heartbeat awaiting its ack (for the round trip). */
  private hbSentAt: number | undefined;
  /** Send time of a heartbeat after which nothing at all has arrived yet (zombie rule). */
  private silentSince: number | undefined;
  private pendingAcks = 0;
  private ackDueAt = Infinity;
  private drainDelayMs: number | undefined;
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
    this.ackBatchMs = o.ackBatchMs ?? 100;
    this.ackBatchCount = o.ackBatchCount ?? 50;
  }

  /** Handshake parameters for the next connection: the interval, and resume once a session is known. */
  connectParams(base: Omit<ConnectParams, 'session' | 'lastSeq' | 'hbMs'> = {}): ConnectParams {
    return { ...base, hbMs: this.intervalMs, ...(this.session !== undefined ? { session: this.session, lastSeq: this.lastSeq } : {}) };
  }

  /** The WebSocket opened; hello is next. */
  opened(now: number): void {
    this.connected = true;
    this.connectedAt = now;
    this.hbSentAt = undefined;
    this.silentSince = undefined;
    this.drainDelayMs = undefined;
    this.openedFresh = this.wantsFreshToken;
    this.nextHeartbeatAt = now + this.intervalMs;
  }

  /** One frame from the server. */
  receive(data: string | ArrayBuffer | Uint8Array, now: number): SessionEvent {
    const m = parseServerFrame(data);
    // Any frame is proof of life and restarts the idle timer (§5.1).
    this.silentSince = undefined;
    this.nextHeartbeatAt = now + this.intervalMs;
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
        // The first heartbeat is jittered in [interval/2, interval], so a crowd that reconnected together does not beat together.
        this.nextHeartbeatAt = now + this.intervalMs * (0.5 + 0.5 * this.random());
        // A fresh session replays from the device's last ack: keep de-duplicating from what was seen.
        return { type: 'hello', frame: m };
      case 'heartbeat_ack': {
        this.stats.heartbeatAcks++;
        const rttMs = this.hbSentAt === undefined ? undefined : now - this.hbSentAt;
        this.hbSentAt = undefined;
        if (m.intervalMs !== undefined) this.intervalMs = m.intervalMs;
        return { type: 'heartbeat_ack', frame: m, rttMs };
      }
      case 'push': {
        const duplicate = m.seq <= this.lastSeq;
        const gap = duplicate || this.lastSeq === 0 ? 0 : m.seq - this.lastSeq - 1;
        const t = typeof m.data === 'object' && m.data !== null ? (m.data as { t?: unknown }).t : undefined;
        if (duplicate) this.stats.duplicates++;
        else {
          this.stats.pushes++;
          this.stats.gaps += gap;
          this.lastSeq = m.seq;
          if (this.pendingAcks++ === 0) this.ackDueAt = now + this.ackBatchMs;
          if (this.pendingAcks >= this.ackBatchCount) this.ackDueAt = now;
        }
        return { type: 'push', frame: m, duplicate, gap, latencyMs: now - m.ts, e2eMs: typeof t === 'number' ? now - t : undefined };
      }
      case 'reconnect':
        this.drainDelayMs = m.delayMs;
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
   * Frames due now, in order (ack first, then heartbeat); the driver sends
   * them. `zombie`: a heartbeat went unanswered for a whole interval, so the
   * connection is dead however it looks (§5.1): close it and reconnect.
   */
  poll(now: number): { frames: Uint8Array[]; zombie: boolean } {
    const frames: Uint8Array[] = [];
    if (!this.connected) return { frames, zombie: false };
    if (this.silentSince !== undefined && now >= this.silentSince + this.intervalMs) {
      this.stats.zombies++;
      this.silentSince = undefined;
      this.nextHeartbeatAt = Infinity; // reported once; the driver closes and calls ended()
      return { frames, zombie: true };
    }
    if (this.pendingAcks > 0 && now >= this.ackDueAt && this.lastSeq > this.ackedSeq) {
      frames.push(encodeAck(this.lastSeq));
      this.ackedSeq = this.lastSeq;
      this.pendingAcks = 0;
      this.ackDueAt = Infinity;
      this.stats.acks++;
      this.nextHeartbeatAt = now + this.intervalMs;
    }
    if (now >= this.nextHeartbeatAt) {
      frames.push(encodeHeartbeat());
      this.stats.heartbeats++;
      this.hbSentAt = now;
      this.silentSince ??= now;
      this.nextHeartbeatAt = now + this.intervalMs;
    }
    return { frames, zombie: false };
  }

  /** When `poll` next has something to do. */
  nextWakeAt(): number {
    if (!this.connected) return Infinity;
    const zombieAt = this.silentSince === undefined ? Infinity : this.silentSince + this.intervalMs;
    return Math.min(this.nextHeartbeatAt, this.pendingAcks > 0 ? this.ackDueAt : Infinity, zombieAt);
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
    const wasConnected = this.connected;
    this.connected = false;
    this.nextHeartbeatAt = Infinity;
    this.hbSentAt = undefined;
    this.silentSince = undefined;
    this.pendingAcks = 0;
    this.ackDueAt = Infinity;
    if (wasConnected && now - this.connectedAt >= this.retry.healthyAfterMs) this.attempt = 0;
    const usedFreshToken = wasConnected ? this.openedFresh : this.wantsFreshToken;
    const d = this.lastDecision = decide(this.lossInfo(e, usedFreshToken), this.attempt, this.retry, this.random);
    if (d.kind === 'retry' && d.refreshToken) this.wantsFreshToken = true;
    if (d.kind === 'terminal') return undefined;
    if (d.countsAsAttempt) this.attempt++;
    // 'fixed' (the naive client the storms compare with) keeps its constant where the SDK would back off.
    return this.retry.mode === 'fixed' && d.countsAsAttempt && !d.serverWait ? this.retry.baseMs : d.delayMs;
  }

  /** What the SDK's reconnect machine would be told about this loss. */
  private lossInfo(e: Ended, usedFreshToken: boolean): LossInfo {
    return {
      code: e.closeCode ?? 1006,
      reason: '',
      ...(e.status !== undefined ? { httpStatus: e.status } : {}),
      ...(e.status === 503 && e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
      ...(this.drainDelayMs !== undefined ? { reconnectDelayMs: this.drainDelayMs } : {}),
      ...(usedFreshToken ? { usedFreshToken: true } : {}),
    };
  }
}
