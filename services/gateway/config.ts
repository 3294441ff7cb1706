/**
 * Gateway configuration: every variable, its default and meaning. Validated
 * once at start-up and frozen; `--help` prints this table.
 */
import { z } from 'zod';
import { bool, csv, int, loadConfig, optionalString, v, type ConfigOf } from '../shared/config.js';
import { isLoopbackHttpUrl } from '../shared/loopback-url.js';

export const gatewaySpec = {
  host: v('LONGLINK_GATEWAY_HOST', z.string().min(1), 'Address the WebSocket listener binds to. Unset in dev mode with the built-in dev secret (no JWT key): 127.0.0.1, since anyone who can reach that gateway can mint tokens for any user; set it (e.g. 0.0.0.0) to expose a dev gateway on purpose.', '0.0.0.0'),
  port: v('LONGLINK_GATEWAY_PORT', int(0, 65535), 'WebSocket port (also serves /healthz, /readyz, and /metrics unless LONGLINK_METRICS_PORT is set). 0 picks a free port.', '8080'),
  metricsPort: v('LONGLINK_METRICS_PORT', int(0, 65535).optional(), 'A port of its own for /metrics (and /healthz, /readyz), on LONGLINK_GATEWAY_HOST; the WebSocket port then answers /metrics with 404. Set it whenever the WebSocket port is public (the Helm chart does): the scrape then never reaches the internet. Unset: /metrics on the WebSocket port. 0 picks a free port.'),
  gatewayId: v('LONGLINK_GATEWAY_ID', optionalString, 'Gateway id announced in hello and presence. Default: host name + random suffix.'),
  dev: v('LONGLINK_DEV', bool, 'Dev mode: allows the built-in, publicly known dev JWT secret. Never in production.', 'false'),
  jwtSecret: v('LONGLINK_JWT_SECRET', optionalString, 'HS256 shared secret for client JWTs (>= 32 characters).', undefined, true),
  jwtPublicKey: v('LONGLINK_JWT_PUBLIC_KEY', optionalString, 'PEM (SPKI) public key for RS256/EdDSA client JWTs.'),
  jwtJwksUrl: v('LONGLINK_JWT_JWKS_URL', z.string().url().optional(), 'JWKS URL for client JWTs (RS256/EdDSA/ES256): https://, or http:// to a loopback address; redirects are not followed.'),
  jwtAlgorithms: v('LONGLINK_JWT_ALGORITHMS', csv, 'Accepted JWT algorithms (comma-separated). Default: HS256 for a secret, RS256,EdDSA,ES256 for keys.', ''),
  jwtAudience: v('LONGLINK_JWT_AUDIENCE', optionalString, 'Required "aud" claim, if set.'),
  jwtIssuer: v('LONGLINK_JWT_ISSUER', optionalString, 'Required "iss" claim, if set.'),
  hbMinMs: v('LONGLINK_HB_MIN_MS', int(100, 3_600_000), 'Smallest heartbeat interval a client may use (ms).', '5000'),
  hbMaxMs: v('LONGLINK_HB_MAX_MS', int(100, 3_600_000), 'Largest heartbeat interval a client may use (ms); bounds every deadline.', '900000'),
  hbDefaultMs: v('LONGLINK_HB_DEFAULT_MS', int(100, 3_600_000), 'Interval suggested in hello and used until the client announces its own (ms).', '60000'),
  hbGraceMs: v('LONGLINK_HB_GRACE_MS', int(0, 600_000), 'Grace added to interval x 1.5 for the server deadline (ms).', '5000'),
  hbCheck: v('LONGLINK_HB_CHECK', bool, 'Close connections that miss their heartbeat deadline. Turn off only for debugging.', 'true'),
  hbLog: v('LONGLINK_HB_LOG', bool, 'Log every heartbeat at debug level (off: heartbeats are never logged).', 'false'),
  wheelTickMs: v('LONGLINK_WHEEL_TICK_MS', int(10, 10_000), 'Timing-wheel tick (ms): idle connections close within one tick of their deadline.', '500'),
  wheelSize: v('LONGLINK_WHEEL_SIZE', int(2, 1 << 20).refine((n) => (n & (n - 1)) === 0, 'must be a power of two'), 'Timing-wheel slots (power of two).', '2048'),
  maxPayload: v('LONGLINK_MAX_PAYLOAD', int(64, 16 * 1024 * 1024), 'Largest inbound frame (bytes); bigger closes with 1009.', '65536'),
  sendBufferBound: v('LONGLINK_SEND_BUFFER_BOUND', int(1024, 1 << 30), 'Send-buffer size (bytes) above which a connection counts as stuck.', '262144'),
  maxBackpressure: v('LONGLINK_MAX_BACKPRESSURE', int(1024, 1 << 30), 'Hard send-buffer cap (bytes): a send over it is dropped and the connection closed as a slow consumer.', '1048576'),
  writeTimeoutMs: v('LONGLINK_WRITE_TIMEOUT_MS', int(100, 600_000), 'How long the send buffer may stay over its bound before the peer counts as gone (ms).', '10000'),
  maxChannelsPerConnection: v('LONGLINK_MAX_CHANNELS_PER_CONNECTION', int(1, 10_000), 'Channels one connection may receive (token claim plus subscribe calls; the broadcast channel does not count). A token naming more is refused with 400 LL_CHANNEL_LIMIT; a subscribe past it gets an unsubscribed frame with LL_CHANNEL_LIMIT.', '64'),
  channelPageReads: v('LONGLINK_CHANNEL_PAGE_READS', int(1, 10_000), 'Channel recovery reads this gateway has in flight at most, recovering joins\' first reads and page reads together (each up to half the bus message bound, 256 KiB by default): over it a recovering connection waits its turn, round-robin by user and oldest first within a user (longlink_gateway_channel_recovery_reads_waiting).', '64'),
  channelPresenceEvents: v('LONGLINK_CHANNEL_PRESENCE_EVENTS', bool, 'Publish a join / leave event on <prefix>.chpresence.<channel> whenever a connection starts or stops receiving a channel (for backends; one bus message per join and per leave).', 'false'),
  ratePerSec: v('LONGLINK_RATE_PER_SEC', int(1, 100_000), 'Inbound frames per second per connection (token bucket refill).', '20'),
  rateBurst: v('LONGLINK_RATE_BURST', int(1, 100_000), 'Inbound token-bucket size per connection.', '60'),
  maxConnections: v('LONGLINK_MAX_CONNECTIONS', int(1, 10_000_000), 'Connections this gateway accepts; more get 503 + Retry-After.', '100000'),
  connectRate: v('LONGLINK_CONNECT_RATE', int(1, 1_000_000), 'New connections per second admitted (token bucket refill).', '2000'),
  connectBurst: v('LONGLINK_CONNECT_BURST', int(1, 1_000_000), 'Connect token-bucket size.', '4000'),
  maxStartingSessions: v('LONGLINK_MAX_STARTING_SESSIONS', int(1, 1_000_000), 'Ceiling of the adaptive limit on connections waiting for their session start (the resume round trip to a router) at once. The limit itself follows measured session-start latency (LONGLINK_SESSION_START_TARGET_MS); connects over it get 503 LL_ADMISSION_STARTING + a jittered Retry-After.', '5000'),
  sessionStartTargetMs: v('LONGLINK_SESSION_START_TARGET_MS', int(10, 60_000), 'Session-start latency (upgrade to the router\'s resume answer) the adaptive admission limit aims for (ms): slower starts shrink the limit, faster ones grow it. Keep it well below LONGLINK_RESUME_TIMEOUT_MS.', '1000'),
  resumeTimeoutMs: v('LONGLINK_RESUME_TIMEOUT_MS', int(100, 600_000), 'Longest wait for the router\'s answer to a session start (ms); the timeout in use is 4 x the measured latency, at least 3 x LONGLINK_SESSION_START_TARGET_MS, at most this. A start that times out closes with 1013 and a retry delay (overload, like a router\'s shed), not 1011.', '5000'),
  sourceConnectRate: v('LONGLINK_SOURCE_CONNECT_RATE', int(0, 1_000_000), 'Upgrade attempts per second per client address, an IPv6 client counted by its /64 (token bucket, spent before the token is verified); over it: 429 LL_ADMISSION_SOURCE_RATE. 0 turns it off (e.g. behind a proxy that hides client addresses and no LONGLINK_CLIENT_IP_HEADER).', '200'),
  sourceConnectBurst: v('LONGLINK_SOURCE_CONNECT_BURST', int(1, 1_000_000), 'Per-address token-bucket size.', '1000'),
  clientIpHeader: v('LONGLINK_CLIENT_IP_HEADER', optionalString, 'Header naming the client address, set by a trusted proxy in front of the gateways (e.g. x-forwarded-for; its last entry is used). Unset: the TCP peer address.'),
  drainWindowMs: v('LONGLINK_DRAIN_WINDOW_MS', int(0, 3_600_000), 'On SIGTERM, reconnect frames go out in paced batches over this window (ms).', '30000'),
  drainReconnectJitterMs: v('LONGLINK_DRAIN_RECONNECT_JITTER_MS', int(0, 600_000), 'Upper bound of the random delay told to each client in its reconnect frame (ms).', '5000'),
  shutdownTimeoutMs: v('LONGLINK_SHUTDOWN_TIMEOUT_MS', int(100, 3_600_000), 'Hard deadline from SIGTERM to exit (ms); must exceed the drain window.', '45000'),
  beaconIntervalMs: v('LONGLINK_BEACON_INTERVAL_MS', int(100, 600_000), 'How often the gateway announces itself to routers (ms); keep well under the routers\' LONGLINK_GATEWAY_LEASE_MS.', '5000'),
  logLevel: v('LONGLINK_LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'Log level.', 'info'),
} as const;

export type GatewayConfig = ConfigOf<typeof gatewaySpec>;

/** A dev secret everyone can read in this file: accepted only with LONGLINK_DEV=true. */
export const DEV_JWT_SECRET = 'longlink-dev-secret-DO-NOT-USE-IN-PRODUCTION-0000';

/** https, or http to this machine's loopback (nothing on the network can substitute the keys there). */
function jwksUrlSafe(url: string): boolean {
  return new URL(url).protocol === 'https:' || isLoopbackHttpUrl(url);
}

/** Cross-field rules that a per-variable schema can't express. */
export function validateGatewayConfig(c: GatewayConfig): string[] {
  const p: string[] = [];
  if (c.hbMinMs > c.hbMaxMs) p.push('LONGLINK_HB_MIN_MS must be <= LONGLINK_HB_MAX_MS');
  if (c.hbDefaultMs < c.hbMinMs || c.hbDefaultMs > c.hbMaxMs) p.push('LONGLINK_HB_DEFAULT_MS must lie within [LONGLINK_HB_MIN_MS, LONGLINK_HB_MAX_MS]');
  if (c.sendBufferBound > c.maxBackpressure) p.push('LONGLINK_SEND_BUFFER_BOUND must be <= LONGLINK_MAX_BACKPRESSURE');
  if (c.sessionStartTargetMs * 3 > c.resumeTimeoutMs) p.push('LONGLINK_SESSION_START_TARGET_MS must be at most a third of LONGLINK_RESUME_TIMEOUT_MS');
  if (c.metricsPort !== undefined && c.metricsPort !== 0 && c.metricsPort === c.port) p.push('LONGLINK_METRICS_PORT must differ from LONGLINK_GATEWAY_PORT');
  if (c.shutdownTimeoutMs <= c.drainWindowMs) p.push('LONGLINK_SHUTDOWN_TIMEOUT_MS must exceed LONGLINK_DRAIN_WINDOW_MS');
  if (c.jwtSecret !== undefined && c.jwtSecret.length < 32) p.push('LONGLINK_JWT_SECRET must be at least 32 characters');
  const keys = [c.jwtSecret, c.jwtPublicKey, c.jwtJwksUrl].filter((x) => x !== undefined).length;
  if (keys > 1) p.push('set only one of LONGLINK_JWT_SECRET, LONGLINK_JWT_PUBLIC_KEY, LONGLINK_JWT_JWKS_URL');
  if (keys === 0 && !c.dev) p.push('no JWT key: set LONGLINK_JWT_SECRET, LONGLINK_JWT_PUBLIC_KEY or LONGLINK_JWT_JWKS_URL (or LONGLINK_DEV=true for the insecure dev secret)');
  if (c.jwtJwksUrl !== undefined && !jwksUrlSafe(c.jwtJwksUrl)) {
    p.push('LONGLINK_JWT_JWKS_URL must be https:// (plain http:// only to a loopback address, e.g. a sidecar): whoever can alter the key set can forge every token');
  }
  return p;
}

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const c = loadConfig(gatewaySpec, env, validateGatewayConfig);
  // The built-in dev secret is public: a gateway that accepts it listens on loopback unless told otherwise.
  const devSecret = c.dev && c.jwtSecret === undefined && c.jwtPublicKey === undefined && c.jwtJwksUrl === undefined;
  if (devSecret && (env.LONGLINK_GATEWAY_HOST ?? '') === '') return Object.freeze({ ...c, host: DEV_HOST });
  return c;
}

/** Where a gateway on the public dev secret listens when LONGLINK_GATEWAY_HOST is unset. */
export const DEV_HOST = '127.0.0.1';

/** The start-up warning of a gateway accepting the public dev secret, saying where it listens (`host`). */
export function devModeWarning(host: string): string {
  const where = host === DEV_HOST
    ? `Listening on loopback (${DEV_HOST}) only, the default in dev mode; LONGLINK_GATEWAY_HOST (e.g. 0.0.0.0) exposes it.`
    : `Listening on ${host} (LONGLINK_GATEWAY_HOST): reachable from wherever that address is; unset it to listen on loopback only.`;
  return `DEV MODE: accepting tokens signed with the built-in dev secret. Anyone can mint them. Never expose this gateway. ${where}`;
}
