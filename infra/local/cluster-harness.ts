/**
 * A real local cluster for integration tests: nats-server (1 or 3 nodes) and
 * redis-server spawned on free ports, router and gateway processes started
 * from dist/, and a TCP balancer in front of the gateways (what a Kubernetes
 * Service does). Every piece can be killed and restarted by the test.
 */
import path from 'node:path';
import { mintToken } from '../../services/standalone/dev-token.js';
import { apiCall } from './api-call.js';
import { startTcpBalancer, type TcpBalancer } from './tcp-balancer.js';
import { startNatsCluster, startNatsServer, type NatsHarness } from './nats.js';
import { startRedis, type RedisHarness } from './redis.js';
import { spawnNode, type Spawned } from './process.js';

export const CLUSTER_SECRET = 'cluster-secret-0123456789-0123456789-abcd';
export const CLUSTER_API_KEY = 'cluster-api-key-0123456789';

export interface ClusterOptions {
  /** 'test' (default): fast beacons, short leases and heartbeats for quick tests. 'dev': the services' own defaults. */
  profile?: 'test' | 'dev';
  gateways?: number;
  routers?: number;
  natsNodes?: 1 | 3;
  redisAof?: boolean;
  /** Enable JetStream on the NATS servers (the webhook queue needs it). */
  jetstream?: boolean;
  /** Extra env for every gateway / router process. */
  gatewayEnv?: Record<string, string>;
  routerEnv?: Record<string, string>;
  /** Directory holding the build (`dist/`) to run; default: the current directory. Benchmarks point it at an older build. */
  root?: string;
  /** Node options per process role, before the script (e.g. --cpu-prof). */
  nodeArgs?: (role: 'router' | 'gateway') => string[];
}

export interface GatewayProc {
  readonly id: string;
  readonly port: number;
  readonly url: string;
  readonly httpUrl: string;
  readonly proc: Spawned;
}

export interface RouterProc {
  readonly apiUrl: string;
  readonly proc: Spawned;
}

export class Cluster {
  readonly gateways: GatewayProc[] = [];
  readonly routers: RouterProc[] = [];
  private nextGateway = 0;

  constructor(readonly nats: NatsHarness, readonly redis: RedisHarness, readonly lb: TcpBalancer, private readonly o: ClusterOptions) {}

  /** Clients connect here: the balancer in front of the live gateways. */
  get url(): string { return `ws://127.0.0.1:${this.lb.port}/ws`; }
  get apiUrl(): string { return this.routers[0]!.apiUrl; }

  token(user: string, device?: string): Promise<string> {
    return mintToken(CLUSTER_SECRET, user, { ttlSeconds: 3600, ...(device !== undefined ? { device } : {}) });
  }

  async startGateway(): Promise<GatewayProc> {
    const id = `gw${this.nextGateway++}`;
    const proc = spawnNode(path.join(this.o.root ?? '', 'dist/services/gateway/main.js'), {
      LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_GATEWAY_ID: id,
      LONGLINK_NATS_URLS: this.nats.urls.join(','), LONGLINK_JWT_SECRET: CLUSTER_SECRET,
      LONGLINK_LOG_LEVEL: 'warn',
      ...(this.o.profile === 'dev' ? {} : {
        LONGLINK_BEACON_INTERVAL_MS: '500', LONGLINK_WHEEL_TICK_MS: '100',
        LONGLINK_HB_MIN_MS: '200', LONGLINK_CONNECT_RATE: '10000', LONGLINK_CONNECT_BURST: '10000', LONGLINK_SOURCE_CONNECT_RATE: '0',
        LONGLINK_DRAIN_WINDOW_MS: '1000', LONGLINK_SHUTDOWN_TIMEOUT_MS: '5000',
      }),
      ...this.o.gatewayEnv,
    }, [], undefined, this.o.nodeArgs?.('gateway'));
    const m = await proc.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)\/ws/, 20_000);
    const port = Number(m[1]);
    const g: GatewayProc = { id, port, url: `ws://127.0.0.1:${port}/ws`, httpUrl: `http://127.0.0.1:${port}`, proc };
    this.gateways.push(g);
    this.syncBalancer();
    return g;
  }

  /** `env`: extra variables for this router only (e.g. one router with webhooks, one without). */
  async startRouter(env: Record<string, string> = {}): Promise<RouterProc> {
    const proc = spawnNode(path.join(this.o.root ?? '', 'dist/services/router/main.js'), {
      LONGLINK_API_HOST: '127.0.0.1', LONGLINK_API_PORT: '0', LONGLINK_API_KEYS: CLUSTER_API_KEY,
      LONGLINK_NATS_URLS: this.nats.urls.join(','), LONGLINK_REDIS_URL: this.redis.url,
      LONGLINK_LOG_LEVEL: 'warn',
      ...(this.o.profile === 'dev' ? {} : { LONGLINK_GATEWAY_LEASE_MS: '2000' }),
      ...this.o.routerEnv,
      ...env,
    }, [], undefined, this.o.nodeArgs?.('router'));
    const m = await proc.waitFor(/router listening on (http:\/\/\S+) /, 20_000);
    const r: RouterProc = { apiUrl: m[1]!, proc };
    this.routers.push(r);
    return r;
  }

  /** SIGKILL a gateway (no drain) and take it out of the balancer. */
  async killGateway(i: number): Promise<void> {
    const g = this.gateways[i]!;
    g.proc.kill('SIGKILL');
    await g.proc.exited(10_000);
    this.syncBalancer();
  }

  liveGateways(): GatewayProc[] {
    return this.gateways.filter((g) => g.proc.child.exitCode === null && g.proc.child.signalCode === null);
  }

  private syncBalancer(): void {
    this.lb.setBackends(this.liveGateways().map((g) => ({ host: '127.0.0.1', port: g.port })));
  }

  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    return apiCall(this.apiUrl, CLUSTER_API_KEY, method, path, body);
  }

  push(users: string[], data: unknown): Promise<{ status: number; body: unknown }> {
    return this.api('POST', '/v1/push', { users, data });
  }

  /** Graceful: SIGTERM (gateways drain), then stop NATS and Redis. */
  async shutdown(): Promise<void> {
    for (const p of [...this.gateways.map((g) => g.proc), ...this.routers.map((r) => r.proc)]) p.kill('SIGTERM');
    await Promise.all([...this.gateways.map((g) => g.proc), ...this.routers.map((r) => r.proc)].map((p) => p.exited(60_000).catch(() => p.kill('SIGKILL'))));
    await this.stop();
  }

  async stop(): Promise<void> {
    for (const g of this.gateways) g.proc.kill('SIGKILL');
    for (const r of this.routers) r.proc.kill('SIGKILL');
    await this.lb.close();
    await this.nats.stop();
    await this.redis.cleanup();
  }
}

export async function startCluster(o: ClusterOptions = {}): Promise<Cluster> {
  const js = o.jetstream === true ? { jetstream: true } : {};
  const nats = o.natsNodes === 3 ? await startNatsCluster(3, js) : await startNatsServer(js);
  const redis = await startRedis({ aof: o.redisAof ?? false });
  const lb = await startTcpBalancer([]);
  const c = new Cluster(nats, redis, lb, o);
  try {
    for (let i = 0; i < (o.routers ?? 1); i++) await c.startRouter();
    for (let i = 0; i < (o.gateways ?? 2); i++) await c.startGateway();
  } catch (err) {
    await c.stop();
    throw err;
  }
  return c;
}
