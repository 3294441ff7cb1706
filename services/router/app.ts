/**
 * The router's composition root, used by the router process (NATS + Redis,
 * main.ts) and by standalone mode (memory bus and stores) alike: settings →
 * options, stores + bus → core, gateway events and bus link → metrics →
 * HTTP API. Limits are written once: in DEFAULT_ROUTER_OPTIONS, overridden
 * only by settings.
 */
import type { ChannelBusLayout } from '../shared/bus/channel-layout.js';
import type { Bus } from '../shared/bus/bus.js';
import type { Subjects } from '../shared/bus/subjects.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/log.js';
import { NO_TRACING, type TraceHooks } from '../shared/trace-hooks.js';
import { RouterBusLink } from './bus-link.js';
import { LocalFirstOutbound, type LocalGateway } from './local-gateway.js';
import { NO_BACKEND_EVENTS, type BackendEvents } from './core/backend-events.js';
import type { Webhooks } from './webhooks/index.js';
import type { RouterSettings } from './config.js';
import { GatewayEvents } from './core/gateway-events.js';
import type { Inbox } from './core/inbox.js';
import type { PushStore } from './core/push-store.js';
import type { Presence } from './core/presence.js';
import { RouterCore } from './core/router-core.js';
import { DEFAULT_ROUTER_OPTIONS, newRouterStats, type RouterCoreOptions, type RouterStats } from './core/router-types.js';
import type { Sessions } from './core/sessions.js';
import type { ResumeRead } from './core/resume-read.js';
import { storeCall, type StoreHealth } from './core/store-call.js';
import { startRouterHttp, type RouterHttp } from './http-api.js';
import type { RouterMetrics, RouterMetricsSources } from './metrics.js';
import { sharedScrape } from '../shared/metrics.js';
import { historyReplyBytes, type ChannelHistory } from './core/channel-history.js';
import { ChannelService, type ChannelLimits } from './core/channels.js';
import { MemoryChannelHistory } from './stores/memory/channel-history.js';
import { MemoryChannelOccupancy } from './stores/memory/channel-occupancy.js';
import { ChannelOccupancyEvents, type ChannelOccupancy } from './core/channel-occupancy.js';
import { startConsole, type ConsoleAccess, type ConsolePanel, type RunningConsole } from './console/index.js';

export interface RouterStores {
  inbox: Inbox;
  sessions: Sessions;
  presence: Presence;
  /** The push path's append + lookup in one step (Redis: one Lua call); by default inbox and presence called together. */
  pushStore?: PushStore;
  /** Channel history (offsets, epochs, recent messages); memory when absent (standalone, tests). */
  history?: ChannelHistory;
  /** Which gateways have subscribers per channel (channel webhooks); memory when absent. */
  occupancy?: ChannelOccupancy;
  /** A session start's inbox reads in one step (Redis: one Lua call); by default the inbox's calls in order. */
  resumeRead?: ResumeRead;
}

export interface RouterDeps {
  bus: Bus;
  subjects: Subjects;
  stores: RouterStores;
  clock: Clock;
  log: Logger;
  options?: Partial<RouterCoreOptions>;
  channelLimits?: Partial<ChannelLimits>;
  /** Tracing (services/shared/tracing.ts); NO_TRACING by default. */
  trace?: TraceHooks;
  /** Whether the stores' connection is up (Redis: client status "ready"); part of /readyz. */
  storesConnected?: () => boolean;
  /** Where backend events go (the webhook sink); none by default. */
  events?: BackendEvents;
  /** How long an announced interest in ack receipts lasts (LONGLINK_ACK_RECEIPTS=await); 10 s by default. */
  ackInterestMs?: number;
  /** Standalone mode: the gateway in this process, which takes its deliveries without the bus (local-gateway.ts). */
  localGateway?: LocalGateway;
  /** How channel messages go on the bus (LONGLINK_CHANNEL_BUS_LAYOUT, channel-layout.ts); `record` by default. */
  channelBusLayout?: ChannelBusLayout;
}

/** Core options from the router's settings; everything not set here keeps its default. */
export function routerOptions(s: RouterSettings): Partial<RouterCoreOptions> {
  return { maxPushBytes: s.maxPushBytes, maxUsersPerPush: s.maxUsersPerPush, resumeConcurrency: s.resumeConcurrency, resumeQueue: s.resumeQueue, maxDevicesPerUser: s.maxDevicesPerUser, ackReceipts: s.ackReceipts };
}

/** Channel limits from the router's settings. */
export function channelLimits(s: RouterSettings): Partial<ChannelLimits> {
  return { maxPublishBytes: s.maxPublishBytes, publishRate: s.publishRate, publishBurst: s.publishBurst };
}

/** History bounds from the router's settings (both store adapters take them). */
export function historyLimits(s: RouterSettings): { maxLen: number; ttlMs: number; epochTtlMs: number } {
  return { maxLen: s.channelHistorySize, ttlMs: s.channelHistoryTtlMs, epochTtlMs: s.channelEpochTtlMs };
}

/** One router: the push core, the gateway events and the bus link, with their lifecycle. */
export class Router {
  readonly stats: RouterStats = newRouterStats();
  readonly core: RouterCore;
  readonly events: GatewayEvents;
  readonly link: RouterBusLink;
  readonly channels: ChannelService;
  /** channel.occupied / channel.vacated webhooks from the gateways' occupancy reports. */
  readonly occupancy: ChannelOccupancyEvents;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private readonly storeHealth: StoreHealth = { failing: false };
  private readonly storesConnected: () => boolean;
  private readonly events_: BackendEvents;

  constructor(deps: RouterDeps) {
    const options = { ...DEFAULT_ROUTER_OPTIONS, ...deps.options };
    const { clock, log } = deps;
    const store = storeCall(this.stats, log, this.storeHealth);
    this.storesConnected = deps.storesConnected ?? (() => true);
    const trace = deps.trace ?? NO_TRACING;
    this.events_ = deps.events ?? NO_BACKEND_EVENTS;
    this.link = new RouterBusLink({ bus: deps.bus, subjects: deps.subjects, log, stats: this.stats, ackReceipts: options.ackReceipts,
      ...(deps.ackInterestMs !== undefined ? { ackInterestMs: deps.ackInterestMs } : {}), ...(deps.channelBusLayout !== undefined ? { channelLayout: deps.channelBusLayout } : {}) });
    // Trace context rides in bus headers: a traced push's deliveries take the bus even in one process.
    const bus = deps.bus;
    const out = deps.localGateway && !trace.enabled
      ? new LocalFirstOutbound(this.link, deps.localGateway, bus.interested ? () => bus.interested!(deps.subjects.acked) : undefined)
      : this.link;
    const common = { out, ...deps.stores, clock, log, stats: this.stats, store, options, trace, events: this.events_ };
    this.core = new RouterCore(common);
    this.events = new GatewayEvents(common);
    this.channels = new ChannelService({
      history: deps.stores.history ?? new MemoryChannelHistory({ clock }), presence: deps.stores.presence, out: this.link, clock, store,
      limits: { maxHistoryBytes: historyReplyBytes(options.maxBusMessageBytes), ...deps.channelLimits },
    });
    this.occupancy = new ChannelOccupancyEvents({
      occupancy: deps.stores.occupancy ?? new MemoryChannelOccupancy(), presence: deps.stores.presence, events: this.events_, store,
    });
  }

  /**
   * The HTTP API's /readyz: between start() and stop(), while the stores are
   * connected and the last store call succeeded (beacons and the sweep keep
   * calling the stores, so readiness comes back on its own).
   */
  get ready(): boolean { return this.link.listening && !this.storeHealth.failing && this.storesConnected(); }
  get resumeWork(): GatewayEvents['resumeWork'] { return this.events.resumeWork; }
  get presenceWork(): GatewayEvents['presenceWork'] { return this.events.presenceWork; }
  get options(): RouterCoreOptions { return this.core.options; }

  /** Subscribes to the router's bus subjects and starts the presence sweeper. Idempotent. */
  start(): void {
    if (this.link.listening) return;
    this.link.listen({ core: this.core, events: this.events, backend: this.events_, channels: this.channels, occupancy: this.occupancy });
    this.sweepTimer = setInterval(() => void this.events.sweep(), this.core.options.sweepIntervalMs);
    this.sweepTimer.unref?.();
  }

  stop(): void {
    this.link.close();
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }
}

export interface RunningRouter {
  readonly router: Router;
  readonly http: RouterHttp;
  /** The operator console, when enabled. */
  readonly console: RunningConsole | undefined;
  /** Closes the HTTP API (in-flight requests get a moment), then unsubscribes. The bus and stores are the caller's. */
  close(): Promise<void>;
}

/** A started router with its HTTP API and metrics (the router process and standalone mode). */
export async function startRouter(o: RouterDeps & {
  settings: RouterSettings;
  apiKeys: string[];
  metrics: RouterMetrics;
  /** Cluster mode: the NATS bus and Redis client behind the metrics. */
  sources?: RouterMetricsSources;
  /** The operator console (docs/console.md): served on the API port when enabled. */
  console?: { access: ConsoleAccess; mode: 'standalone' | 'cluster'; panels?: readonly ConsolePanel[] };
  /** Webhooks (webhooks/index.ts): their sink receives the router's events; their API and metrics join the router's. */
  webhooks?: Webhooks;
}): Promise<RunningRouter> {
  const wh = o.webhooks;
  const router = new Router({
    ...o, channelBusLayout: o.channelBusLayout ?? o.settings.channelBusLayout, options: { ...routerOptions(o.settings), ...o.options }, channelLimits: { ...channelLimits(o.settings), ...o.channelLimits }, ...(wh ? { events: wh.sink } : {}),
  });
  router.start();
  o.metrics.bind(router, o.sources);
  if (wh) {
    wh.registerMetrics(o.metrics.registry);
    await wh.start();
  }
  let consoleApp: RunningConsole | undefined;
  try {
    const c = o.console;
    if (c?.access.enabled) {
      consoleApp = await startConsole({
        access: c.access, core: router.core, inbox: o.stores.inbox, clock: o.clock, mode: c.mode, metrics: o.metrics.registry, log: o.log,
        ...(c.panels ? { panels: c.panels } : {}),
      });
    }
    const http = await startRouterHttp({
      core: router.core, channels: router.channels, ready: () => router.ready, host: o.settings.apiHost, port: o.settings.apiPort, apiKeys: o.apiKeys,
      limits: { maxBodyBytes: o.settings.maxBodyBytes }, server: o.settings.apiServer,
      // Unauthenticated like the gateway's: a client looping on it shares collections instead of one per request.
      metrics: { contentType: o.metrics.registry.contentType, metrics: sharedScrape(() => o.metrics.registry.metrics()) },
      observe: o.metrics.observeHttp, log: o.log, ...(o.trace ? { trace: o.trace } : {}),
      ...(consoleApp ? { console: consoleApp.http } : {}),
      ...(wh ? { extraRoutes: wh.routes } : {}),
    });
    return {
      router, http, console: consoleApp,
      async close() {
        await http.close();
        consoleApp?.close();
        router.stop();
        await wh?.close();
      },
    };
  } catch (err) {
    consoleApp?.close();
    router.stop();
    await wh?.close();
    throw err;
  }
}
