/**
 * Webhook shapes shared by the sink (events → jobs), the dispatcher (jobs →
 * signed HTTP deliveries) and the queue adapters (memory, JetStream).
 * The event catalogue and every body are documented in docs/webhooks.md.
 */

import type { BackendEventType } from '../../core/backend-events.js';

/** Every event type a webhook endpoint can subscribe to: the router's backend events. */
export { BACKEND_EVENT_TYPES as WEBHOOK_EVENT_TYPES } from '../../core/backend-events.js';
export type WebhookEventType = BackendEventType;

/** One configured receiver. Secrets: the first signs as the current one; every one signs while rotating. */
export interface WebhookEndpoint {
  /** 1–32 characters of [A-Za-z0-9_-]: names the endpoint in metrics, the API and the queue's subjects. */
  readonly name: string;
  readonly url: string;
  /** The event types sent to this endpoint. */
  readonly events: ReadonlySet<WebhookEventType>;
  /** `whsec_<base64>` secrets, decoded. Every delivery carries one signature per secret. */
  readonly secrets: readonly Uint8Array[];
}

export interface WebhookSettings {
  readonly endpoints: readonly WebhookEndpoint[];
  /** One HTTP attempt's limit (connect to response headers and body). */
  readonly timeoutMs: number;
  /** Delay after the first failure; doubles per attempt (with jitter) up to retryMaxMs. */
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** An event still undelivered this long after it was created is dead-lettered. */
  readonly horizonMs: number;
  /** Attempts in flight at once per endpoint per router. */
  readonly concurrency: number;
  /** push.offline carries the payload inline up to this many bytes; larger ones say `too_large` and how to fetch it. */
  readonly inlineMaxBytes: number;
  /** Dead letters are kept this long (then the queue drops them). */
  readonly deadTtlMs: number;
  /** Events waiting for the queue to take them (the push path never waits); beyond this they are dropped and counted. */
  readonly outbox: number;
  /** Upstream requests in flight at once per router, and per user per router; more are refused (LL_UPSTREAM_OVERLOADED). */
  readonly upstreamMaxInFlight: number;
  readonly upstreamMaxPerUser: number;
  /** The in-memory queue's bound (standalone): jobs and body bytes held, and the same again for dead letters. */
  readonly memoryMaxJobs: number;
  readonly memoryMaxBytes: number;
  /** Per-user share of the queue (core/share.ts): jobs and body bytes one user's events may hold at once (across the routers with JetStream), and the same of the dead letters. */
  readonly userMaxJobs: number;
  readonly userMaxBytes: number;
  /** How the JetStream queue is written: several events per message, or one in the layout earlier releases read. */
  readonly queueLayout: 'batch' | 'single';
}

/** One event for one endpoint: what the queue stores. The same `id` (webhook-id) on every attempt and every replay. */
export interface WebhookJob {
  /** `msg_…`: the webhook-id header; receivers de-duplicate on it. */
  readonly id: string;
  readonly endpoint: string;
  readonly type: WebhookEventType;
  /** Epoch ms when the event happened: the retry horizon counts from here. */
  readonly createdAt: number;
  /** The JSON body, exactly as signed and sent. */
  readonly body: string;
  /**
   * Whose share of the queue a new job is charged to (core/share.ts): the
   * user the event is about. Not stored with the job: retries and replays
   * are never refused by the share.
   */
  readonly key?: string;
}

/** A dead-lettered job and why it died. */
export interface DeadLetter {
  readonly job: WebhookJob;
  /** Attempts made. */
  readonly attempts: number;
  /** Last failure: `HTTP 500`, `timeout`, a connection error. */
  readonly reason: string;
  /** Epoch ms. */
  readonly deadAt: number;
}
