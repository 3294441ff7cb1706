/**
 * The systems `bench:push` drives, each as real processes: a cluster (1
 * router, 2 gateways, nats-server, redis-server; tests/helpers/cluster.ts) or
 * standalone (`dist/services/standalone/main.js`, one process), built from
 * this checkout or from an older commit, so old and new code are measured in
 * the same run on the same machine.
 *
 * The older build lives in `<tmpdir>/longlink-baseline-<commit>`: extracted
 * with `git archive`, its own `npm ci` (its lock file) and `tsc`, once; later
 * runs reuse it.
 */
import { execFileSync, execSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster } from '../../infra/local/cluster-harness.js';
import { spawnNode, type Spawned } from '../../infra/local/process.js';
import { STANDALONE_NODE_FLAGS } from '../../services/standalone/node-flags.js';

const LOOP_URL = /loop-monitor:\s+(http:\/\/\S+)/;
/** The loop monitor's URL if the process prints one (it does at once when preloaded; `preloaded` says whether to wait). */
async function loopUrlOf(p: Spawned, preloaded: boolean): Promise<string | undefined> {
  return preloaded ? (await p.waitFor(LOOP_URL, 30_000))[1] : undefined;
}

export interface BenchSystem {
  /** e.g. "cluster new", "standalone old". */
  readonly label: string;
  readonly kind: 'cluster' | 'standalone';
  readonly apiUrl: string;
  readonly apiKey: string;
  readonly secret: string;
  /** Gateway WebSocket URLs; clients spread over them. */
  readonly wsUrls: string[];
  /** The loop-monitor.ts side server of the process handling pushes (router or standalone), when preloaded. */
  readonly loopUrl: string | undefined;
  /** pids per CPU-accounting group, read at each snapshot (processes may be restarted). */
  groups(): Record<string, Array<number | undefined>>;
  /** SIGTERM everything (so `--cpu-prof` profiles are written), SIGKILL what lingers. */
  stop(): Promise<void>;
  /** SIGKILL everything, synchronously (process exit). */
  kill(): void;
}

/** Settings the bench gives every gateway: no connect throttling, short beacons. */
export const GATEWAY_ENV = {
  LONGLINK_CONNECT_RATE: '100000', LONGLINK_CONNECT_BURST: '100000', LONGLINK_MAX_CONNECTIONS: '200000', LONGLINK_SOURCE_CONNECT_RATE: '0',
  LONGLINK_BEACON_INTERVAL_MS: '500', LONGLINK_WHEEL_TICK_MS: '100', LONGLINK_HB_MIN_MS: '200',
  LONGLINK_DRAIN_WINDOW_MS: '500', LONGLINK_SHUTDOWN_TIMEOUT_MS: '5000',
};

/** Builds `commit` of the repository in `repo` once and returns the directory holding its `dist/`. */
export function ensureBaseline(repo: string, commit: string, log: (s: string) => void): string {
  const sha = execFileSync('git', ['-C', repo, 'rev-parse', '--short=12', commit], { encoding: 'utf8' }).trim();
  const dir = path.join(os.tmpdir(), `longlink-baseline-${sha}`);
  const done = path.join(dir, '.built');
  if (existsSync(done)) return dir;
  log(`building baseline ${sha} in ${dir} (once: git archive, npm ci, tsc)…`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execSync(`git -C ${JSON.stringify(repo)} archive ${sha} | tar -x -C ${JSON.stringify(dir)}`, { stdio: 'inherit' });
  execSync('npm ci --no-audit --no-fund --prefer-offline --ignore-scripts', { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  execSync('npx tsc -p tsconfig.json', { cwd: dir, stdio: 'inherit' });
  execSync(`touch ${JSON.stringify(done)}`);
  return dir;
}

export interface StartOptions {
  label: string;
  /** Directory holding `dist/` ('' = this checkout). */
  root: string;
  /** Node options per Longlink process role (e.g. --cpu-prof). */
  nodeArgs?: (role: 'router' | 'gateway' | 'standalone') => string[];
}

export async function startClusterSystem(o: StartOptions): Promise<BenchSystem> {
  const c = await startCluster({ gateways: 2, routers: 1, root: o.root, gatewayEnv: GATEWAY_ENV, ...(o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}) });
  const procs = (): Spawned[] => [...c.routers.map((r) => r.proc), ...c.gateways.map((g) => g.proc)];
  const loopUrl = await loopUrlOf(c.routers[0]!.proc, o.nodeArgs?.('router').some((a) => a.includes('loop-monitor')) ?? false);
  return {
    label: o.label, kind: 'cluster', apiUrl: c.apiUrl, apiKey: CLUSTER_API_KEY, secret: CLUSTER_SECRET, wsUrls: c.gateways.map((g) => g.url), loopUrl,
    groups: () => ({
      router: c.routers.map((r) => r.proc.child.pid), gateways: c.gateways.map((g) => g.proc.child.pid),
      nats: [c.nats.pid(0)], redis: [c.redis.pid],
    }),
    stop: async () => {
      // Router first: gateways then drain without new deliveries.
      for (const p of procs()) p.kill('SIGTERM');
      await Promise.all(procs().map((p) => p.exited(15_000).catch(() => p.kill('SIGKILL'))));
      await c.stop();
    },
    kill: () => { for (const p of procs()) p.kill('SIGKILL'); },
  };
}

export async function startStandaloneSystem(o: StartOptions): Promise<BenchSystem> {
  const proc = spawnNode(path.join(o.root, 'dist/services/standalone/main.js'), {
    ...GATEWAY_ENV,
    LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_HOST: '127.0.0.1', LONGLINK_API_PORT: '0',
    LONGLINK_JWT_SECRET: CLUSTER_SECRET, LONGLINK_API_KEYS: CLUSTER_API_KEY, LONGLINK_LOG_LEVEL: 'warn',
  }, [], undefined, [...STANDALONE_NODE_FLAGS, ...(o.nodeArgs?.('standalone') ?? [])]);
  const ws = await proc.waitFor(/WebSocket:\s+(ws:\/\/\S+)/, 30_000);
  const api = await proc.waitFor(/Push API:\s+(http:\/\/\S+)\/v1\/push/, 30_000);
  const loopUrl = await loopUrlOf(proc, o.nodeArgs?.('standalone').some((a) => a.includes('loop-monitor')) ?? false);
  return {
    label: o.label, kind: 'standalone', apiUrl: api[1]!, apiKey: CLUSTER_API_KEY, secret: CLUSTER_SECRET, wsUrls: [ws[1]!], loopUrl,
    groups: () => ({ standalone: [proc.child.pid] }),
    stop: async () => {
      proc.kill('SIGTERM');
      await proc.exited(15_000).catch(() => proc.kill('SIGKILL'));
    },
    kill: () => proc.kill('SIGKILL'),
  };
}
