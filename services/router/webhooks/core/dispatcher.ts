/**
 * Delivers queued webhook jobs: signs each attempt (signer.ts), POSTs it
 * through the `WebhookPoster` port, and settles the lease: a 2xx acks it; a
 * failure (other status, timeout, connection error) retries it after an
 * exponential backoff with jitter, until the retry horizon (counted from
 * when the event happened) has passed, and then dead-letters it. The same
 * webhook-id goes out on every attempt. Runs beside the push path, never in
 * it: a slow receiver only holds this endpoint's `concurrency` slots.
 */
import type { Clock } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/log.js';
import type { LeasedJob, QueueConsumer, WebhookQueue } from './queue.js';
import { deliveryHeaders } from './signer.js';
import type { WebhookStats } from './stats.js';
import type { WebhookEndpoint, WebhookSettings } from './types.js';

/** One HTTP attempt's result: `status` when the receiver answered, `error` when it did not. */
export interface PostResult {
  status?: number;
  error?: string;
  /** The response body, when asked for (`readBody`) and no longer than that; else undefined. */
  body?: string;
}

export interface WebhookPoster {
  /** `readBody`: keep a response body of at most this many bytes (a longer one reads as `tooLong`). */
  post(url: string, headers: Record<string, string>, body: string, timeoutMs: number, readBody?: number): Promise<PostResult & { tooLong?: boolean }>;
}

/**
 * Delay before attempt `attempt + 1` after `attempt` failed: base × 2^(attempt-1),
 * capped at max, then "equal jitter" (half fixed, half uniform random), so
 * retries of many jobs that failed together spread out yet never come back
 * sooner than half the nominal delay.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.round(d / 2 + random() * (d / 2));
}

export interface DispatcherDeps {
  settings: WebhookSettings;
  queue: WebhookQueue;
  poster: WebhookPoster;
  clock: Clock;
  log: Logger;
  stats: WebhookStats;
  /** Per attempt: endpoint, outcome (`delivered` / `failed`) and seconds. */
  observe?: (endpoint: string, outcome: 'delivered' | 'failed', seconds: number) => void;
  random?: () => number;
}

export class WebhookDispatcher {
  private consumers: QueueConsumer[] = [];
  private started = false;

  constructor(private readonly d: DispatcherDeps) {}

  /** Starts one consumer per endpoint. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const ep of this.d.settings.endpoints) {
      this.consumers.push(await this.d.queue.consume(ep.name, this.d.settings.concurrency, (j) => this.attempt(ep, j)));
    }
  }

  async stop(): Promise<void> {
    const cs = this.consumers;
    this.consumers = [];
    this.started = false;
    await Promise.all(cs.map((c) => c.stop()));
  }

  /** One delivery attempt, settled on the queue. Never rejects. */
  async attempt(ep: WebhookEndpoint, lj: LeasedJob): Promise<void> {
    const { job } = lj;
    const s = this.d.stats.of(ep.name);
    const t0 = this.d.clock.now();
    const headers = deliveryHeaders(job.id, this.d.clock.wallNow() / 1000, job.body, ep.secrets);
    let r: PostResult;
    try {
      r = await this.d.poster.post(ep.url, headers, job.body, this.d.settings.timeoutMs);
    } catch (err) {
      r = { error: err instanceof Error ? err.message : String(err) };
    }
    const seconds = (this.d.clock.now() - t0) / 1000;
    try {
      if (r.status !== undefined && r.status >= 200 && r.status < 300) {
        s.delivered++;
        this.d.observe?.(ep.name, 'delivered', seconds);
        await lj.ack();
        return;
      }
      s.failed++;
      this.d.observe?.(ep.name, 'failed', seconds);
      const reason = r.status !== undefined ? `HTTP ${r.status}` : (r.error ?? 'failed').slice(0, 200);
      const now = this.d.clock.wallNow();
      const left = job.createdAt + this.d.settings.horizonMs - now;
      if (left <= 0) {
        s.deadLettered++;
        this.d.log.warn({ endpoint: ep.name, type: job.type, attempts: lj.attempt, reason }, 'webhook dead-lettered: retry horizon passed');
        if (!(await lj.dead({ job, attempts: lj.attempt, reason, deadAt: now }))) {
          s.deadDroppedShare++;
          this.d.log.warn({ endpoint: ep.name, type: job.type }, 'webhook dead letter dropped: its user holds its share of the dead letters');
        }
        return;
      }
      // The last retry lands on the horizon rather than past it.
      const delay = Math.min(backoffMs(lj.attempt, this.d.settings.retryBaseMs, this.d.settings.retryMaxMs, this.d.random), left);
      await lj.retry(delay);
    } catch (err) {
      // The queue could not record the outcome: the lease runs out and the job comes back (at-least-once).
      this.d.log.warn({ endpoint: ep.name, err: String(err) }, 'webhook: settling a job on the queue failed');
    }
  }
}
