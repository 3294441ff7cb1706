/**
 * Longlink client SDK, platform-neutral core. Apps import an entry instead:
 * `browser.ts` (native WebSocket, localStorage, Network Information API) or
 * `node.ts` (`ws`, file storage). This module imports nothing platform-specific.
 */
export { LonglinkClient } from './client.js';
export type {
  ClientEvents, ClientOptions, ClientStats, ConnectedEvent, DisconnectedEvent, HeartbeatOptions, IntervalEvent, ResumeState, TokenProvider, UnrecoverableEvent,
} from './types.js';
export { ReconnectMachine, decide, isTerminal } from './reconnect-machine.js';
export type { ClientState, Decision, LossInfo, StateChange, TerminalState, WakeSource } from './reconnect-machine.js';
export { FixedHeartbeatPolicy, MARS_DEFAULTS, SmartHeartbeatPolicy } from './heartbeat-policy.js';
export type { ChangeReason, HeartbeatPolicy, HeartbeatRecord, PolicyChange, SmartHeartbeatConfig } from './heartbeat-policy.js';
export { HeartbeatScheduler } from './heartbeat-scheduler.js';
export type { Beat, BeatKind } from './heartbeat-scheduler.js';
export { DEFAULT_BACKOFF, backoffDelay, backoffWindow, parseRetryAfter, parseRetryAfterMs, refusalWait, retryAfterDelay } from './backoff.js';
export type { BackoffConfig } from './backoff.js';
export { DEFAULT_DELIVERY, Delivery } from './delivery.js';
export type { DeliveryConfig, LostRange, PushMessage } from './delivery.js';
export { RequestError, SendError, Upstream } from './upstream.js';
export type { RequestErrorKind, SendErrorKind } from './upstream.js';
export { Channels, GAP_RECONNECT_MS } from './channels.js';
export type { ChannelMessage, ChannelReset } from './channels.js';
export { DEFAULT_STORAGE_KEY, HeartbeatMemory, MemoryStorage, webLocalStorage } from './storage.js';
export type { KeyValueStorage } from './storage.js';
export { ManualNetwork, browserNetworkMonitor, staticNetwork } from './network.js';
export type { NetworkEvent, NetworkMonitor } from './network.js';
export { webSocketTransport } from './transport.js';
export type { CloseInfo, TransportFactory, TransportHandlers, TransportSocket, WireData } from './transport.js';
export { handshakeUrl } from './connection.js';
export { systemTimers } from './system-timers.js';
export type { Timer, Timers } from './timers.js';
export { FakeTimers } from './fake-timers.js';
export { Emitter } from './emitter.js';
export { jwtExpiresAtMs, tokenExpired } from './token.js';
