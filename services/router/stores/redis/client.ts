/**
 * The router's Redis client, configured to fail fast.
 *
 * The HTTP API answers 503 when the store is unavailable (router-core maps
 * any store rejection to LL_STORE_UNAVAILABLE), which only works if a call
 * rejects promptly instead of waiting for Redis to come back. ioredis'
 * defaults do the opposite (queue while offline, retry 20 times), so:
 *
 *  - `enableOfflineQueue: false`: a call made while disconnected (or while
 *    the server is still loading its AOF after a restart: the ready check
 *    holds the client in "connect" until `loading:0`) rejects at once;
 *  - `maxRetriesPerRequest: 0` + `autoResendUnfulfilledCommands: false`: a
 *    command in flight when the connection drops rejects at once and is never
 *    re-sent after reconnecting. The stores' scripts are not idempotent
 *    (append assigns a seq), so a silent replay could store a push twice; the
 *    caller gets an error with an unknown outcome instead and retries with an
 *    idempotency key;
 *  - `commandTimeout`: a server that keeps the socket open but never answers
 *    (hung, SIGSTOPped, network black hole) rejects after this long;
 *  - `retryStrategy`: reconnect forever with capped backoff, so the same
 *    client recovers by itself when Redis returns;
 *  - `connectTimeout`: a connect attempt to an unreachable host gives up
 *    quickly and the next retry begins.
 *
 * Scripts: ioredis' `defineCommand` sends EVAL the first time a script runs
 * on a socket and EVALSHA afterwards, so a restarted server (empty script
 * cache) costs no NOSCRIPT round trip and commands keep their order.
 *
 * Server requirements: `maxmemory-policy noeviction` (or a volatile-* policy:
 * the seq counters have no TTL and must never be evicted, or seqs would be
 * reused), and `appendonly yes` with `appendfsync always` where an
 * acknowledged push must survive a crash (everysec may lose the last second).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

export interface CreateRedisOptions {
  /** redis://[user:password@]host:port[/db] for a standalone server. */
  url?: string;
  /** Seed nodes ("redis://host:port") of a Redis Cluster; takes precedence over `url`. */
  nodes?: string[];
  /** Per-command deadline (ms). Default 1000. */
  commandTimeoutMs?: number;
  /** Per-connect-attempt deadline (ms). Default 1000. */
  connectTimeoutMs?: number;
  /** Reconnect backoff cap (ms). Default 1000. */
  maxReconnectDelayMs?: number;
  /** How long createRedis waits for the first "ready" before giving up (ms). Default 10 000. */
  readyTimeoutMs?: number;
  /** CLIENT SETNAME, visible in CLIENT LIST. Default "longlink-router". */
  name?: string;
}

export const REDIS_DEFAULTS = Object.freeze({
  commandTimeoutMs: 1000,
  connectTimeoutMs: 1000,
  maxReconnectDelayMs: 1000,
  readyTimeoutMs: 10_000,
  name: 'longlink-router',
});

/** Exponential backoff from 50 ms, capped, with ±20 % jitter so routers do not reconnect in lockstep. */
function backoff(cap: number): (attempt: number) => number {
  return (attempt) => Math.round(Math.min(cap, 50 * 2 ** Math.min(attempt, 16)) * (0.8 + Math.random() * 0.4));
}

/** The ioredis options for one connection (also each cluster node's). */
export function failFastOptions(o: CreateRedisOptions = {}): RedisOptions {
  const c = { ...REDIS_DEFAULTS, ...o };
  return {
    enableOfflineQueue: false,
    // Commands issued in the same tick go out in one write (order preserved): a push
    // runs several scripts, and one write per command was the router's top CPU cost.
    enableAutoPipelining: true,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: c.commandTimeoutMs,
    connectTimeout: c.connectTimeoutMs,
    retryStrategy: backoff(c.maxReconnectDelayMs),
    enableReadyCheck: true,
    connectionName: c.name,
    keepAlive: 10_000,
  };
}

function clusterOptions(o: CreateRedisOptions, first: URL | undefined): ClusterOptions {
  const c = { ...REDIS_DEFAULTS, ...o };
  // Cluster refuses a few per-node options (it manages them itself); pass the rest per node.
  const { enableOfflineQueue: _q, retryStrategy: _r, ...node } = failFastOptions(o);
  return {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    enableReadyCheck: true,
    clusterRetryStrategy: backoff(c.maxReconnectDelayMs),
    // Redirections during a failover are retried briefly; commandTimeout still bounds the whole call.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    redisOptions: {
      ...node,
      ...(first?.username ? { username: decodeURIComponent(first.username) } : {}),
      ...(first?.password ? { password: decodeURIComponent(first.password) } : {}),
    },
  };
}

function waitReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastErr: unknown;
    const onError = (err: unknown): void => { lastErr = err; };
    const onReady = (): void => { done(); resolve(); };
    const timer = setTimeout(() => {
      done();
      client.disconnect();
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      reject(new Error(`redis not ready after ${timeoutMs} ms${why}`));
    }, timeoutMs);
    const done = (): void => { clearTimeout(timer); client.off('ready', onReady); client.off('error', onError); };
    client.on('ready', onReady);
    client.on('error', onError);
  });
}

/**
 * Connects with the fail-fast settings above and resolves once the client is
 * ready (commands made before that would be refused). The caller owns the
 * client: stores built on it never quit it, so several stores share it.
 *
 * Order: a standalone client has two connections, this one and its lean
 * connection for the hot scripts (lean-pipe.ts). Calls that take the same
 * route are applied in call order: the plain calls on this connection, and
 * the hot scripts (every inbox call, the resume read, the push store's
 * append) through LeanPipe.route, whose switches between the two keep call
 * order. Calls on different routes have no order between them. The one
 * place that mixes routes is presence.lookupWith: its mark (ioredis) and
 * the push store's append-and-read (lean) may be applied in either order,
 * which is safe (see lookupWith). An 'error' listener
 * is attached so reconnect errors are not unhandled events; log them with
 * your own listener.
 */
export async function createRedis(o: CreateRedisOptions = {}): Promise<RedisClient> {
  const c = { ...REDIS_DEFAULTS, ...o };
  let client: RedisClient;
  if (o.nodes && o.nodes.length > 0) {
    const urls = o.nodes.map((n) => new URL(n));
    client = new Cluster(urls.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })), clusterOptions(o, urls[0]));
  } else if (o.url !== undefined) {
    client = new Redis(o.url, failFastOptions(o));
  } else {
    throw new RangeError('createRedis: give `url` (standalone) or `nodes` (cluster)');
  }
  client.on('error', () => { /* reconnects by itself; see the doc comment */ });
  await waitReady(client, c.readyTimeoutMs);
  return client;
}
