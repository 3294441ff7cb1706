/**
 * Events the router reports to backends (webhooks, docs/webhooks.md) where
 * they happen: connections opened and closed (from the gateways' session
 * starts and presence events), pushes that found their user offline,
 * upstream messages, channels occupied and vacated cluster-wide and a user's
 * connections joining and leaving channels (channel-occupancy.ts). The core calls a `BackendEvents` sink; what the sink
 * does (sign, queue, retry) is the webhook module's business, so the core
 * never sees a queue or an HTTP client. Session ids never appear here: they
 * are resume credentials.
 */

export const BACKEND_EVENT_TYPES = Object.freeze([
  'connection.opened', 'connection.closed', 'push.offline', 'push.acked', 'upstream.message',
  'channel.occupied', 'channel.vacated', 'channel.subscribed', 'channel.unsubscribed',
] as const);
export type BackendEventType = (typeof BACKEND_EVENT_TYPES)[number];

export interface ConnectionOpenedData {
  user: string; device: string; conn: string; gateway: string;
  /** The session resumed (the client kept its seq) rather than started fresh. */
  resumed: boolean;
  /** Epoch ms. */
  at: number;
}

export interface ConnectionClosedData {
  user: string; device: string; conn: string; gateway: string;
  /** WebSocket close code (protocol/close-codes.ts), when the gateway reported one. */
  code?: number;
  /** Its label (e.g. heartbeat_timeout, client_close). */
  reason?: string;
  at: number;
}

/** A push that found no live connection. Its serialised payload travels beside it (`payload`). */
export interface PushOfflineData {
  user: string; seq: number; id: string;
  /** Router accept time, epoch ms. */
  ts: number;
}

/** channel.subscribed / channel.unsubscribed: one connection started or stopped receiving a channel (the gateways' join / leave events). */
export interface ChannelMemberData {
  channel: string; user: string; device: string; conn: string; gateway: string;
  at: number;
}

/** push.acked carries the ack receipt as published on `<prefix>.acked` (AckEvent in shared/bus/messages.ts). */

/** The sink. `wants` is checked first so nothing is built for an event no endpoint takes. */
export interface BackendEvents {
  wants(type: BackendEventType): boolean;
  /**
   * `payload`: already-serialised JSON to carry as the event's payload (push.offline). `chargeTo`: the user whose
   * share of the webhook queue the event is charged to when its data names none (channel.occupied / vacated: the
   * user whose join or leave made it). Never throws, never waits.
   */
  emit(type: BackendEventType, data: object, payload?: string, chargeTo?: string): void;
  /**
   * An upstream request (a client `send` with `reply: true`) answered by a
   * backend event's receiver: resolves with the reply body (JSON text), or
   * undefined when no answer came (the client then times out). `timeoutMs`:
   * how long the client still waits (the gateway's remaining deadline); no
   * attempt outlives it. Rejects only with a LonglinkError
   * (UPSTREAM_OVERLOADED) when a cap on requests in flight refused it before
   * anything was sent.
   */
  request<T extends { user: string }>(type: 'upstream.message', data: T, timeoutMs?: number): Promise<string | undefined>;
}

export const NO_BACKEND_EVENTS: BackendEvents = Object.freeze({ wants: () => false, emit: () => undefined, request: () => Promise.resolve(undefined) });
