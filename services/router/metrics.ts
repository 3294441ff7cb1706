/**
 * Router metrics (`longlink_router_*`), read at scrape time from RouterCore's
 * plain counters. Labels are bounded (push status, resume outcome).
 */
import type { Registry } from 'prom-client';
import { ScrapeMetrics } from '../shared/metrics.js';
import type { RouterCore } from './core/router-core.js';

export interface RouterMetrics {
  readonly registry: Registry;
  bind(core: RouterCore): void;
}

export function createRouterMetrics(opts: { defaultMetrics?: boolean } = {}): RouterMetrics {
  const m = new ScrapeMetrics<RouterCore>('longlink_router_', opts);
  m.counter('push_requests_total', 'Push messages accepted (each message of a batch counts).', (r) => r.stats.pushRequests);
  m.labeledCounter('pushes_total', 'Per-recipient push results by status: sent, offline, duplicate.', 'status', (r) => r.stats.pushes);
  m.counter('inbox_appends_total', 'Messages appended to user inboxes.', (r) => r.stats.inboxAppends);
  m.counter('inbox_trims_total', 'Inbox entries trimmed after every known device acked them.', (r) => r.stats.inboxTrims);
  m.counter('presence_lookups_total', 'Presence directory lookups.', (r) => r.stats.presenceLookups);
  m.counter('presence_events_total', 'Presence events applied.', (r) => r.stats.presenceEvents);
  m.counter('beacons_total', 'Gateway beacons received.', (r) => r.stats.beacons);
  m.counter('replaces_total', 'Replace commands sent (one session per user and device, cluster-wide).', (r) => r.stats.replaces);
  m.labeledCounter('resumes_total', 'Resume requests by outcome.', 'outcome', (r) => r.stats.resumes);
  m.counter('acks_total', 'Client acks applied.', (r) => r.stats.acks);
  m.counter('delivery_messages_total', 'Messages published to gateways\' deliver subjects.', (r) => r.stats.deliveryMessages);
  m.counter('offline_notices_total', 'Offline notices published for external notifiers.', (r) => r.stats.offlineNotices);
  m.counter('presence_swept_total', 'Presence entries removed because their gateway\'s lease expired.', (r) => r.stats.sweptEntries);
  m.counter('bus_errors_total', 'Malformed bus messages and failed publishes.', (r) => r.stats.busErrors);
  m.counter('store_errors_total', 'Failed storage calls (Redis unavailable, timeouts).', (r) => r.stats.storeErrors);
  return { registry: m.registry, bind: (r) => m.bind(r) };
}
