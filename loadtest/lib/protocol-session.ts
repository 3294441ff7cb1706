/**
 * Client side of Longlink wire protocol v1 (docs/protocol.md) for load tools:
 * frame building and parsing (heartbeat, heartbeat ack, ack, hello, push, …),
 * connect URLs with resume parameters, the heartbeat / zombie / ack-batching
 * rules of §5-§6 as a clock-driven state machine, and reconnect delays
 * (exponential backoff with full jitter, as sdk/src/backoff.ts, or a fixed
 * delay for comparison).
 *
 * Self-contained plain ES module: no imports, no Node, DOM or k6 APIs (no
 * TextDecoder, no URL), so k6 runs it as is (loadtest/k6/*.ts import the .ts
 * file) and Node runs its compiled form (the load generator, the benches,
 * tests/loadtest/*). The driver owns the socket and the clock: it feeds
 * received frames to `receive()`, sends what `poll()` returns, and wakes up at
 * `nextWakeAt()`. tests/loadtest/protocol-session.test.ts checks the codec
 * against services/shared/protocol and the backoff against the SDK's.
 */

export const SUBPROTOCOL = 'longlink.v1';
export const TOKEN_SUBPROTOCOL_PREFIX = 'longlink.token.';
const OP_HEARTBEAT = 0x01;
const OP_HEARTBEAT_ACK = 0x02;
const OP_ACK = 0x03;

// ---- varints (unsigned LEB128, ≤ 8 bytes, minimal) ------------------------------

function varintBytes(value: number): number[] {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint value must be a safe non-negative integer, got ${String(value)}`);
  const out: number[] = [];
  while (value >= 0x80) { out.push((value % 128) | 0x80); value = Math.floor(value / 128); }
  out.push(value);
  return out;
}

function readVarint(b: Uint8Array, offset: number): { value: number; next: number } | undefined {
  let value = 0, scale = 1;
  for (let i = 0; i < 8 && offset + i < b.length; i++) {
    const byte = b[offset + i]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      if (!Number.isSafeInteger(value) || (i > 0 && byte === 0)) return undefined;
      return { value, next: offset + i + 1 };
    }
    scale *= 128;
  }
  return undefined;
}

// ---- client → server frames ----------------------------------------------------------

/** Heartbeat: `01`, or `01 <varint intervalMs>` announcing the client's next interval. */
export function heartbeatFrame(intervalMs?: number): Uint8Array {
  return Uint8Array.from(intervalMs === undefined ? [OP_HEARTBEAT] : [OP_HEARTBEAT, ...varintBytes(intervalMs)]);
}

/** Cumulative ack: `03 <varint seq>`. */
export function ackFrame(seq: number): Uint8Array {
  return Uint8Array.from([OP_ACK, ...varintBytes(seq)]);
}

/** A standalone ArrayBuffer holding exactly the frame's bytes (what k6's `ws.send` wants for a binary frame). */
export function toArrayBuffer(frame: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(frame.byteLength);
  new Uint8Array(out).set(frame);
  return out;
}

// ---- server → client frames ------------------------------------------------------------

export interface Hello {
  op: 'hello'; v: number; session: string; conn: string; gateway: string; resumed: boolean; seq: number;
  hb: { minMs: number; maxMs: number; intervalMs: number; graceMs: number };
  limits: { maxPayload: number; ratePerSec: number; burst: number };
}
export interface HeartbeatAck { op: 'heartbeat_ack'; seq?: number; intervalMs?: number; unread?: number }
export interface Push { op: 'push'; seq: number; id: string; ts: number; data: unknown }
export interface Reconnect { op: 'reconnect'; delayMs: number; reason: string }
export interface ErrorMsg { op: 'error'; code: number; name: string; message: string }
export interface Sent { op: 'sent'; id: string; error?: string }
export interface Invalid { op: 'invalid'; reason: string }
export type ServerMessage = Hello | HeartbeatAck | Push | Reconnect | ErrorMsg | Sent | Invalid;

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const invalid = (reason: string): Invalid => ({ op: 'invalid', reason });

function parseBinary(b: Uint8Array): ServerMessage {
  if (b.length === 0 || b[0] !== OP_HEARTBEAT_ACK) return invalid(b.length === 0 ? 'empty binary frame' : `unknown binary op ${b[0]!}`);
  if (b.length === 1) return { op: 'heartbeat_ack' };
  const flags = b[1]!;
  if (flags === 0 || (flags & ~7) !== 0) return invalid('heartbeat_ack: bad flags');
  const ack: HeartbeatAck = { op: 'heartbeat_ack' };
  let off = 2;
  for (const [bit, key] of [[1, 'seq'], [2, 'intervalMs'], [4, 'unread']] as const) {
    if ((flags & bit) === 0) continue;
    const v = readVarint(b, off);
    if (!v) return invalid(`heartbeat_ack: malformed ${key}`);
    ack[key] = v.value;
    off = v.next;
  }
  return off === b.length ? ack : invalid('heartbeat_ack: trailing bytes');
}

function parseText(text: string): ServerMessage {
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return invalid('text frame must be a JSON object');
    o = v as Record<string, unknown>;
  } catch { return invalid('text frame is not valid JSON'); }
  switch (o.op) {
    case 'hello': {
      const hb = o.hb as Record<string, unknown> | undefined, lim = o.limits as Record<string, unknown> | undefined;
      if (o.v !== 1 || typeof o.session !== 'string' || typeof o.conn !== 'string' || typeof o.gateway !== 'string' || typeof o.resumed !== 'boolean' || !isUint(o.seq)) return invalid('hello: malformed');
      if (typeof hb !== 'object' || hb === null || !isUint(hb.minMs) || !isUint(hb.maxMs) || !isUint(hb.intervalMs) || !isUint(hb.graceMs)) return invalid('hello: malformed hb');
      if (typeof lim !== 'object' || lim === null || !isUint(lim.maxPayload) || typeof lim.ratePerSec !== 'number' || !isUint(lim.burst)) return invalid('hello: malformed limits');
      return { op: 'hello', v: 1, session: o.session, conn: o.conn, gateway: o.gateway, resumed: o.resumed, seq: o.seq,
        hb: { minMs: hb.minMs, maxMs: hb.maxMs, intervalMs: hb.intervalMs, graceMs: hb.graceMs },
        limits: { maxPayload: lim.maxPayload, ratePerSec: lim.ratePerSec, burst: lim.burst } };
    }
    case 'push':
      if (!isUint(o.seq) || typeof o.id !== 'string' || !isUint(o.ts) || !('data' in o)) return invalid('push: malformed');
      return { op: 'push', seq: o.seq, id: o.id, ts: o.ts, data: o.data };
    case 'reconnect':
      if (!isUint(o.delayMs) || typeof o.reason !== 'string') return invalid('reconnect: malformed');
      return { op: 'reconnect', delayMs: o.delayMs, reason: o.reason };
    case 'error':
      if (!isUint(o.code) || typeof o.name !== 'string' || typeof o.message !== 'string') return invalid('error: malformed');
      return { op: 'error', code: o.code, name: o.name, message: o.message };
    case 'sent':
      if (typeof o.id !== 'string' || (o.error !== undefined && typeof o.error !== 'string')) return invalid('sent: malformed');
      return o.error === undefined ? { op: 'sent', id: o.id } : { op: 'sent', id: o.id, error: o.error };
    default:
      return invalid(typeof o.op === 'string' ? `unknown op "${o.op.slice(0, 32)}"` : 'missing op');
  }
}

/** Parses one server frame: a string is a text (JSON) frame, bytes are a binary frame. Never throws. */
export function parseServerFrame(data: string | ArrayBuffer | Uint8Array): ServerMessage {
  if (typeof data === 'string') return parseText(data);
  return parseBinary(data instanceof Uint8Array ? data : new Uint8Array(data));
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

export type CloseAdvice = 'backoff' | 'after-delay' | 'refresh-token' | 'no';
const TERMINAL = [1000, 1009, 4001, 4003, 4004, 4005, 4008, 4010];

/** What a client does after a close code (§11); codes the table does not define mean backoff. */
export function closeAdvice(code: number): CloseAdvice {
  if (code === 4000) return 'after-delay';
  if (code === 4002) return 'refresh-token';
  return TERMINAL.includes(code) ? 'no' : 'backoff';
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

/** The SDK's defaults (sdk/src/backoff.ts DEFAULT_BACKOFF). */
export const SDK_RETRY: Readonly<RetryPolicy> = Object.freeze({ mode: 'full-jitter', baseMs: 1_000, capMs: 60_000, retryAfterJitter: 0.5, healthyAfterMs: 30_000 });
/** The usual naive client: retry every second, everyone at the same moment. */
export const FIXED_RETRY: Readonly<RetryPolicy> = Object.freeze({ mode: 'fixed', baseMs: 1_000, capMs: 1_000, retryAfterJitter: 0, healthyAfterMs: 30_000 });

/** Delay before reconnect attempt `attempt` (0-based); a server's Retry-After (ms) is honoured as a floor. */
export function retryDelay(p: RetryPolicy, attempt: number, random: () => number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.floor(retryAfterMs * (1 + (p.mode === 'fixed' ? 0 : random() * p.retryAfterJitter)));
  if (p.mode === 'fixed') return p.baseMs;
  return Math.floor(random() * Math.min(p.capMs, p.baseMs * Math.pow(2, Math.max(0, attempt))));
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
  | { type: 'hello'; frame: Hello }
  | { type: 'heartbeat_ack'; frame: HeartbeatAck; rttMs: number | undefined }
  /** `latencyMs`: now − push.ts (router accept); `e2eMs`: now − data.t when the pusher stamped one. `gap`: seqs skipped before it. */
  | { type: 'push'; frame: Push; duplicate: boolean; gap: number; latencyMs: number; e2eMs: number | undefined }
  | { type: 'reconnect'; frame: Reconnect }
  | { type: 'error'; frame: ErrorMsg }
  | { type: 'sent'; frame: Sent }
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
        this.resumed = m.resumed;
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
      frames.push(ackFrame(this.lastSeq));
      this.ackedSeq = this.lastSeq;
      this.pendingAcks = 0;
      this.ackDueAt = Infinity;
      this.stats.acks++;
      this.nextHeartbeatAt = now + this.intervalMs;
    }
    if (now >= this.nextHeartbeatAt) {
      frames.push(heartbeatFrame());
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
   * reconnecting, or undefined when the code is terminal.
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
    if (e.closeCode !== undefined) {
      const advice = closeAdvice(e.closeCode);
      if (advice === 'no') return undefined;
      if (advice === 'after-delay' && this.drainDelayMs !== undefined) return this.drainDelayMs;
    }
    if (e.status !== undefined && e.status !== 503 && e.status >= 400 && e.status < 500) return undefined;
    return retryDelay(this.retry, this.attempt++, this.random, e.status === 503 ? e.retryAfterMs : undefined);
  }
}
