/**
 * Standalone mode: a gateway and a router in one process over the in-memory
 * bus and stores. Nothing but Node is needed. The wiring is the cluster's,
 * with the memory adapters in place of NATS and Redis.
 */
import { randomBytes } from 'node:crypto';
import { MemoryBus } from '../shared/bus/memory-bus.js';
import { subjects as makeSubjects } from '../shared/bus/subjects.js';
import { serveUpstream, type UpstreamHandler } from '../shared/bus/upstream.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { createLogger, type Logger } from '../shared/log.js';
import { mintToken } from './dev-token.js';
import { DEV_JWT_SECRET, loadGatewayConfig } from '../gateway/config.js';
import { startGateway, type RunningGateway } from '../gateway/app.js';
import { historyLimits, startRouter, type Router } from '../router/app.js';
import { MemoryChannelHistory } from '../router/stores/memory/channel-history.js';
import { MemoryInbox } from '../router/stores/memory/inbox.js';
import { MemorySessions } from '../router/stores/memory/sessions.js';
import { MemoryPresence } from '../router/stores/memory/presence.js';
import { MemoryPushStore } from '../router/stores/memory/push-store.js';
import { createRouterMetrics } from '../router/metrics.js';
import { loadRouterSettings } from '../router/config.js';
import { DEFAULT_ROUTER_OPTIONS } from '../router/core/router-types.js';
import { historyReplyBytes, publishLimitProblems } from '../router/core/channel-history.js';
import { ConfigError } from '../shared/config.js';
import { loadWebhookSettings } from '../router/webhooks/config.js';
import { createWebhooks } from '../router/webhooks/index.js';
import { MemoryWebhookQueue } from '../router/webhooks/memory-queue.js';
import { LocalGateway } from '../router/local-gateway.js';
import { traceBus, traceHooks } from '../shared/tracing.js';
import { loadConsoleAccess } from '../router/console/index.js';

export interface Standalone {
  readonly gateway: RunningGateway;
  readonly router: Router;
  /** ws://host:port/ws */
  readonly gatewayUrl: string;
  /** http://host:port (gateway port: /healthz, /readyz, /metrics) */
  readonly gatewayHttpUrl: string;
  /** http://host:port (push API) */
  readonly apiUrl: string;
  readonly apiKey: string;
  /** True when `apiKey` was generated for this run (LONGLINK_API_KEYS unset): only then may it be printed. */
  readonly apiKeyGenerated: boolean;
  /** True when the built-in dev secret signs tokens (LONGLINK_DEV). */
  readonly devSecret: boolean;
  /** The operator console, when enabled: its URL and credential (`generated`: made up for this dev run). */
  readonly console: { url: string; token: string; generated: boolean } | undefined;
  /**
   * Answers clients' upstream requests (`send` with `reply: true`) on
   * `topic` (a pattern such as `demo.echo`, `chat.*`, `>`) in this process,
   * as a backend on NATS would in a cluster: the handler's return value is
   * the reply. For tests and demos. Call the returned function to stop.
   */
  handleUpstream(topic: string, handler: UpstreamHandler): () => void;
  /** Mints a client token with the configured HS256 secret. */
  mintToken(user: string, opts?: { device?: string; ttlSeconds?: number; channels?: string[] }): Promise<string>;
  /** Drains the gateway (reconnect frames, paced), then closes everything. */
  shutdown(): Promise<void>;
  /** Closes listeners and timers at once (tests). */
  close(): Promise<void>;
}

/**
 * Starts standalone mode from environment-style settings. Standalone defaults
 * to dev mode (LONGLINK_DEV=true) unless a JWT key is configured.
 */
export async function startStandalone(env: NodeJS.ProcessEnv = process.env, opts: { log?: Logger; clock?: Clock } = {}): Promise<Standalone> {
  const hasKey = env.LONGLINK_JWT_SECRET || env.LONGLINK_JWT_PUBLIC_KEY || env.LONGLINK_JWT_JWKS_URL;
  const effective = { ...env, LONGLINK_DEV: env.LONGLINK_DEV ?? (hasKey ? 'false' : 'true') };
  const config = loadGatewayConfig(effective);
  const settings = loadRouterSettings(effective);
  // A channel message must fit one history reply (the router's default bus message bound here), or it is never recovered.
  const tooBig = publishLimitProblems(settings.maxPublishBytes, historyReplyBytes(DEFAULT_ROUTER_OPTIONS.maxBusMessageBytes));
  if (tooBig.length > 0) throw new ConfigError(tooBig);
  const whSettings = loadWebhookSettings(effective);
  const log = opts.log ?? createLogger('longlink', config.logLevel);
  const clock = opts.clock ?? systemClock;
  const bus = new MemoryBus();
  const subjects = makeSubjects();

  const apiKey = settings.apiKeys[0] ?? `dev-${randomBytes(18).toString('base64url')}`;
  const apiKeys = settings.apiKeys.length > 0 ? settings.apiKeys : [apiKey];
  const routerMetrics = createRouterMetrics({ defaultMetrics: false });
  const access = loadConsoleAccess(effective, { dev: config.dev, apiKeys });
  // Webhooks in standalone mode queue in memory: lost when the process exits (docs/webhooks.md).
  const webhooks = whSettings.endpoints.length > 0 ? createWebhooks({ settings: whSettings, queue: new MemoryWebhookQueue({ maxJobs: whSettings.memoryMaxJobs, maxBytes: whSettings.memoryMaxBytes, share: { maxJobs: Math.min(whSettings.userMaxJobs, whSettings.memoryMaxJobs), maxBytes: Math.min(whSettings.userMaxBytes, whSettings.memoryMaxBytes) } }), clock, log }) : undefined;
  // Tracing (if the entry point started it): context crosses the memory bus in headers, as over NATS.
  const inbox = new MemoryInbox({ clock, maxLen: settings.inboxMaxLen, ttlMs: settings.inboxTtlMs });
  const presence = new MemoryPresence({ clock, leaseMs: settings.leaseMs });
  // The gateway below takes the router's deliveries as objects, not through the bus (local-gateway.ts).
  const localGateway = new LocalGateway((err, count) => log.error({ err: err instanceof Error ? err.message : String(err), count }, 'gateway threw taking deliveries: they stay in the inbox until the client resumes'));
  const routerTrace = traceHooks('longlink-router');
  const traced = routerTrace.enabled;
  const routed = await startRouter({
    localGateway,
    // Its gateway is this build, which reads both layouts: no rollout to wait for.
    channelBusLayout: 'frame',
    ...(webhooks ? { webhooks } : {}),
    settings, apiKeys, bus: traceBus(bus, 'longlink-router', 'memory'), subjects, clock, log, trace: routerTrace, metrics: routerMetrics,
    console: { access, mode: 'standalone' },
    stores: { inbox, sessions: new MemorySessions({ clock }), presence, pushStore: new MemoryPushStore(inbox, presence), history: new MemoryChannelHistory({ clock, ...historyLimits(settings) }) },
  });
  let gateway: RunningGateway;
  try {
    gateway = await startGateway({ config, bus, subjects, log, clock, moreMetrics: [routerMetrics.registry] });
  } catch (err) {
    await routed.close();
    throw err;
  }
  const listener = gateway.listener;
  localGateway.attach(gateway.id, (deliveries) => listener.deliverAll(deliveries));
  const router = routed.router;
  // Acks, likewise, go to the router as they are; with tracing on they keep the bus (as deliveries do).
  if (!traced) {
    gateway.link.handAcksTo((acks) => {
      // Failures are counted and logged by the store call, as for acks from the bus.
      router.events.applyAcks(acks).catch(() => {});
    });
  }
  const http = routed.http;
  const secret = config.jwtSecret ?? DEV_JWT_SECRET;
  const host = (h: string) => (h === '0.0.0.0' ? '127.0.0.1' : h);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    localGateway.detach();
    gateway.link.handAcksTo(undefined);
    await gateway.close();
    await routed.close();
    await bus.close();
  };
  return {
    gateway, router,
    gatewayUrl: `ws://${host(config.host)}:${gateway.port}/ws`,
    gatewayHttpUrl: `http://${host(config.host)}:${gateway.port}`,
    apiUrl: `http://${host(settings.apiHost)}:${http.port}`,
    apiKey,
    apiKeyGenerated: settings.apiKeys.length === 0,
    console: access.enabled ? { url: `http://${host(settings.apiHost)}:${http.port}/console/`, token: access.token, generated: access.generated } : undefined,
    devSecret: config.jwtSecret === undefined && config.jwtPublicKey === undefined && config.jwtJwksUrl === undefined,
    handleUpstream: (topic, handler) => {
      const sub = serveUpstream(bus, subjects, topic, handler, { onError: (err) => log.warn({ topic, err: err instanceof Error ? err.message : String(err) }, 'upstream handler failed: no reply sent') });
      return () => sub.unsubscribe();
    },
    mintToken: (user, o = {}) => {
      if (config.jwtSecret === undefined && !config.dev) return Promise.reject(new Error('tokens can be minted here only with LONGLINK_JWT_SECRET or in dev mode'));
      return mintToken(secret, user, { ...o, ...(config.jwtAudience ? { audience: config.jwtAudience } : {}), ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}) });
    },
    async shutdown() {
      await gateway.drain();
      await close();
    },
    close,
  };
}
