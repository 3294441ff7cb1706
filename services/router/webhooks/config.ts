/**
 * Webhook settings (docs/webhooks.md): endpoints as JSON in
 * LONGLINK_WEBHOOKS (secret: it holds the signing secrets), delivery and
 * retry limits in their own variables. Validated once at start with every
 * problem named, then frozen; rotating a secret is a config change (list the
 * new secret first and keep the old one until receivers have switched).
 */
import { z } from 'zod';
import { int, loadConfig, v, type ConfigOf } from '../../shared/config.js';
import { isLoopbackHttpUrl } from '../../shared/loopback-url.js';
import { decodeSecret } from './core/signer.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEndpoint, type WebhookEventType, type WebhookSettings } from './core/types.js';

const endpointSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, '1-32 characters of A-Z a-z 0-9 _ -'),
  url: z.string().max(2048)
    .refine((u) => { try { return ['http:', 'https:'].includes(new URL(u).protocol); } catch { return false; } }, 'an http:// or https:// URL')
    // The poster sends only origin, path and query: credentials in the URL would silently never reach the receiver.
    .refine((u) => { try { const x = new URL(u); return x.username === '' && x.password === ''; } catch { return true; } }, 'no user:password in the URL (it is never sent; receivers check the webhook signature)'),
  events: z.array(z.string()).min(1).max(32),
  secrets: z.array(z.string()).min(1).max(4),
}).strict();

const endpointsSchema = z.string().transform((s, ctx) => {
  if (s.trim() === '') return [];
  try {
    return JSON.parse(s) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not valid JSON (an array of endpoints)' });
    return z.NEVER;
  }
}).pipe(z.array(endpointSchema).max(16));

export const webhookSpec = {
  endpoints: v('LONGLINK_WEBHOOKS', endpointsSchema, 'Webhook endpoints, JSON: [{"name":"backend","url":"https://…","events":["push.offline","connection.*"],"secrets":["whsec_…"]}]. Events: ' + WEBHOOK_EVENT_TYPES.join(', ') + ', a prefix with ".*", or "*". Several secrets: every delivery is signed with each (rotation). Empty: webhooks off. Cluster mode needs JetStream on the NATS servers.', '', true),
  timeoutMs: v('LONGLINK_WEBHOOK_TIMEOUT_MS', int(100, 120_000), 'One delivery attempt\'s time limit (ms); slower counts as a failure.', '10000'),
  retryBaseMs: v('LONGLINK_WEBHOOK_RETRY_BASE_MS', int(10, 3_600_000), 'Retry delay after the first failure (ms); doubles per attempt, with jitter.', '2000'),
  retryMaxMs: v('LONGLINK_WEBHOOK_RETRY_MAX_MS', int(10, 24 * 3_600_000), 'Longest retry delay (ms).', '3600000'),
  horizonMs: v('LONGLINK_WEBHOOK_HORIZON_MS', int(1000, 30 * 24 * 3_600_000), 'An event undelivered this long after it happened is dead-lettered (ms).', String(24 * 3_600_000)),
  concurrency: v('LONGLINK_WEBHOOK_CONCURRENCY', int(1, 1024), 'Delivery attempts in flight at once per endpoint, per router.', '32'),
  inlineMaxBytes: v('LONGLINK_WEBHOOK_INLINE_MAX_BYTES', int(0, 1024 * 1024), 'push.offline carries the payload up to this size (bytes); larger ones carry too_large and how to fetch it.', '4096'),
  deadTtlMs: v('LONGLINK_WEBHOOK_DEAD_TTL_MS', int(60_000, 90 * 24 * 3_600_000), 'How long dead letters are kept for replay (ms).', String(7 * 24 * 3_600_000)),
  queueLayout: v('LONGLINK_WEBHOOK_QUEUE_LAYOUT', z.enum(['batch', 'single']), 'How events are written to the JetStream queue: "batch" (several per message; routers of releases before it cannot read it and drop such messages) or "single" (one per message, the JSON layout every release reads). Routers read both. Set "single" on every router for a rolling update from an earlier release, then "batch" (docs/webhooks.md).', 'batch'),
  upstreamMaxInFlight: v('LONGLINK_WEBHOOK_UPSTREAM_MAX_IN_FLIGHT', int(1, 100_000), 'Upstream requests (a client send with reply: true, answered by the upstream.message receiver) in flight at once per router; more are refused with LL_UPSTREAM_OVERLOADED. Keep it below the 256 sockets a router opens per receiver origin, so other users (and, in standalone mode, queued deliveries, which share that pool) still get through.', '128'),
  upstreamMaxPerUser: v('LONGLINK_WEBHOOK_UPSTREAM_MAX_PER_USER', int(1, 100_000), 'Upstream requests in flight at once per user, per router (all the user\'s connections together); more are refused with LL_UPSTREAM_OVERLOADED.', '32'),
  memoryMaxJobs: v('LONGLINK_WEBHOOK_MEMORY_MAX_JOBS', int(1, 10_000_000), 'Standalone mode\'s in-memory queue: events it holds at most (waiting, in flight or waiting for a retry, all endpoints); past it new events are dropped and counted. Dead letters have the same bound of their own (oldest dropped first). Cluster mode is bounded by the JetStream stream instead.', '100000'),
  memoryMaxBytes: v('LONGLINK_WEBHOOK_MEMORY_MAX_BYTES', int(1024, 16 * 1024 ** 3), 'Standalone mode\'s in-memory queue: body bytes it holds at most (as LONGLINK_WEBHOOK_MEMORY_MAX_JOBS); dead letters have the same bound of their own.', String(64 * 1024 ** 2)),
  userMaxJobs: v('LONGLINK_WEBHOOK_USER_MAX_JOBS', int(1, 10_000_000), 'Per-user share of the webhook queue: events about one user (its connections, pushes, acks, upstream messages) held in the queue at once, waiting, in flight or waiting for a retry, all endpoints; past it that user\'s new events are dropped and counted (reason user_share) while other users\' still enqueue. Retries and replays are never refused. Cluster mode: one share across the routers (docs/webhook-share.md). Dead letters have a share of their own with the same numbers. A share at or above the queue\'s bound (standalone: LONGLINK_WEBHOOK_MEMORY_MAX_JOBS) means none.', '10000'),
  userMaxBytes: v('LONGLINK_WEBHOOK_USER_MAX_BYTES', int(1024, 1024 ** 3), 'Per-user share of the webhook queue in body bytes (as LONGLINK_WEBHOOK_USER_MAX_JOBS).', String(8 * 1024 ** 2)),
  outbox: v('LONGLINK_WEBHOOK_OUTBOX', int(1, 10_000_000), 'Events waiting for the queue to accept them; beyond this new events are dropped and counted (the push path never waits on the queue).', '100000'),
} as const;

type RawWebhookConfig = ConfigOf<typeof webhookSpec>;

/** Resolves an endpoint's event patterns; problems are pushed to `problems`. */
function eventsOf(patterns: readonly string[], where: string, problems: string[]): Set<WebhookEventType> {
  const out = new Set<WebhookEventType>();
  for (const p of patterns) {
    const hit = p === '*' ? [...WEBHOOK_EVENT_TYPES] : p.endsWith('.*') ? WEBHOOK_EVENT_TYPES.filter((t) => t.startsWith(p.slice(0, -1))) : WEBHOOK_EVENT_TYPES.filter((t) => t === p);
    if (hit.length === 0) problems.push(`${where}: unknown event "${p.slice(0, 64)}" (known: ${WEBHOOK_EVENT_TYPES.join(', ')}, "prefix.*", "*")`);
    for (const t of hit) out.add(t);
  }
  return out;
}

/** Validates the webhook variables; throws ConfigError naming every problem (never a secret's value). */
export function loadWebhookSettings(env: NodeJS.ProcessEnv = process.env): WebhookSettings {
  let endpoints: WebhookEndpoint[] = [];
  const raw: RawWebhookConfig = loadConfig(webhookSpec, env, (c) => {
    const problems: string[] = [];
    const names = new Set<string>();
    endpoints = c.endpoints.map((e, i) => {
      const where = `LONGLINK_WEBHOOKS[${i}] (${e.name})`;
      if (names.has(e.name)) problems.push(`${where}: duplicate name`);
      names.add(e.name);
      const secrets = e.secrets.flatMap((s, j) => {
        try { return [decodeSecret(s)]; } catch (err) { problems.push(`${where}.secrets[${j}]: ${(err as Error).message}`); return []; }
      });
      return Object.freeze({ name: e.name, url: e.url, events: eventsOf(e.events, where, problems), secrets: Object.freeze(secrets) });
    });
    if (c.upstreamMaxPerUser > c.upstreamMaxInFlight) problems.push('LONGLINK_WEBHOOK_UPSTREAM_MAX_PER_USER: must be <= LONGLINK_WEBHOOK_UPSTREAM_MAX_IN_FLIGHT');
    if (c.retryMaxMs < c.retryBaseMs) problems.push('LONGLINK_WEBHOOK_RETRY_MAX_MS: must be >= LONGLINK_WEBHOOK_RETRY_BASE_MS');
    return problems;
  });
  const { endpoints: _raw, ...rest } = raw;
  return Object.freeze({ ...rest, endpoints: Object.freeze(endpoints) });
}

/**
 * Endpoints reached over plain http:// beyond this machine. Allowed (receivers
 * inside a cluster network often have no TLS), but said at start: their
 * events travel readable, and for upstream.message the response body answers
 * clients' requests, so anyone on the path can forge those answers.
 */
export function plainHttpEndpoints(settings: WebhookSettings): { name: string; upstream: boolean }[] {
  return settings.endpoints
    .filter((e) => new URL(e.url).protocol === 'http:' && !isLoopbackHttpUrl(e.url))
    .map((e) => ({ name: e.name, upstream: e.events.has('upstream.message') }));
}
