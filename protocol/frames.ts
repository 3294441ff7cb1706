/**
 * Wire protocol v1 frame types. docs/protocol.md is the normative spec; this
 * file is its executable form.
 *
 * Two encodings share one connection:
 *  - binary frames for the hot, tiny control messages: heartbeat (1 byte when
 *    there is nothing else to say), heartbeat ack (1 byte), cumulative ack;
 *  - text frames holding one JSON object with an `op` field for everything else.
 */

import { ID_LIMITS } from './identifiers.js';

export const PROTOCOL_VERSION = 1;
/** The WebSocket subprotocol a v1 client offers and the gateway selects. */
export const SUBPROTOCOL = 'longlink.v1';
/** A client may carry its token as a second offered subprotocol: `longlink.token.<jwt>`. */
export const TOKEN_SUBPROTOCOL_PREFIX = 'longlink.token.';

/** First byte of each binary frame. */
export const BinaryOp = Object.freeze({
  HEARTBEAT: 0x01,
  HEARTBEAT_ACK: 0x02,
  ACK: 0x03,
});

/** Bits of the heartbeat-ack flags byte: which varint fields follow, in this order. */
export const AckFlag = Object.freeze({
  SEQ: 0x01,
  INTERVAL: 0x02,
  UNREAD: 0x04,
});

export const LIMITS = Object.freeze({
  /** Upstream message ids and topics, in characters (rules in identifiers.ts). */
  maxIdLength: ID_LIMITS.messageIdMaxChars,
  maxTopicLength: ID_LIMITS.topicMaxChars,
  /** Heartbeat intervals a client may announce (ms): 100 ms … 1 hour. */
  minIntervalMs: 100,
  maxIntervalMs: 3_600_000,
  /** A token in a `refresh` frame (characters). */
  maxTokenLength: 8192,
  /** How long a `send` with `reply` may ask the gateway to wait for the backend (ms), and the default. */
  minReplyTimeoutMs: 100,
  maxReplyTimeoutMs: 30_000,
  defaultReplyTimeoutMs: 5000,
  /** A backend's reply body (UTF-8 bytes); a larger one is answered with LL_UPSTREAM_BAD_REPLY. */
  maxReplyBytes: 65_536,
  /** `send` frames with `reply` awaiting their answer on one connection; more get LL_UPSTREAM_BUSY. */
  maxRepliesInFlight: 32,
  /** Channel positions in one `recover` frame (docs/protocol.md §13). */
  maxRecoverChannels: 256,
  /** Channel epochs (characters of A-Z a-z 0-9 _ -). */
  maxEpochLength: 32,
});

/**
 * The server's heartbeat deadline (docs/protocol.md §5.2): a connection silent
 * for longer than this after its last frame is closed with 4003. One and a half
 * intervals absorb a late timer and a retransmission; the grace covers slow
 * networks on top.
 */
export function heartbeatDeadlineMs(intervalMs: number, graceMs: number): number {
  return intervalMs * 1.5 + graceMs;
}

// ---- client → server -------------------------------------------------------

/** "I am alive"; may announce the interval the client will use from now on. */
export interface HeartbeatFrame { op: 'heartbeat'; intervalMs?: number }
/** Cumulative: every push with seq ≤ `seq` was received. */
export interface AckFrame { op: 'ack'; seq: number }
/**
 * Upstream message for backends; answered by a `sent` frame with the same id.
 * With `reply: true` it is a request: answered instead by a `reply` frame
 * carrying the backend's answer or an error, within `timeoutMs` (default
 * LIMITS.defaultReplyTimeoutMs).
 */
export interface SendFrame { op: 'send'; id: string; topic: string; data: unknown; reply?: true; timeoutMs?: number }

/**
 * In-band token refresh: a new token for the same user (and device), verified
 * like the handshake's; extends the session past the old token's expiry.
 * Sent only to a gateway whose hello carried `tokenExpiresInMs`.
 */
export interface RefreshFrame { op: 'refresh'; token: string }

/** Where a client stopped reading a channel: the last offset it processed in that epoch. */
export interface ChannelPosition { channel: string; offset: number; epoch: string }

/**
 * Resume of channel subscriptions (docs/protocol.md §13.4): sent once, as the
 * first frame after `hello`, by a client that connected with `recover=1`.
 * The gateway holds the connection's channel joins until it arrives.
 */
export interface RecoverFrame { op: 'recover'; channels: ChannelPosition[] }

export type ClientFrame = HeartbeatFrame | AckFrame | SendFrame | RefreshFrame | RecoverFrame;

// ---- server → client -------------------------------------------------------

export interface HelloFrame {
  op: 'hello';
  v: number;
  session: string;
  conn: string;
  gateway: string;
  resumed: boolean;
  /** Highest seq the server has assigned to this user when the connection opened (0 if none). */
  seq: number;
  /**
   * The epoch of the user's sequence (0: none yet). A new epoch means the
   * server lost the old sequence and seqs start again at 1: the client
   * forgets its highest seq (docs/protocol.md §7). Absent from older gateways.
   */
  epoch?: number;
  /**
   * On a session start whose `epoch` parameter named a sequence the server no
   * longer has: its pushes after `afterSeq` could not be recovered.
   */
  lost?: { epoch: number; afterSeq: number };
  hb: { minMs: number; maxMs: number; intervalMs: number; graceMs: number };
  limits: { maxPayload: number; ratePerSec: number; burst: number };
  /**
   * Time left on the connection's token (ms) as the gateway counts it. Its
   * presence also says the gateway accepts `refresh` frames.
   */
  tokenExpiresInMs?: number;
}

/** Answer to a heartbeat. Fields appear only when there is something to say. */
export interface HeartbeatAckFrame { op: 'heartbeat_ack'; seq?: number; intervalMs?: number; unread?: number }

/** `epoch`: the sequence `seq` belongs to (as hello.epoch); absent from older gateways. */
export interface PushFrame { op: 'push'; seq: number; id: string; ts: number; data: unknown; epoch?: number }

/** Server is draining: reconnect (and resume) after `delayMs`. */
export interface ReconnectFrame { op: 'reconnect'; delayMs: number; reason: string }

/** Sent just before a close: the close code, its name and a human-readable message. */
export interface ErrorFrame { op: 'error'; code: number; name: string; message: string }

/** Answer to an upstream `send`: accepted, or `error` says why not (the connection stays open). */
export interface SentFrame { op: 'sent'; id: string; error?: string }

/**
 * Answer to a `send` with `reply: true`: the backend's answer in `data`, or
 * `error` (an LL_UPSTREAM_… code: no backend, timeout, bad reply, too many
 * in flight) with a human `message`. Only a client that asked gets one.
 */
export type ReplyFrame = { op: 'reply'; id: string; data: unknown } | { op: 'reply'; id: string; error: string; message?: string };

/** Answer to `refresh`: the new time left on the token (ms), or `error` (an LL_ code) and the old expiry stands. */
export interface RefreshedFrame { op: 'refreshed'; expiresInMs?: number; error?: string }

/**
 * One channel message. `offset` increases by one per publish within an
 * `epoch`; a new epoch means the channel's history was lost and offsets
 * restarted (docs/protocol.md §13).
 */
export interface PubFrame { op: 'pub'; channel: string; offset: number; epoch: string; id: string; ts: number; data: unknown }

/**
 * The connection now receives `channel`: its position when joined.
 * `recovered` only answers a recover entry: true when every missed message
 * followed (before any live one), false when the history no longer covers
 * the client's offset or the epoch changed (the app refetches).
 */
export interface SubscribedFrame { op: 'subscribed'; channel: string; offset: number; epoch: string; recovered?: boolean }

/** The connection no longer receives `channel`; `error` (an LL_ code) when a subscription was refused or failed. */
export interface UnsubscribedFrame { op: 'unsubscribed'; channel: string; error?: string }

export type ServerFrame = HelloFrame | HeartbeatAckFrame | PushFrame | ReconnectFrame | ErrorFrame | SentFrame | ReplyFrame | RefreshedFrame
  | PubFrame | SubscribedFrame | UnsubscribedFrame;

/** A decoder's answer: never an exception. `code` is the close code to use on failure. */
/**
 * A failed decode. `push` is set when the frame is a well-formed push whose
 * `data` a client may not accept (deeper than MAX_DATA_DEPTH): the seq and
 * id are known, so the client reports it and acks past it instead of closing
 * (docs/protocol.md §10), or one poison push would end every session.
 */
export type Decoded<T> = { ok: true; frame: T } | { ok: false; code: number; reason: string; push?: { seq: number; id: string; epoch?: number } };
