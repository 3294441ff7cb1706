/** Options, connection states, events and counters of the NATS bus adapter (nats-bus.ts). */
import type { Logger } from '../log.js';

export interface NatsBusOptions {
  /** Client URLs, e.g. `nats://10.0.0.1:4222`; the cluster gossips the rest. */
  servers: string[];
  /** Shown by the server's monitoring (connz): use the service instance name. */
  name: string;
  log: Logger;
  /** Publishes held while disconnected (oldest dropped beyond this). Default 10,000; 0 drops them all. */
  maxPendingEvents?: number;
  /** Payload+subject bytes held while disconnected (the analogue of reconnectBufSize). Default 8 MiB. */
  maxPendingBytes?: number;
  /** Delay before retrying a server already tried; jitter of up to `reconnectJitterMs` is added. Defaults 2000 / 1000 ms. */
  reconnectTimeWaitMs?: number;
  reconnectJitterMs?: number;
  /** Client PING interval; two missed PONGs mark the connection stale and reconnect. Default 20 s. */
  pingIntervalMs?: number;
  /** Limit on one dial + handshake (client default 20 s, spent in full on a vanished host). Default 5 s. */
  connectTimeoutMs?: number;
  /** close() drains (lets in-flight messages finish) for at most this long, then closes. Default 5 s. */
  drainTimeoutMs?: number;
}

/** `reconnecting` covers both "socket just dropped" and "dialling servers". */
export type NatsBusStatus = 'connected' | 'reconnecting' | 'closed';

export interface NatsBusEvent {
  readonly type: 'disconnect' | 'reconnecting' | 'reconnect' | 'ldm' | 'error' | 'stale' | 'update' | 'close';
  /** State after the event. */
  readonly status: NatsBusStatus;
  /** Server concerned (host:port), when the client names one. */
  readonly server?: string;
  readonly error?: Error;
}

/**
 * Monotonic counters for metrics. reconnects excludes the initial connect;
 * reconnectAttempts counts dials while reconnecting; errors are client/server
 * errors (permissions, protocol, stale connection); handlerErrors are
 * handlers that threw or rejected; the *WhileDisconnected/replayed ones
 * follow the hold-and-replay of publishes; droppedAfterClose counts
 * publishes made while closing/closed (and held ones never replayed).
 */
export interface NatsBusCounters {
  reconnects: number; disconnects: number; reconnectAttempts: number; lameDuckNotices: number;
  errors: number; handlerErrors: number;
  bufferedWhileDisconnected: number; droppedWhileDisconnected: number; replayedAfterReconnect: number;
  droppedAfterClose: number;
}
