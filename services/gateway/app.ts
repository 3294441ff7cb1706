/**
 * Builds a running gateway from validated config and a bus: auth, core,
 * bus link, metrics and the uWS transport. Used by the standalone process
 * and the cluster gateway process alike.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Registry } from 'prom-client';
import type { Bus } from '../shared/bus/bus.js';
import type { Subjects } from '../shared/bus/subjects.js';
import { systemClock, type Clock } from '../shared/clock.js';
import type { Logger } from '../shared/log.js';
import { sharedScrape, type NatsBusStats } from '../shared/metrics.js';
import { traceBus, traceHooks } from '../shared/tracing.js';
import { createAuthenticator } from './auth.js';
import { DEV_JWT_SECRET, devModeWarning, type GatewayConfig } from './config.js';
import { BusGatewayLink, BusGatewayListener } from './bus-link.js';
import { GatewayCore } from './core/gateway-core.js';
import type { CoreOptions } from './core/options.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { assertNativeUws, startUwsGateway, type UwsGateway } from './transport/uws-server.js';
import { legacyWarning } from '../shared/uws-native.js';

export interface RunningGateway {
  readonly id: string;
  readonly port: number;
  /** The separate /metrics listener's port (LONGLINK_METRICS_PORT), undefined when /metrics is on `port`. */
  readonly metricsPort: number | undefined;
  readonly core: GatewayCore;
  /** Outbound bus traffic (the core's GatewayLink). */
  readonly link: BusGatewayLink;
  /** Inbound bus traffic and beacons; `reannounce()` after a bus outage. */
  readonly listener: BusGatewayListener;
  readonly metrics: GatewayMetrics;
  /** Tells every client to reconnect elsewhere (paced over the drain window); resolves when none is left. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export function coreOptions(c: GatewayConfig, gatewayId: string): CoreOptions {
  return {
    gatewayId,
    hb: { minMs: c.hbMinMs, maxMs: c.hbMaxMs, defaultMs: c.hbDefaultMs, graceMs: c.hbGraceMs, check: c.hbCheck, log: c.hbLog },
    wheel: { tickMs: c.wheelTickMs, size: c.wheelSize },
    limits: { maxPayload: c.maxPayload, ratePerSec: c.ratePerSec, burst: c.rateBurst, sendBufferBound: c.sendBufferBound, writeTimeoutMs: c.writeTimeoutMs },
    admission: {
      maxConnections: c.maxConnections, connectRate: c.connectRate, connectBurst: c.connectBurst, maxStarting: c.maxStartingSessions,
      startTargetMs: c.sessionStartTargetMs, resumeTimeoutMs: c.resumeTimeoutMs, sourceRate: c.sourceConnectRate, sourceBurst: c.sourceConnectBurst,
    },
    drain: { windowMs: c.drainWindowMs, reconnectJitterMs: c.drainReconnectJitterMs },
    channels: { maxPerConnection: c.maxChannelsPerConnection, recoverWaitMs: RECOVER_WAIT_MS, presenceEvents: c.channelPresenceEvents, maxPageReads: c.channelPageReads },
  };
}

/** How long a recover=1 connection's channel joins wait for its recover frame (ms). */
const RECOVER_WAIT_MS = 5000;

/** Connection/session-local ids: boot prefix + counter (unique cluster-wide, cheap). */
function idSource(bootId: string): { next(): string } {
  let n = 0;
  return { next: () => bootId + (++n).toString(36) };
}

export async function startGateway(deps: {
  config: GatewayConfig; bus: Bus; subjects: Subjects; log: Logger; clock?: Clock; ready?: () => boolean;
  /** More registries served on this gateway's /metrics (standalone mode adds the router's). */
  moreMetrics?: Registry[];
  /** Cluster mode: the NATS bus behind `bus`, for its connection metrics (`longlink_nats_*`). */
  nats?: NatsBusStats;
}): Promise<RunningGateway> {
  const native = assertNativeUws();
  const { config, bus, subjects, log } = deps;
  log.info({ uws: native.build, node: process.version }, 'uWebSockets.js native build loaded');
  const legacy = legacyWarning(native);
  if (legacy) log.warn({ uws: native.build }, legacy);
  const clock = deps.clock ?? systemClock;
  const bootId = randomBytes(6).toString('base64url');
  const id = config.gatewayId ?? `${os.hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${bootId.slice(0, 4).replace(/[^A-Za-z0-9]/g, 'x')}`;
  if (config.dev && config.jwtSecret === undefined && config.jwtPublicKey === undefined && config.jwtJwksUrl === undefined) {
    log.warn({ host: config.host }, devModeWarning(config.host));
  }
  const auth = createAuthenticator({
    secret: config.jwtSecret ?? (config.jwtPublicKey === undefined && config.jwtJwksUrl === undefined ? DEV_JWT_SECRET : undefined),
    publicKeyPem: config.jwtPublicKey, jwksUrl: config.jwtJwksUrl, algorithms: config.jwtAlgorithms,
    audience: config.jwtAudience, issuer: config.jwtIssuer, log,
  });
  const metrics = createGatewayMetrics();
  // Trace context rides in bus headers; a pass-through unless startTracing() enabled tracing.
  const tracedBus = traceBus(bus, 'longlink-gateway', deps.nats ? 'nats' : 'memory');
  const link = new BusGatewayLink({ bus: tracedBus, subjects, resumeTimeoutMs: config.resumeTimeoutMs, ackFlushMs: 50, bootId });
  // The topic publisher is bound to the uWS app once it exists: no connection (so no channel) before that.
  let publishTopic: (topic: string, message: string | Uint8Array) => void = () => {};
  const core = new GatewayCore({
    options: coreOptions(config, id), clock, ids: idSource(bootId), link, log, observer: metrics.observer, trace: traceHooks('longlink-gateway'),
    verifyToken: (t) => auth.verify(t),
    channels: { link, topics: { publish: (topic, message) => publishTopic(topic, message) } },
  });
  const listener = new BusGatewayListener({
    bus: tracedBus, subjects, gatewayId: id, bootId, beaconIntervalMs: config.beaconIntervalMs, wallNow: () => clock.wallNow(),
    gateway: core, presence: (ev) => link.presence(ev),
  });
  metrics.bind(core, { link: listener, maxConnections: config.maxConnections, ...(deps.nats ? { nats: deps.nats } : {}) });
  const ready = deps.ready ?? (() => true);
  const served = deps.moreMetrics?.length ? Registry.merge([metrics.registry, ...deps.moreMetrics]) : metrics.registry;
  let server: UwsGateway;
  try {
    server = await startUwsGateway({
      core, auth, clock, host: config.host, port: config.port, metricsPort: config.metricsPort, clientIpHeader: config.clientIpHeader, maxPayload: config.maxPayload, maxBackpressure: config.maxBackpressure,
      tickMs: config.wheelTickMs, maxChannels: config.maxChannelsPerConnection, ready: () => !core.isDraining && auth.ready() && ready(),
      metrics: { contentType: served.contentType, metrics: sharedScrape(() => served.metrics()) }, log,
    });
  } catch (err) {
    listener.close();
    await link.close();
    throw err;
  }
  publishTopic = server.publish;
  log.info({ gateway: id, port: server.port, ...(server.metricsPort !== undefined ? { metricsPort: server.metricsPort } : {}) }, 'gateway listening');
  return {
    id, port: server.port, metricsPort: server.metricsPort, core, link, listener, metrics,
    drain: () => core.startDrain(),
    async close() {
      server.close();
      auth.close();
      listener.close();
      await link.close();
    },
  };
}
