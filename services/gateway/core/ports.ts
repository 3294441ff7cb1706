/**
 * What the gateway core needs from the outside world, and nothing more. The
 * core never imports uWS, NATS or Redis: the uWS transport hands it sockets
 * that satisfy `ClientSocket`, and the composition root hands it a
 * `GatewayLink` (memory bus in standalone mode, NATS in cluster mode).
 */

import type { ChannelArrival } from '../../shared/bus/channel-layout.js';
import type { ChannelHistoryReply, ChannelHistoryRequest, ChannelOccupancyEvent, ChannelPresenceEvent, FetchReply, FetchRequest, ResumeReply, ResumeRequest, PresenceEvent, UpstreamMessage } from '../../shared/bus/messages.js';

/** Bus messages the core speaks; defined once for every service. */
export type { ChannelArrival } from '../../shared/bus/channel-layout.js';
export type { ChannelMessage, ChannelHistoryReply, ChannelHistoryRequest, PushRecord, ResumeRequest, ResumeReply, FetchRequest, FetchReply, PresenceEvent, UpstreamMessage, Delivery, ControlCommand } from '../../shared/bus/messages.js';

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
  /** Joins / leaves a topic of the transport's native publish (uWS topics); the channel name is the topic. */
  subscribe(topic: string): boolean;
  unsubscribe(topic: string): boolean;
}

/** The transport's native fan-out: one call writes `message` (a text frame: a string or its UTF-8 bytes) to every socket subscribed to `topic`. */
export interface TopicPublisher {
  publish(topic: string, message: string | Uint8Array): void;
}

/** Gateway → bus for channels. */
export interface ChannelLink {
  /**
   * Starts receiving the channel's messages from the bus (interest); `ready`
   * resolves once the subscription is in place (a history read made after it
   * misses nothing that the live stream will not bring). `drop()` ends it.
   */
  interest(channel: string, onMessage: (m: ChannelArrival) => void): { ready: Promise<void>; drop(): void };
  /** The channel's position and, with afterOffset, what followed; rejects like resume(). */
  history(req: ChannelHistoryRequest): Promise<ChannelHistoryReply>;
  /** Join and leave events for backends (only when the gateway is configured to send them). */
  channelPresence(ev: ChannelPresenceEvent): void;
  /** This gateway's first local subscriber of a channel joined, or its last one left (for the routers' channel webhooks). */
  channelOccupancy?(ev: ChannelOccupancyEvent): void;
}

/** Identity established by the upgrade handler (token verified, params validated). */
export interface Handshake {
  user: string;
  device: string;
  /** Token expiry, on the core's clock (ms); Infinity if none. */
  tokenExpiresAt: number;
  /** Interval the client asked for in the `hb` query param, if any. */
  requestedIntervalMs: number | undefined;
  /**
   * Set when the client speaks channel frames (`channels=1` or `recover=1`):
   * the token's `channels` claim (validated, within the per-connection
   * limit), possibly empty. Unset: the connection joins no channel at all.
   */
  channels?: readonly string[];
  /** `recover=1`: hold channel joins until the client's `recover` frame (or a timeout). */
  recover?: boolean;
  /** Resume request: both set, or neither. */
  session: string | undefined;
  lastSeq: number | undefined;
  /** The epoch lastSeq belongs to (`epoch` parameter), if the client sent one. */
  lastEpoch?: number;
}

/** Gateway → router/backends. */
export interface GatewayLink {
  /**
   * Session check and missed pushes (fresh session: the undelivered inbox).
   * `timeoutMs`: how long to wait (the link's default if absent). Rejects if
   * the router can't answer; with a LonglinkError carrying the router's code
   * (ROUTER_OVERLOADED with retryAfterMs when it shed the start), or
   * ROUTER_TIMEOUT when no answer came within `timeoutMs` (a router took the
   * request and did not answer in time: overload, not a failure).
   */
  resume(req: ResumeRequest, timeoutMs?: number): Promise<ResumeReply>;
  /** Pushes after a seq for a started session (replay pages, gap repair); rejects like resume(). */
  fetch(req: FetchRequest, timeoutMs?: number): Promise<FetchReply>;
  presence(ev: PresenceEvent): void;
  /** Cumulative ack from a device, of `epoch` when known; the link may batch. */
  ack(user: string, device: string, seq: number, epoch?: number): void;
  upstream(msg: UpstreamMessage): Promise<void>;
  /**
   * An upstream request (`send` with `reply`): resolves with the backend's
   * reply (a JSON value within the protocol's size and depth limits), or
   * rejects with a LonglinkError: UPSTREAM_NO_BACKEND, UPSTREAM_TIMEOUT or
   * UPSTREAM_BAD_REPLY.
   */
  upstreamRequest(msg: UpstreamMessage, timeoutMs: number): Promise<unknown>;
}


/**
 * Verifies a token presented in-band (`refresh`), as the upgrade does.
 * Synchronous; throws a LonglinkError with the catalogue code on failure.
 */
export type TokenVerifier = (token: string) => { user: string; device: string | undefined; /** Epoch ms. */ expiresAt: number };

export interface IdSource {
  /** Short unique id (connection ids, session ids). */
  next(): string;
}
