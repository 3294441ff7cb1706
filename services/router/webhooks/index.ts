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
import { plainHttpEndpoints } from './config.js';
import { httpPoster } from './http-poster.js';
import { webhookRoutes } from './http-routes.js';
import { WorkerDispatcher, type WorkerSetup } from './worker-dispatcher.js';
import { registerWebhookMetrics } from './metrics.js';

export interface Webhooks {
  readonly settings: WebhookSettings;
  readonly sink: WebhookSink;
  /** In this thread, or in a worker thread (cluster mode). */
  readonly dispatcher: { start(): Promise<void>; stop(): Promise<void> };
  readonly queue: WebhookQueue;
  readonly stats: WebhookStats;
  readonly routes: ApiRoute[];
  /** Adds `longlink_router_webhook_*` to a registry. */
  registerMetrics(registry: Registry): void;
  start(): Promise<void>;
  /** Stops delivering (in-flight attempts finish or come back after their lease), then closes the queue. */
  close(): Promise<void>;
}

/**
 * `worker`: deliver from a worker thread with its own NATS connection (the
 * router process); without it the dispatcher runs on this thread over
 * `queue` (standalone mode's memory queue, tests). Either way the sink
 * enqueues on `queue` and the API reads it.
 */
export function createWebhooks(o: { settings: WebhookSettings; queue: WebhookQueue; clock: Clock; log: Logger; poster?: WebhookPoster; worker?: WorkerSetup }): Webhooks {
  const stats = new WebhookStats(o.settings.endpoints.map((e) => e.name));
  for (const e of plainHttpEndpoints(o.settings)) {
    o.log.warn({ endpoint: e.name }, e.upstream
      ? 'webhook endpoint over plain http:// beyond this machine: its events travel readable, and anyone on the path can answer clients\' upstream requests (upstream.message replies); use https:// outside a trusted network'
      : 'webhook endpoint over plain http:// beyond this machine: its events travel readable on the path; use https:// outside a trusted network');
  }
  const sink = new WebhookSink({ settings: o.settings, queue: o.queue, clock: o.clock, log: o.log, stats, poster: o.poster ?? httpPoster });
  let observe: ((endpoint: string, outcome: 'delivered' | 'failed', seconds: number) => void) | undefined;
  const onObserve = (e: string, outcome: 'delivered' | 'failed', s: number): void => observe?.(e, outcome, s);
  let dispatcher: Webhooks['dispatcher'];
  if (o.worker) {
    const w = new WorkerDispatcher({ setup: o.worker, stats, log: o.log });
    w.observe = onObserve;
    dispatcher = w;
  } else {
    dispatcher = new WebhookDispatcher({ settings: o.settings, queue: o.queue, poster: o.poster ?? httpPoster, clock: o.clock, log: o.log, stats, observe: onObserve });
  }
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
