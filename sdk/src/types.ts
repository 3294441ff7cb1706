/** Public option, event and stats types of the client. */
import type { BackoffConfig } from './backoff.js';
import type { PushMessage } from './delivery.js';
import type { ChannelMessage, ChannelReset } from './channels.js';
import type { ChannelPosition } from '../../protocol/index.js';
import type { BeatKind } from './heartbeat-scheduler.js';
import type { ChangeReason, SmartHeartbeatConfig } from './heartbeat-policy.js';
import type { NetworkMonitor } from './network.js';
import type { ClientState, StateChange, TerminalState, WakeSource } from './reconnect-machine.js';
import type { KeyValueStorage } from './storage.js';
import type { Timers } from './timers.js';
import type { TransportFactory } from './transport.js';

/**
 * Returns the token to connect with. `refresh: true` means the last one
 * expired or was refused: fetch a new one (e.g. from your auth backend).
 */
export type TokenProvider = (ctx: { refresh: boolean }) => string | Promise<string>;

export interface HeartbeatOptions extends Partial<SmartHeartbeatConfig> {
  /** Smart (adaptive) heartbeat. Default true. With false, `intervalMs` is used as is. */
  smart?: boolean;
  /** Fixed interval when `smart` is false (ms). Default 30 000. */
  intervalMs?: number;
  /**
   * Client-side heartbeat timeout cap (ms): after a beat, the link is a zombie
   * when nothing arrives within min(interval, timeoutMs). Default 60 000.
   */
  timeoutMs?: number;
}

export interface ClientOptions {
  /** Gateway endpoint, `ws(s)://host[:port]/ws`. */
  url: string;
  token: string | TokenProvider;
  /** Where the token travels: a `longlink.token.<jwt>` subprotocol (default) or `?access_token=`. */
  tokenIn?: 'protocol' | 'query';
  /** Device id (`device` query parameter) when the token has no `did` claim. */
  device?: string;
  /** WebSocket factory. The browser and node entries supply a default. */
  transport: TransportFactory;
  /** Injectable time (tests pass FakeTimers). Default: the platform's timers. */
  timers?: Timers;
  /** Injectable randomness in [0, 1) (jitter). Default Math.random. */
  random?: () => number;
  heartbeat?: HeartbeatOptions;
  backoff?: Partial<BackoffConfig>;
  /** From opening the socket to hello (ms). Default 15 000. */
  connectTimeoutMs?: number;
  /** Ack batching: at most this long (ms) ... Default 100. */
  ackDelayMs?: number;
  /** ... or this many pushes. Default 50. */
  ackBatch?: number;
  /** Default timeout of `send()` (ms). Default 10 000. */
  sendTimeoutMs?: number;
  /** Where learned heartbeat intervals are kept. The entries pick a default (localStorage / memory). */
  storage?: KeyValueStorage;
  /** Key of the JSON document in `storage`. */
  storageKey?: string;
  /** Network identity and wake-up events. Default: a static 'default' network (browser entry: Network Information API). */
  network?: NetworkMonitor;
  /** Resume a session saved earlier (e.g. across a page reload) from `client.resumeState`. */
  resume?: ResumeState;
  /**
   * In-band token refresh (sdk/src/token-refresh.ts): when the gateway
   * supports it, the token provider is asked (`refresh: true`) at a random
   * point between `fromFraction` and `toFraction` of the token's remaining
   * life (default 0.7-0.9) and the new token is sent without reconnecting.
   * `enabled: false` keeps the old behaviour (reconnect on 4002).
   */
  tokenRefresh?: { enabled?: boolean; fromFraction?: number; toFraction?: number };
}

/** What resuming needs: the session, the highest seq processed and the sequence epoch it belongs to (docs/protocol.md §7). */
export interface ResumeState {
  session: string;
  lastSeq: number;
  /** hello.epoch of the sequence lastSeq is from; absent with gateways that send none. */
  epoch?: number;
  /** Where each channel stopped (docs/protocol.md §13.4): recovered on the next connection. */
  channels?: ChannelPosition[];
}

/**
 * The server lost the user's sequence (e.g. its store was wiped) and started
 * a new one: pushes of sequence `epoch` after seq `afterSeq` could not be
 * recovered and will never arrive. Seqs start again under `newEpoch`.
 */
export interface UnrecoverableEvent {
  epoch: number;
  afterSeq: number;
  newEpoch: number;
}

export interface ConnectedEvent {
  session: string;
  resumed: boolean;
  gateway: string;
  conn: string;
  /** Heartbeat interval in force on this connection. */
  intervalMs: number;
  /** hello.seq: highest seq the server has assigned to the user. */
  serverSeq: number;
}

export interface DisconnectedEvent {
  code: number;
  reason: string;
  /** The client's heartbeat timeout detected a dead link. */
  zombie: boolean;
  /** When the next attempt is due (ms), unless terminal. */
  retryInMs?: number;
  /** Set when the client stopped for good. */
  terminal?: TerminalState;
}

export interface IntervalEvent {
  network: string;
  fromMs: number;
  toMs: number;
  stable: boolean;
  reason: ChangeReason;
}

export interface ClientEvents {
  state: StateChange;
  connected: ConnectedEvent;
  disconnected: DisconnectedEvent;
  /** A push, once, in seq order. */
  push: PushMessage;
  /**
   * A push this client may not accept (its data nests deeper than the
   * protocol allows; docs/protocol.md §10). Not delivered, but acked, so it
   * is not replayed; the connection stays up and later pushes arrive.
   */
  pushError: { seq: number; id: string; reason: string };
  /** The server lost pushes of an old sequence (reported by hello on resume, or seen as a new epoch on a push). */
  unrecoverable: UnrecoverableEvent;
  /** A heartbeat went out. `probe` beats test the current interval. */
  heartbeat: { kind: BeatKind; intervalMs: number };
  heartbeatAck: { rttMs: number; kind: BeatKind | undefined };
  /** The smart heartbeat changed its interval. */
  interval: IntervalEvent;
  /** An unread count carried by a heartbeat ack. */
  unread: { count: number };
  /** A channel message, once per offset, in offset order (per-channel handlers: client.channel()). */
  channelMessage: ChannelMessage;
  /** The connection receives a channel: its position, and whether missed messages were recovered. */
  subscribed: { channel: string; offset: number; epoch: string; recovered?: boolean };
  /** The connection no longer receives a channel; `error` when a subscription was refused (e.g. LL_CHANNEL_LIMIT). */
  unsubscribed: { channel: string; error?: string };
  /** Messages of a channel were missed and cannot be recovered (or its history was lost): refetch. */
  channelReset: ChannelReset;
  /** Something went wrong that the client handled (a listener threw, storage failed, ...). */
  error: Error;
}

export interface ClientStats {
  state: ClientState;
  attempts: number;
  connects: number;
  zombies: number;
  heartbeatsSent: number;
  heartbeatAcks: number;
  pushes: number;
  duplicates: number;
  acksSent: number;
  lastRttMs: number | undefined;
  /** In-band token refreshes accepted by the gateway, and refreshes that failed (provider error or refused). */
  tokenRefreshes: number;
  tokenRefreshFailures: number;
}

export type { ClientState, StateChange, TerminalState, WakeSource, PushMessage, ChannelMessage, ChannelReset };
