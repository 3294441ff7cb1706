/**
 * What the gateway core needs from the outside world, and nothing more. The
 * core never imports uWS, NATS or Redis: the uWS transport hands it sockets
 * that satisfy `ClientSocket`, and the composition root hands it a
 * `GatewayLink` (memory bus in standalone mode, NATS in cluster mode).
 */

/** uWS send() results. */
export const SendStatus = Object.freeze({ BACKPRESSURE: 0, OK: 1, DROPPED: 2 });

/**
 * The narrow view of a WebSocket the core uses. A uWS WebSocket satisfies it
 * as is (no wrapper object per connection); tests use a fake.
 * Contract: after `end()` or after the transport reports the close, the core
 * never calls any method again (touching a closed uWS socket crashes).
 */
export interface ClientSocket {
  send(message: Uint8Array | string, isBinary?: boolean): number;
  end(code?: number, shortMessage?: string): void;
  getBufferedAmount(): number;
  cork(cb: () => void): unknown;
}

/** One push as stored and routed: `data` is already-serialised JSON. */
export interface PushRecord {
  seq: number;
  id: string;
  /** Router accept time, epoch ms. */
  ts: number;
  data: string;
}

/** Identity established by the upgrade handler (token verified, params validated). */
export interface Handshake {
  user: string;
  device: string;
  /** Token expiry, on the core's clock (ms); Infinity if none. */
  tokenExpiresAt: number;
  /** Interval the client asked for in the `hb` query param, if any. */
  requestedIntervalMs: number | undefined;
  /** Resume request: both set, or neither. */
  session: string | undefined;
  lastSeq: number | undefined;
}

export interface ResumeRequest {
  user: string;
  device: string;
  gateway: string;
  conn: string;
  session: string | undefined;
  lastSeq: number | undefined;
}

export interface ResumeReply {
  /** The session id to use: the given one when resumed, otherwise a new one. */
  session: string;
  resumed: boolean;
  /** Highest seq assigned to the user so far. */
  latestSeq: number;
  /** What the client missed, in seq order. */
  pushes: PushRecord[];
}

export interface PresenceEvent {
  type: 'online' | 'offline';
  user: string;
  device: string;
  conn: string;
  session: string;
  gateway: string;
  /** Epoch ms. */
  at: number;
}

export interface UpstreamMessage {
  user: string;
  device: string;
  conn: string;
  gateway: string;
  topic: string;
  id: string;
  data: unknown;
}

/** Gateway → router/backends. */
export interface GatewayLink {
  /** Session check and missed pushes (fresh session: the undelivered inbox). Rejects if the router can't answer. */
  resume(req: ResumeRequest): Promise<ResumeReply>;
  presence(ev: PresenceEvent): void;
  /** Cumulative ack from a device; the link may batch. */
  ack(user: string, device: string, seq: number): void;
  upstream(msg: UpstreamMessage): Promise<void>;
}

/** Router/backends → gateway. */
export interface Delivery {
  user: string;
  /** Only this device's connections, if set. */
  device?: string;
  pushes: PushRecord[];
}

export type ControlCommand =
  | { type: 'kick' | 'logout'; user: string; device?: string }
  /** Cluster-wide one-session rule: close this user+device's connections except `keepConn`. */
  | { type: 'replace'; user: string; device: string; keepConn: string };

export interface IdSource {
  /** Short unique id (connection ids, session ids). */
  next(): string;
}
