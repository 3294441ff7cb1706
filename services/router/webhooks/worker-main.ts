/**
 * The webhook dispatcher's thread (cluster mode): its own NATS connection,
 * the JetStream queue and the dispatcher, so signing and HTTP attempts run
 * on their own event loop and core instead of the push path's. The settings
 * are validated again here from the same environment (config.ts), so the
 * main thread passes no secret through messages. Every 500 ms it posts its
 * counters (cumulative) and attempt durations to the router's main thread,
 * which serves them as metrics (worker-dispatcher.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '@nats-io/transport-node';
import { systemClock } from '../../shared/clock.js';
import { createLogger } from '../../shared/log.js';
import { loadWebhookSettings } from './config.js';
import { WebhookDispatcher } from './core/dispatcher.js';
import { WebhookStats } from './core/stats.js';
import { httpPoster } from './http-poster.js';
import { openJetStreamQueue } from './jetstream-queue.js';
import type { WorkerReport, WorkerSetup } from './worker-dispatcher.js';

const setup = workerData as WorkerSetup;
const port = parentPort!;
const log = createLogger('longlink-router-webhooks', setup.logLevel);
const settings = loadWebhookSettings(process.env);
const stats = new WebhookStats(settings.endpoints.map((e) => e.name));
let observations: WorkerReport['observations'] = [];

const nc = await connect({ servers: setup.natsUrls, name: setup.name, maxReconnectAttempts: -1, reconnectTimeWait: 2000, reconnectJitter: 1000, timeout: 5000 });
const queue = await openJetStreamQueue({ nc, prefix: setup.prefix, log, timeoutMs: settings.timeoutMs, horizonMs: settings.horizonMs, deadTtlMs: settings.deadTtlMs, layout: settings.queueLayout,
  // The main thread created or updated the streams (and logged any warning about them) before starting this thread.
  ensureStreams: false,
  // This thread buries: it keeps the dead letters' share (the main thread charges the queue's).
  deadShare: { maxJobs: settings.userMaxJobs, maxBytes: settings.userMaxBytes } });
const dispatcher = new WebhookDispatcher({
  settings, queue, poster: httpPoster, clock: systemClock, log, stats,
  observe: (endpoint, outcome, seconds) => { if (observations.length < 100_000) observations.push([endpoint, outcome, seconds]); },
});
await dispatcher.start();

const report = (): void => {
  const dead = queue.deadShare;
  const msg: WorkerReport = { type: 'stats', stats: Object.fromEntries(stats.endpoints), observations, ...(dead ? { deadShare: { repeats: dead.repeats, unconfirmed: dead.unconfirmed } } : {}) };
  observations = [];
  port.postMessage(msg);
};
const timer = setInterval(report, 500);
port.on('message', (m: { cmd: string }) => {
  if (m.cmd !== 'stop') return;
  clearInterval(timer);
  void (async () => {
    await dispatcher.stop();
    await queue.close();
    report();
    await nc.drain().catch(() => undefined);
    port.postMessage({ type: 'stopped' });
  })();
});
port.postMessage({ type: 'started' });
