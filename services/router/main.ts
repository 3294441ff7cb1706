/**
 * Router process (cluster mode): config → NATS bus + Redis stores → router
 * core → HTTP API. Stateless: run several behind the NATS queue group and a
 * load balancer; all state lives in Redis.
 */
import os from 'node:os';
import { ConfigError, helpText, loadConfig } from '../shared/config.js';
import { natsSpec, redisSpec } from '../shared/cluster-config.js';
import { connectNatsBus } from '../shared/bus/nats-bus.js';
import { busMessageBytesFor, payloadLimitProblems } from '../shared/bus/payload-limits.js';
import { DEFAULT_ROUTER_OPTIONS } from './core/router-types.js';
import { subjects } from '../shared/bus/subjects.js';
import { systemClock } from '../shared/clock.js';
import { createLogger } from '../shared/log.js';
import { exitOnStartError, onShutdown } from '../shared/shutdown.js';
import { loadRouterSettings, routerProcessSpec as processSpec, routerSpec } from './config.js';
import { loadWebhookSettings, webhookSpec } from './webhooks/config.js';
import { createWebhooks, type Webhooks } from './webhooks/index.js';
import { openJetStreamQueue } from './webhooks/jetstream-queue.js';
import { historyLimits, startRouter } from './app.js';
import { RedisInbox } from './stores/redis/inbox.js';
import { RedisResumeRead } from './stores/redis/resume-read.js';
import { RedisSessions } from './stores/redis/sessions.js';
import { RedisPresence } from './stores/redis/presence.js';
import { RedisPushStore } from './stores/redis/push-store.js';
import { createRedis } from './stores/redis/client.js';
import { RedisChannelHistory } from './stores/redis/channel-history.js';
import { historyReplyBytes, publishLimitProblems } from './core/channel-history.js';
import { RedisChannelOccupancy } from './stores/redis/channel-occupancy.js';
import { createRouterMetrics } from './metrics.js';
import { consoleSpec, loadConsoleAccess } from './console/index.js';
import { startTracing, traceBus, traceHooks } from '../shared/tracing.js';


if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(helpText('Longlink router (cluster mode: NATS + Redis).\n\nUsage: node dist/services/router/main.js', [routerSpec, webhookSpec, consoleSpec, natsSpec, redisSpec, processSpec]));
  process.exit(0);
}

try {
  const settings = loadRouterSettings();
  if (settings.apiKeys.length === 0) throw new ConfigError(['LONGLINK_API_KEYS: required for the router process (comma-separated, >= 16 characters each)']);
  const whSettings = loadWebhookSettings();
  const nats = loadConfig(natsSpec);
  const redisCfg = loadConfig(redisSpec);
  const proc = loadConfig(processSpec);
  // Off unless LONGLINK_CONSOLE_TOKEN is set: the router process has no dev mode.
  const access = loadConsoleAccess(process.env, { dev: false, apiKeys: settings.apiKeys });
  const log = createLogger('longlink-router', proc.logLevel);
  // Off unless OTEL_* configures an exporter (docs/observability.md).
  const tracing = await startTracing({ serviceName: 'longlink-router' });
  const redis = await createRedis({
    ...(redisCfg.redisClusterNodes.length > 0 ? { nodes: redisCfg.redisClusterNodes } : { url: redisCfg.redisUrl }),
    name: `longlink-router-${os.hostname()}`,
  });
  const bus = await connectNatsBus({ servers: nats.natsUrls, name: `router-${os.hostname()}-${process.pid}`, log, pingIntervalMs: nats.natsPingIntervalMs });
  const serverMax = bus.connection.info?.max_payload;
  // Push data and record-layout channel data cross the bus as escaped JSON strings: up to twice their size.
  const maxBusMessageBytes = busMessageBytesFor(serverMax, DEFAULT_ROUTER_OPTIONS.maxBusMessageBytes);
  const tooBig = [
    ...payloadLimitProblems(serverMax, { LONGLINK_MAX_PUSH_BYTES: settings.maxPushBytes, LONGLINK_MAX_PUBLISH_BYTES: settings.maxPublishBytes }, 2),
    // A channel message must also fit one history reply, or it is never recovered (channel-history.ts).
    ...publishLimitProblems(settings.maxPublishBytes, historyReplyBytes(maxBusMessageBytes)),
  ];
  if (tooBig.length > 0) { await bus.close(); redis.disconnect(); throw new ConfigError(tooBig); }
  const clock = systemClock;
  const prefix = nats.prefix;
  let webhooks: Webhooks | undefined;
  if (whSettings.endpoints.length > 0) {
    const queue = await openJetStreamQueue({ nc: bus.connection, prefix, log, timeoutMs: whSettings.timeoutMs, horizonMs: whSettings.horizonMs, deadTtlMs: whSettings.deadTtlMs, layout: whSettings.queueLayout, share: { maxJobs: whSettings.userMaxJobs, maxBytes: whSettings.userMaxBytes },
      // The webhook thread delivers and buries, and keeps the dead letters' share; this thread only queues.
      deadShare: false })
      .catch((err: unknown) => { throw new ConfigError([`LONGLINK_WEBHOOKS: the webhook queue needs JetStream on the NATS servers (nats-server -js, or "jetstream {}" in its config): ${String(err)}`]); });
    // Deliveries run on a worker thread with its own NATS connection: the push path only enqueues.
    webhooks = createWebhooks({ settings: whSettings, queue, clock, log, worker: { natsUrls: nats.natsUrls, prefix, name: `router-webhooks-${os.hostname()}-${process.pid}`, logLevel: proc.logLevel } });
  }
  const inbox = new RedisInbox({ redis, prefix, maxLen: settings.inboxMaxLen, ttlMs: settings.inboxTtlMs });
  const presence = new RedisPresence({ redis, prefix, leaseMs: settings.leaseMs });
  const running = await startRouter({
    settings, apiKeys: settings.apiKeys, bus: traceBus(bus, 'longlink-router', 'nats'), subjects: subjects(prefix), clock, log,
    // Delivery batches, resume pages and history reads sized to what this server carries (512 KiB on a default one).
    options: { maxBusMessageBytes },
    trace: traceHooks('longlink-router'), metrics: createRouterMetrics(), sources: { nats: bus, redis },
    console: { access, mode: 'cluster' },
    ...(webhooks ? { webhooks } : {}),
    storesConnected: () => redis.status === 'ready',
    stores: { inbox, sessions: new RedisSessions({ redis, prefix }), resumeRead: new RedisResumeRead({ redis, prefix }), presence, pushStore: new RedisPushStore(inbox, presence),
      history: new RedisChannelHistory({ redis, prefix, ...historyLimits(settings) }),
      occupancy: new RedisChannelOccupancy({ redis, prefix }) },
  });
  // Whichever side reconnects last triggers the re-announcement: gateways do it on their
  // own reconnect, and a reconnected router asks them (announcements sent while it was not
  // yet subscribed on the restarted server were dropped).
  bus.onStatus((e) => { if (e.type === 'reconnect') running.router.link.sync({}); });
  if (running.console) console.log(`operator console on http://${settings.apiHost}:${running.http.port}/console/ (credential: LONGLINK_CONSOLE_TOKEN)`);
  console.log(`router listening on http://${settings.apiHost}:${running.http.port} (NATS ${nats.natsUrls.join(',')}, Redis ${redisCfg.redisClusterNodes.length > 0 ? `cluster ${redisCfg.redisClusterNodes.map((u) => new URL(u).host).join(',')}` : new URL(redisCfg.redisUrl).host})`);
  onShutdown(async () => {
    await running.close();
    await bus.close();
    redis.disconnect();
    await tracing.shutdown();
  }, proc.shutdownTimeoutMs, log);
} catch (err) {
  exitOnStartError(err);
}
