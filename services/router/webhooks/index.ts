/**
 * Webhooks, composed: the sink the router core emits events into, the
 * dispatcher that delivers them, the API routes and the metrics, over a queue
 * the caller picks (JetStream in the router process, memory in standalone).
 * Off (no endpoints configured): nothing here is built and the core keeps
 * NO_BACKEND_EVENTS.
 */
import type { Registry } from 'prom-client';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { ApiRoute } from '../http-api.js';
import { WebhookDispatcher, type WebhookPoster } from './core/dispatcher.js';
import type { WebhookQueue } from './core/queue.js';
import { WebhookSink } from './core/sink.js';
import { WebhookStats } from './core/stats.js';
import type { WebhookSettings } from './core/types.js';
import { fetchPoster } from './http-poster.js';
import { webhookRoutes } from './http-routes.js';
import { registerWebhookMetrics } from './metrics.js';

export interface Webhooks {
  readonly settings: WebhookSettings;
  readonly sink: WebhookSink;
  readonly dispatcher: WebhookDispatcher;
  readonly queue: WebhookQueue;
  readonly stats: WebhookStats;
  readonly routes: ApiRoute[];
  /** Adds `longlink_router_webhook_*` to a registry. */
  registerMetrics(registry: Registry): void;
  start(): Promise<void>;
  /** Stops delivering (in-flight attempts finish or come back after their lease), then closes the queue. */
  close(): Promise<void>;
}

export function createWebhooks(o: { settings: WebhookSettings; queue: WebhookQueue; clock: Clock; log: Logger; poster?: WebhookPoster }): Webhooks {
  const stats = new WebhookStats(o.settings.endpoints.map((e) => e.name));
  const sink = new WebhookSink({ settings: o.settings, queue: o.queue, clock: o.clock, log: o.log, stats });
  let observe: ((endpoint: string, outcome: 'delivered' | 'failed', seconds: number) => void) | undefined;
  const dispatcher = new WebhookDispatcher({
    settings: o.settings, queue: o.queue, poster: o.poster ?? fetchPoster, clock: o.clock, log: o.log, stats,
    observe: (e, outcome, s) => observe?.(e, outcome, s),
  });
  return {
    settings: o.settings, sink, dispatcher, queue: o.queue, stats, routes: webhookRoutes(o.settings, o.queue, stats),
    registerMetrics(registry) { observe = registerWebhookMetrics(registry, { settings: o.settings, queue: o.queue, stats, sink }); },
    start: () => dispatcher.start(),
    async close() {
      await dispatcher.stop();
      await o.queue.close();
    },
  };
}
