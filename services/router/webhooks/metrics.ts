/**
 * `longlink_router_webhook_*` (docs/metrics.md#webhooks): counters read from
 * WebhookStats at scrape time, queue depth and dead letters read from the
 * queue (for JetStream, cluster-wide numbers: aggregate with max, not sum;
 * refreshed at most every 2 s, and a scrape never waits more than 250 ms for
 * the queue: while NATS is down the last values stay and /metrics still
 * answers), and the attempt duration histogram. The only label is the endpoint name
 * (bounded by configuration), plus the outcome on the histogram, the
 * reason on dropped events, and the share and kind on the share corrections. Also `longlink_router_upstream_refused_total`:
 * upstream requests the sink refused, by the cap that was full.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { WebhookQueue } from './core/queue.js';
import type { WebhookSink } from './core/sink.js';
import type { EndpointStats, WebhookStats } from './core/stats.js';
import type { WebhookSettings } from './core/types.js';

const P = 'longlink_router_webhook_';
const REFRESH_MS = 2000;
const WAIT_MS = 250;

/** The queue's numbers per endpoint, read in the background: a scrape waits at most WAIT_MS for a refresh. */
function queueReader(names: readonly string[], queue: WebhookQueue): () => Promise<ReadonlyMap<string, { depth?: number; dead?: number }>> {
  const last = new Map<string, { depth?: number; dead?: number }>(names.map((n) => [n, {}]));
  let at = -Infinity;
  let pending: Promise<void> | undefined;
  const refresh = (): Promise<void> => (pending ??= Promise.all(names.map(async (n) => {
    const v = last.get(n)!;
    await Promise.all([
      queue.depth(n).then((d) => { v.depth = d; }, () => undefined),
      queue.deadCount(n).then((d) => { v.dead = d; }, () => undefined),
    ]);
  })).then(() => { at = performance.now(); }).finally(() => { pending = undefined; }));
  return async () => {
    if (performance.now() - at >= REFRESH_MS) await Promise.race([refresh(), new Promise((r) => setTimeout(r, WAIT_MS).unref())]);
    return last;
  };
}

/** Why an event was dropped before the queue took it: longlink_router_webhook_dropped_total{reason}. */
const DROP_REASONS = [['outbox', 'droppedOutbox'], ['queue', 'droppedQueue'], ['user_share', 'droppedShare']] as const;

export function registerWebhookMetrics(registry: Registry, src: { settings: WebhookSettings; queue: WebhookQueue; stats: WebhookStats; sink: Pick<WebhookSink, 'pending' | 'upstreamRefused'> }): (endpoint: string, outcome: 'delivered' | 'failed', seconds: number) => void {
  const names = src.settings.endpoints.map((e) => e.name);
  const counter = (name: string, help: string, key: keyof EndpointStats): void => {
    new Counter({
      name: P + name, help, labelNames: ['endpoint'], registers: [registry],
      collect() { this.reset(); for (const n of names) this.inc({ endpoint: n }, src.stats.of(n)[key]); },
    });
  };
  counter('enqueued_total', 'Webhook events (one per endpoint) the queue accepted.', 'enqueued');
  new Counter({
    name: P + 'dropped_total', labelNames: ['endpoint', 'reason'], registers: [registry],
    help: 'Webhook events dropped before the queue took them, by reason: outbox (LONGLINK_WEBHOOK_OUTBOX full), queue (the queue refused them: full or unavailable), user_share (their user held its share of the queue, LONGLINK_WEBHOOK_USER_MAX_JOBS / _BYTES).',
    collect() {
      this.reset();
      for (const n of names) { const s = src.stats.of(n); for (const [reason, key] of DROP_REASONS) this.inc({ endpoint: n, reason }, s[key]); }
    },
  });
  counter('deliveries_total', 'Webhook deliveries a receiver answered with 2xx.', 'delivered');
  counter('failures_total', 'Webhook attempts that failed (non-2xx, timeout, connection error); each is retried or dead-lettered.', 'failed');
  counter('dead_lettered_total', 'Webhook events dead-lettered by this router: the retry horizon passed.', 'deadLettered');
  counter('dead_dropped_total', 'Webhook events that passed the retry horizon and were dropped instead of dead-lettered: their user held its share of the dead letters (LONGLINK_WEBHOOK_USER_MAX_JOBS / _BYTES, counted apart from the queue).', 'deadDroppedShare');
  counter('replayed_total', 'Dead letters put back in the queue through the API.', 'replayed');
  new Counter({
    name: 'longlink_router_upstream_refused_total', labelNames: ['reason'], registers: [registry],
    help: 'Upstream requests (a client send with reply: true) refused with LL_UPSTREAM_OVERLOADED, by the cap that was full: router_cap (LONGLINK_WEBHOOK_UPSTREAM_MAX_IN_FLIGHT at this router) or user_cap (LONGLINK_WEBHOOK_UPSTREAM_MAX_PER_USER).',
    collect() { this.reset(); for (const [reason, n] of Object.entries(src.sink.upstreamRefused)) this.inc({ reason }, n); },
  });
  const read = queueReader(names, src.queue);
  new Gauge({
    name: P + 'queue_depth', help: 'Webhook queue entries of the endpoint not yet delivered: waiting, in flight or waiting for a retry (with JetStream: cluster-wide, one entry per queue message of 1-64 events).',
    labelNames: ['endpoint'], registers: [registry],
    async collect() { for (const [n, v] of await read()) if (v.depth !== undefined) this.set({ endpoint: n }, v.depth); },
  });
  new Gauge({
    name: P + 'dead_letters', help: 'Dead letters of the endpoint held for replay (cluster-wide with JetStream).',
    labelNames: ['endpoint'], registers: [registry],
    async collect() { for (const [n, v] of await read()) if (v.dead !== undefined) this.set({ endpoint: n }, v.dead); },
  });
  // The cluster shares' corrections (JetStream only: jetstream-share.ts): the queue's, kept on this thread, and the dead
  // letters', kept where jobs are buried (on this thread's queue, or the webhook thread's as it reports them).
  const corrections = src.queue.corrections;
  if (corrections !== undefined) {
    new Counter({
      name: P + 'share_corrections_total', labelNames: ['share', 'kind'], registers: [registry],
      help: 'Per-user share counts this router kept from going wrong, by share (queue, dead: the dead letters\') and kind: repeat (a settle notice for a charge id already released, skipped: a message settled twice, or a job re-stored by each of its deliveries), unconfirmed (another router\'s charges released because it never confirmed storing them: it died between announcing and storing).',
      collect() {
        this.reset();
        for (const [share, c] of [['queue', corrections.queue], ['dead', corrections.dead ?? src.stats.deadShare]] as const) {
          if (c === undefined) continue;
          this.inc({ share, kind: 'repeat' }, c.repeats);
          this.inc({ share, kind: 'unconfirmed' }, c.unconfirmed);
        }
      },
    });
  }
  new Gauge({ name: P + 'outbox', help: 'Webhook events handed to the queue and not yet confirmed by it.', registers: [registry], collect() { this.set(src.sink.pending); } });
  const duration = new Histogram({
    name: P + 'attempt_duration_seconds', help: 'Webhook delivery attempt duration, by endpoint and outcome (delivered, failed).',
    labelNames: ['endpoint', 'outcome'], registers: [registry], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  return (endpoint, outcome, seconds) => duration.observe({ endpoint, outcome }, seconds);
}
