/** Webhook counters per endpoint, bumped where things happen and read by the metrics at scrape time. */
export interface EndpointStats {
  /** Jobs the queue accepted. */
  enqueued: number;
  /** Events dropped before the queue took them (all reasons: the three below). */
  dropped: number;
  /** … because the outbox was full (LONGLINK_WEBHOOK_OUTBOX). */
  droppedOutbox: number;
  /** … because the queue refused them (full, unavailable). */
  droppedQueue: number;
  /** … because their user held its share of the queue (LONGLINK_WEBHOOK_USER_MAX_JOBS / _BYTES). */
  droppedShare: number;
  /** Deliveries a receiver answered 2xx. */
  delivered: number;
  /** Attempts that failed (non-2xx, timeout, connection error); each is retried or dead-lettered. */
  failed: number;
  /** Jobs moved to the dead letters (retry horizon passed), kept or not. */
  deadLettered: number;
  /** … of which dropped: their user held its share of the dead letters. */
  deadDroppedShare: number;
  /** Dead letters put back in the queue. */
  replayed: number;
}

/** A cluster share's corrections (jetstream-share.ts): settle notices skipped as repeats, other routers' unconfirmed charges released. */
export interface ShareCorrections { readonly repeats: number; readonly unconfirmed: number }

export class WebhookStats {
  readonly endpoints = new Map<string, EndpointStats>();
  /** The dead letters' share's corrections, as the webhook thread last reported them (worker-dispatcher.ts). */
  deadShare: ShareCorrections | undefined;
  constructor(names: readonly string[]) {
    for (const n of names) this.of(n);
  }
  of(endpoint: string): EndpointStats {
    let s = this.endpoints.get(endpoint);
    if (!s) {
      s = { enqueued: 0, dropped: 0, droppedOutbox: 0, droppedQueue: 0, droppedShare: 0, delivered: 0, failed: 0, deadLettered: 0, deadDroppedShare: 0, replayed: 0 };
      this.endpoints.set(endpoint, s);
    }
    return s;
  }
}
