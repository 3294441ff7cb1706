/**
 * Per-user share of the webhook queue: how many jobs (and body bytes) one
 * key (the user an event is about) may hold in the queue at once. Both queue
 * adapters keep one ledger and consult it on enqueue: a new job over its
 * key's share is refused (WebhookShareError, counted by the sink as
 * dropped with reason `user_share`), while other keys' jobs still enqueue.
 *
 * Only new events are charged. A job already queued is never refused again:
 * its retries (and, with JetStream, a retry re-published out of a batch)
 * stay charged to the key until the job leaves the queue (delivered or
 * dead-lettered), and a dead letter replayed by an operator is not charged.
 */

export interface ShareLimits {
  /** Jobs one key may hold (waiting, in flight, waiting for a retry). */
  readonly maxJobs: number;
  /** Body bytes (UTF-8) one key may hold. */
  readonly maxBytes: number;
}

/** Rejected enqueue: the event's key already holds its share of the queue. Other keys still enqueue. */
export class WebhookShareError extends Error {
  constructor(jobs: number, bytes: number, limits: ShareLimits) {
    super(`webhook queue share of this user full (${jobs}/${limits.maxJobs} jobs, ${bytes}/${limits.maxBytes} bytes)`);
    this.name = 'WebhookShareError';
  }
}

interface Held { jobs: number; bytes: number }

export class ShareLedger {
  private readonly held = new Map<string, Held>();

  constructor(readonly limits: ShareLimits) {}

  /** Charges one job of `bytes` to `key`, or throws WebhookShareError when that would pass the share. */
  take(key: string, bytes: number): void {
    const h = this.held.get(key);
    const jobs = h?.jobs ?? 0, b = h?.bytes ?? 0;
    if (jobs + 1 > this.limits.maxJobs || b + bytes > this.limits.maxBytes) throw new WebhookShareError(jobs, b, this.limits);
    if (h) { h.jobs++; h.bytes += bytes; } else this.held.set(key, { jobs: 1, bytes });
  }

  /** The job left the queue (or was never stored). Never goes below zero (a ledger reset meanwhile). */
  release(key: string, bytes: number): void {
    const h = this.held.get(key);
    if (!h) return;
    h.jobs--;
    h.bytes -= bytes;
    if (h.jobs <= 0 || h.bytes < 0) this.held.delete(key);
  }

  /** What `key` holds now. */
  of(key: string): Held { const h = this.held.get(key); return { jobs: h?.jobs ?? 0, bytes: h?.bytes ?? 0 }; }

  /** Keys holding anything. */
  get keys(): number { return this.held.size; }

  /** Forgets every charge (the JetStream adapter, after missing settle notices: fail open). */
  clear(): void { this.held.clear(); }
}
