/**
 * Router metrics (`longlink_router_*`), read at scrape time from the router's
 * plain counters, plus the HTTP API's request counter and latency histogram
 * (fed through `observeHttp`, given to startRouterHttp as `observe`).
 * Labels are bounded: push status, resume outcome, route templates, HTTP
 * status codes, known methods.
 *
 * End-to-end push latency (router accept → socket write) is measured where
 * the write happens: `longlink_gateway_push_latency_seconds` on the gateways.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { ScrapeMetrics, registerNatsMetrics, type NatsBusStats } from '../shared/metrics.js';
import { FastHistogram } from '../shared/fast-histogram.js';
import type { ClusterView, RouterStats } from './core/router-types.js';
import type { WorkQueue } from './core/work-queue.js';

/** What the collectors read: the router's counters, its resume queue and the directory. */
import type { ChannelStats } from './core/channels.js';

export interface RouterMetricsSource {
  readonly stats: RouterStats;
  readonly resumeWork: Pick<WorkQueue, 'queued' | 'inFlight' | 'stats' | 'serviceMs' | 'expectedWaitMs'>;
  readonly presenceWork: Pick<WorkQueue, 'queued' | 'stats'>;
  readonly core: { cluster(): Promise<ClusterView> };
  readonly channels: { readonly stats: ChannelStats };
}

export interface RouterMetricsSources {
  /** Cluster mode: the NATS bus (adds `longlink_nats_*`). */
  nats?: NatsBusStats;
  /** Cluster mode: the ioredis client (`status` is "ready" while usable). */
  redis?: { readonly status: string };
}

export interface RouterMetrics {
  readonly registry: Registry;
  /** Binds the scrape-time collectors to a running router (and its bus and store client). Call once. */
  bind(router: RouterMetricsSource, more?: RouterMetricsSources): void;
  /** The HTTP API's per-request hook (RouterHttpOptions.observe). */
  observeHttp(route: string, method: string, status: number, seconds: number): void;
}

const P = 'longlink_router_';
/** The live-gateway gauge reads the directory (a store call): at most this often, whatever the scrape interval. */
const GATEWAYS_REFRESH_MS = 2000;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

export function createRouterMetrics(opts: { defaultMetrics?: boolean } = {}): RouterMetrics {
  const m = new ScrapeMetrics<RouterMetricsSource>(P, opts);
  const { registry } = m;
  m.counter('push_requests_total', 'Push messages accepted (each message of a batch counts).', (r) => r.stats.pushRequests);
  m.labeledCounter('pushes_total', 'Per-recipient push results by status: sent, offline, duplicate, delivered, stored, acked.', 'status', (r) => r.stats.pushes, ['sent', 'offline', 'duplicate', 'delivered', 'stored', 'acked']);
  m.counter('inbox_appends_total', 'Messages appended to user inboxes.', (r) => r.stats.inboxAppends);
  m.counter('inbox_duplicates_total', 'Appends skipped because their idempotency key was seen before.', (r) => r.stats.inboxDuplicates);
  m.counter('inbox_trims_total', 'Inbox entries trimmed after every known device acked them.', (r) => r.stats.inboxTrims);
  m.counter('presence_lookups_total', 'Presence directory lookups.', (r) => r.stats.presenceLookups);
  m.counter('presence_events_total', 'Presence events applied.', (r) => r.stats.presenceEvents);
  m.gauge('presence_event_queue', 'Presence events from gateways waiting to be applied (a re-announcement is worked off at the store\'s pace, a bounded number at once).', (r) => r.presenceWork.queued);
  m.counter('presence_events_shed_total', 'Presence events dropped because the presence event queue was full.', (r) => r.presenceWork.stats.shed);
  m.counter('beacons_total', 'Gateway beacons received.', (r) => r.stats.beacons);
  m.counter('gateway_resyncs_total', 'Gateways asked to re-announce their connections: their presence lease had lapsed (late beacons) while they were alive, or one of their beacon or presence steps failed (retried with backoff).', (r) => r.stats.resyncs);
  m.counter('presence_catchups_total', 'Re-announced connections sent the pushes stored while the directory did not list them.', (r) => r.stats.catchUps);
  m.counter('epoch_resets_total', 'Session starts whose client named a sequence epoch the store no longer has (it lost the user\'s seq counter); hello reported the lost range.', (r) => r.stats.epochResets);
  m.counter('replaces_total', 'Replace commands sent (one session per user and device, cluster-wide).', (r) => r.stats.replaces);
  m.labeledCounter('resumes_total', 'Resume requests by outcome.', 'outcome', (r) => r.stats.resumes, ['fresh', 'resumed', 'rejected', 'failed', 'device-limit', 'abandoned', 'stale']);
  m.gauge('resume_queue', 'Resume requests waiting for a slot (LONGLINK_RESUME_CONCURRENCY).', (r) => r.resumeWork.queued);
  m.gauge('resumes_in_flight', 'Resume requests being served.', (r) => r.resumeWork.inFlight);
  m.counter('resumes_expired_total', 'Resume requests dropped unstarted in the queue at their start deadline, answered with an overload hint (reconnect storm beyond capacity).', (r) => r.resumeWork.stats.expired);
  m.counter('resumes_shed_total', 'Resume requests refused at once, with a retry hint: they could not start before their deadline (measured service time), or the queue was full (LONGLINK_RESUME_QUEUE).', (r) => r.resumeWork.stats.shed);
  m.counter('resumes_aged_out_total', 'Resume and fetch requests not started because they sat too long before the router read them (their gateway\'s send stamp): answered with an overload hint when the gateway still waited, unanswered when its whole resume timeout had passed (a stopped or starved router).', (r) => r.resumeWork.stats.agedOut);
  m.gauge('resume_service_seconds', 'Smoothed time a resume takes once started (the store round trips): sets the expected queue wait and the start deadline.', (r) => r.resumeWork.serviceMs / 1000);
  m.gauge('resume_queue_wait_seconds', 'Expected wait for a resume arriving now: queued x service time / concurrency.', (r) => r.resumeWork.expectedWaitMs / 1000);
  m.counter('acks_total', 'Client acks applied.', (r) => r.stats.acks);
  m.counter('ack_receipts_total', 'Ack receipts published on the acked subject: pushes newly acked by a device.', (r) => r.stats.ackReceipts);
  m.counter('controls_total', 'Kick and logout commands handled.', (r) => r.stats.controls);
  m.counter('delivery_messages_total', 'Messages published to gateways\' deliver subjects.', (r) => r.stats.deliveryMessages);
  m.counter('offline_notices_total', 'Offline notices published for external notifiers.', (r) => r.stats.offlineNotices);
  m.counter('presence_swept_total', 'Presence entries removed because their gateway\'s lease expired.', (r) => r.stats.sweptEntries);
  m.counter('presence_lease_expiries_total', 'Gateways whose presence lease expired (no beacon within the lease: died without draining).', (r) => r.stats.leaseExpiries);
  m.counter('channel_publishes_total', 'Channel messages stored and published on the bus (broadcasts included).', (r) => r.channels.stats.publishes);
  m.labeledCounter('channel_publishes_refused_total', 'Channel publishes refused before anything was stored, by reason: too_large, rate, validation.', 'reason', (r) => r.channels.stats.publishRefused, ['too_large', 'rate', 'validation']);
  m.counter('channel_history_reads_total', 'Channel history reads for gateways (positions on join, recovery, gap repair).', (r) => r.channels.stats.historyReads);
  m.counter('channel_reads_shared_total', 'Channel history reads answered by an identical store read already in flight (same channel, offset and bound): no store read of their own.', (r) => r.channels.stats.historyReadsShared);
  m.counter('channel_subscribe_commands_total', 'Subscribe and unsubscribe calls handled.', (r) => r.channels.stats.subscribeCommands);
  m.counter('bus_errors_total', 'Malformed bus messages and failed publishes.', (r) => r.stats.busErrors);
  m.counter('store_errors_total', 'Failed storage calls (Redis unavailable, timeouts).', (r) => r.stats.storeErrors);

  // Once per API request: plain counts and pre-bound histogram series (fast-histogram.ts); prom-client reads the counts when scraped.
  const requestCounts = new Map<string, { labels: { route: string; method: string; code: string }; n: number }>();
  new Counter({
    name: P + 'http_requests_total', help: 'Push API requests answered, by route template, method and HTTP status code.',
    labelNames: ['route', 'method', 'code'], registers: [registry],
    collect() {
      this.reset();
      for (const c of requestCounts.values()) this.inc(c.labels, c.n);
    },
  });
  const duration = new FastHistogram({
    name: P + 'http_request_duration_seconds', help: 'Push API request duration (first byte read to response written), by route template.',
    labelNames: ['route'], registers: [registry], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  const durationOf = new Map<string, (seconds: number) => void>();
  /** A request's counter and duration series, found by its map key. */
  interface Series { route: string; method: string; status: number; count: { n: number }; observe: (seconds: number) => void }
  const series = (route: string, method: string, status: number): Series => {
    const m = METHODS.has(method) ? method : 'other';
    const key = route + ' ' + m + ' ' + status;
    let count = requestCounts.get(key);
    if (count === undefined) requestCounts.set(key, (count = { labels: { route, method: m, code: String(status) }, n: 0 }));
    let observe = durationOf.get(route);
    if (observe === undefined) durationOf.set(route, (observe = duration.bind(route)));
    return { route, method, status, count, observe };
  };
  let last: Series | undefined;

  let bound = false;
  return {
    registry,
    bind(router, more = {}) {
      if (bound) throw new Error('router metrics already bound');
      bound = true;
      m.bind(router);
      registerGatewaysGauge(registry, router.core);
      const { nats, redis } = more;
      if (redis) {
        new Gauge({ name: P + 'redis_connected', help: '1 while the Redis client is ready, else 0.', registers: [registry], collect() { this.set(redis.status === 'ready' ? 1 : 0); } });
      }
      if (nats) registerNatsMetrics(registry, nats);
    },
    observeHttp(route, method, status, seconds) {
      // A run of equal requests (the push API under load) counts into the last series without building its key.
      let s = last;
      if (s === undefined || s.route !== route || s.method !== method || s.status !== status) s = last = series(route, method, status);
      s.count.n++;
      s.observe(seconds);
    },
  };
}

/**
 * `longlink_router_gateways{state}`: gateways with a live presence lease, from
 * the shared directory, so every router reports the cluster-wide number
 * (aggregate with max, not sum). Refreshed at most every GATEWAYS_REFRESH_MS;
 * while the store is unreachable the last known value stays (the outage shows
 * in store_errors_total and redis_connected).
 */
function registerGatewaysGauge(registry: Registry, core: RouterMetricsSource['core']): void {
  let last: { live: number; draining: number } | undefined;
  let at = -Infinity;
  let pending: Promise<void> | undefined;
  const refresh = (): Promise<void> => (pending ??= core.cluster().then(
    (v) => { last = { live: v.gateways.filter((g) => !g.draining).length, draining: v.gateways.filter((g) => g.draining).length }; at = performance.now(); },
    () => { at = performance.now(); },
  ).finally(() => { pending = undefined; }));
  new Gauge({
    name: P + 'gateways', help: 'Gateways with a live presence lease (cluster-wide, from the directory), by state: live or draining.',
    labelNames: ['state'], registers: [registry],
    async collect() {
      if (performance.now() - at >= GATEWAYS_REFRESH_MS) await refresh();
      if (last) { this.set({ state: 'live' }, last.live); this.set({ state: 'draining' }, last.draining); }
    },
  });
}
