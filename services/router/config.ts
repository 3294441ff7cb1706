/**
 * Router settings: the push HTTP API, inbox bounds, presence lease. Used by
 * the router process and by standalone mode. Standalone generates (and
 * prints) an API key when LONGLINK_API_KEYS is unset; the router process
 * refuses to start without one.
 */
import { z } from 'zod';
import { bool, csv, int, loadConfig, v, type ConfigOf } from '../shared/config.js';

/** true / false as `bool`, or `await`: receipts only while some router awaits one. */
const ackReceiptsMode = z.union([z.literal('await'), bool]);

export const routerSpec = {
  apiHost: v('LONGLINK_API_HOST', z.string().min(1), 'Address the push HTTP API binds to.', '127.0.0.1'),
  apiPort: v('LONGLINK_API_PORT', int(0, 65535), 'Push HTTP API port. 0 picks a free port.', '8081'),
  apiServer: v('LONGLINK_API_SERVER', z.enum(['node', 'uws']), 'Server library carrying the push HTTP API: "uws" (uWebSockets.js, the gateway\'s server: less CPU per request; it writes "100 Continue" itself, so a refused Expect request gets its error right behind it, docs/api.md) or "node" (node:http).', 'uws'),
  apiKeys: v('LONGLINK_API_KEYS', csv, 'Comma-separated API keys accepted as "Authorization: Bearer <key>" (>= 16 chars each). Standalone generates one when unset.', '', true),
  inboxMaxLen: v('LONGLINK_INBOX_MAX_LEN', int(1, 1_000_000), 'Messages kept per user inbox (oldest dropped first).', '1000'),
  inboxTtlMs: v('LONGLINK_INBOX_TTL_MS', int(1000, 30 * 24 * 3600_000), 'How long an undelivered message is kept (ms).', String(7 * 24 * 3600_000)),
  maxPushBytes: v('LONGLINK_MAX_PUSH_BYTES', int(16, 16 * 1024 * 1024), 'Largest serialised push payload (bytes).', '65536'),
  maxUsersPerPush: v('LONGLINK_MAX_USERS_PER_PUSH', int(1, 100_000), 'Recipients allowed in one push call.', '1000'),
  maxBodyBytes: v('LONGLINK_MAX_BODY_BYTES', int(1024, 64 * 1024 * 1024), 'Largest HTTP request body (bytes).', String(1024 * 1024)),
  resumeConcurrency: v('LONGLINK_RESUME_CONCURRENCY', int(1, 100_000), 'Resume requests (session starts) served at once; the rest wait in a FIFO and are dropped once their gateway stopped waiting.', '256'),
  resumeQueue: v('LONGLINK_RESUME_QUEUE', int(0, 1_000_000), 'Resume requests allowed to wait for a slot; more are refused at once (the client backs off).', '20000'),
  maxDevicesPerUser: v('LONGLINK_MAX_DEVICES_PER_USER', int(0, 100_000), 'Most devices of one user connected at once across the cluster; a session start for one more device closes with 4011 DEVICE_LIMIT (error LL_DEVICE_LIMIT). The same device reconnecting replaces its old connection and does not count twice. 0 = no cap.', '16'),
  maxPublishBytes: v('LONGLINK_MAX_PUBLISH_BYTES', int(16, 16 * 1024 * 1024), 'Largest serialised channel message (bytes); more is refused with LL_PUBLISH_TOO_LARGE.', '65536'),
  publishRate: v('LONGLINK_PUBLISH_RATE', int(0, 10_000_000), 'Channel publishes per second per API key on this router (token bucket refill); more are refused with LL_PUBLISH_RATE. 0 = no limit.', '1000'),
  publishBurst: v('LONGLINK_PUBLISH_BURST', int(1, 10_000_000), 'Channel publish token-bucket size per API key.', '2000'),
  channelHistorySize: v('LONGLINK_CHANNEL_HISTORY_SIZE', int(1, 100_000), 'Messages kept per channel for recovery on resume (oldest dropped first).', '100'),
  channelHistoryTtlMs: v('LONGLINK_CHANNEL_HISTORY_TTL_MS', int(1000, 30 * 24 * 3600_000), 'How long a channel message stays recoverable (ms).', String(10 * 60_000)),
  channelEpochTtlMs: v('LONGLINK_CHANNEL_EPOCH_TTL_MS', int(1000, 365 * 24 * 3600_000), 'How long a channel keeps its epoch and offsets without a publish (ms); after that its offsets restart under a new epoch.', String(7 * 24 * 3600_000)),
  channelBusLayout: v('LONGLINK_CHANNEL_BUS_LAYOUT', z.enum(['record', 'frame']), 'How this router puts channel messages on the bus (docs/protocol.md §13.6). "frame": the client\'s pub frame bytes, which gateways fan out without decoding or encoding (less gateway CPU per message); only gateways that read both layouts (this release on) take it, older ones drop it (a marker byte makes it invalid JSON for them, so they never misread it). "record": the JSON record every gateway reads. Upgrade every gateway first, then switch the routers to "frame".', 'record'),
  ackReceipts: v('LONGLINK_ACK_RECEIPTS', ackReceiptsMode, 'Publish an ack receipt on <prefix>.acked for every push a device acks (needed by push "await": "acked" and by backends and webhooks that want read receipts). Costs one extra inbox read and one bus message per acked push. "await": only while some router awaits one (push "await": "acked"), for backends that take no receipts. Set the same on every router.', 'true'),
  leaseMs: v('LONGLINK_GATEWAY_LEASE_MS', int(1000, 600_000), 'A gateway whose beacons stop for this long is dead: its presence stops routing.', '15000'),
} as const;

export type RouterSettings = ConfigOf<typeof routerSpec>;

export function loadRouterSettings(env: NodeJS.ProcessEnv = process.env): RouterSettings {
  return loadConfig(routerSpec, env, (c) => (c.apiKeys.some((k) => k.length < 16) ? ['LONGLINK_API_KEYS: every key must be at least 16 characters'] : []));
}

/**
 * The router process's own variables (router/main.ts). The deadline has the gateway's bound: past 2^31 - 1 ms
 * setTimeout fires at once, so a larger value exited at SIGTERM without shutting down.
 */
export const routerProcessSpec = {
  logLevel: v('LONGLINK_LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'Log level.', 'info'),
  shutdownTimeoutMs: v('LONGLINK_SHUTDOWN_TIMEOUT_MS', int(100, 3_600_000), 'Hard deadline from SIGTERM to exit (ms).', '15000'),
} as const;
