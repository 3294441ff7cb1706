/**
 * `npm run bench:memory`: RSS per connection and CPU per heartbeat of one
 * Longlink gateway process (cluster mode; router, NATS and Redis in their own
 * processes) holding N authenticated, heartbeating connections opened by
 * worker processes from several loopback source addresses. Also measured in
 * the same run: the standalone process (gateway + in-memory router, so it
 * also holds presence and sessions), and the same clients against a bare uWS
 * server and a `ws` server (baseline-servers.ts) for the ratios.
 *
 * Flags: --connections N (15000) --workers W (3) --interval MS (5000)
 *        --window MS (10000) --only longlink|standalone|uws|ws
 * Last line of output: one JSON object.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { benchArgs } from '../lib/cli-args.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMicros, rssBytes } from './proc-stats.js';
import { spawnNode } from '../../infra/local/process.js';
import { STANDALONE_NODE_FLAGS } from '../../services/standalone/node-flags.js';
import { clusterProcs, killOnExit } from '../lib/kill-on-exit.js';
import { CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { nextMessage } from '../lib/worker-ipc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const { values } = benchArgs('bench:memory', { options: {
  connections: { type: 'string', default: '15000' }, workers: { type: 'string', default: '3' },
  interval: { type: 'string', default: '5000' }, window: { type: 'string', default: '10000' }, only: { type: 'string' },
} });
const N = Number(values.connections), W = Number(values.workers), INTERVAL = Number(values.interval), WINDOW = Number(values.window);
const SECRET = 'bench-secret-0123456789-0123456789-0123456789';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface WorkerStats { open: number; acks: number; sent: number; closedUnexpectedly: number; failed: number }
interface Result { server: string; connections: number; rss_bytes_per_conn: number; rss_avg_bytes_per_conn: number; heap_bytes_per_conn?: number; cpu_us_per_heartbeat: number; heartbeats_per_s: number; rss_idle_mb: number; rss_loaded_mb: number; unexpected_closes: number; failed: number }

/** Heap in use, from the gateway's own /metrics (prom-client default metrics). */
async function heapUsed(base: string): Promise<number | undefined> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

function ask(w: ChildProcess, cmd: string): Promise<WorkerStats> {
  return new Promise((resolve) => {
    const on = (m: { type: string } & WorkerStats): void => { if (m.type === 'stats') { w.off('message', on); resolve(m); } };
    w.on('message', on);
    w.send({ cmd });
  });
}

type Server = 'longlink' | 'standalone' | 'uws' | 'ws';

// The current phase's processes, killed if the bench ends early (the cluster's NATS and Redis guard themselves).
const live: { cluster?: Cluster; child?: ChildProcess; workers: ChildProcess[] } = { workers: [] };
killOnExit(() => [...live.workers, live.child, ...clusterProcs(live.cluster)], { exitOnSignal: true });

async function phase(server: Server): Promise<Result> {
  let child: ChildProcess;
  let url: string;
  let cluster: Cluster | undefined;
  if (server === 'longlink') {
    // The gateway process alone (cluster mode): router, NATS and Redis run in their own processes.
    cluster = await startCluster({ gateways: 1, gatewayEnv: {
      LONGLINK_MAX_CONNECTIONS: '100000', LONGLINK_CONNECT_RATE: '100000', LONGLINK_CONNECT_BURST: '100000', LONGLINK_SOURCE_CONNECT_RATE: '0',
      LONGLINK_HB_MIN_MS: '1000', LONGLINK_WHEEL_TICK_MS: '500', LONGLINK_BEACON_INTERVAL_MS: '5000',
    }, routerEnv: { LONGLINK_GATEWAY_LEASE_MS: '15000' } });
    live.cluster = cluster;
    child = cluster.gateways[0]!.proc.child;
    url = cluster.gateways[0]!.url;
  } else if (server === 'standalone') {
    const p = spawnNode(path.join(root, 'dist/services/standalone/main.js'), {
      LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_PORT: '0', LONGLINK_JWT_SECRET: SECRET,
      LONGLINK_API_KEYS: 'bench-api-key-0123456789', LONGLINK_LOG_LEVEL: 'warn', LONGLINK_MAX_CONNECTIONS: '100000',
      LONGLINK_CONNECT_RATE: '100000', LONGLINK_CONNECT_BURST: '100000', LONGLINK_SOURCE_CONNECT_RATE: '0', LONGLINK_HB_MIN_MS: '1000',
    }, [], undefined, [...STANDALONE_NODE_FLAGS]);
    child = live.child = p.child;
    url = (await p.waitFor(/WebSocket:\s+(ws:\/\/\S+)/, 20_000))[1]!;
  } else {
    const p = spawnNode(path.join(here, 'baseline-servers.js'), {}, [server, String(INTERVAL)]);
    child = live.child = p.child;
    url = `ws://127.0.0.1:${(await p.waitFor(/PORT (\d+)/, 20_000))[1]}/ws`;
  }
  const pid = child.pid!;
  const httpBase = server === 'longlink' || server === 'standalone' ? url.replace('ws://', 'http://').replace(/\/ws$/, '') : undefined;
  await sleep(1500);
  const rss0 = rssBytes(pid);
  const workers: ChildProcess[] = (live.workers = []);
  const per = Math.ceil(N / W);
  const stage: Array<Promise<void>> = [];
  const ready: Array<Promise<void>> = [];
  for (let i = 0; i < W; i++) {
    const count = Math.min(per, N - i * per);
    const w = fork(path.join(here, 'heartbeat-worker.js'), [JSON.stringify({
      url, count, firstStage: Math.floor(count / 3), localAddress: `127.0.0.${2 + i}`, intervalMs: INTERVAL, prefix: `w${i}`, concurrency: 50,
      ...(server === 'standalone' ? { secret: SECRET } : server === 'longlink' ? { secret: CLUSTER_SECRET } : {}),
    })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    workers.push(w);
    stage.push(nextMessage(w, 'stage').then(() => undefined));
    ready.push(nextMessage(w, 'ready').then(() => undefined));
  }
  // Marginal memory: RSS at a third of the connections and at all of them, after the same settle time.
  // The slope excludes fixed costs such as the V8 young generation growing under load.
  await Promise.all(stage);
  await sleep(INTERVAL + 2000);
  const rssA = rssBytes(pid);
  const openA = (await Promise.all(workers.map((w) => ask(w, 'stats')))).reduce((a, x) => a + x.open, 0);
  const heapA = httpBase ? await heapUsed(httpBase) : undefined;
  for (const w of workers) w.send({ cmd: 'continue' });
  await Promise.all(ready);
  await sleep(INTERVAL + 2000); // every client heartbeats at least once; heap settles
  const rss1 = rssBytes(pid);
  const before = await Promise.all(workers.map((w) => ask(w, 'stats')));
  const cpu0 = cpuMicros(pid);
  const t0 = performance.now();
  await sleep(WINDOW);
  const cpu1 = cpuMicros(pid);
  const t1 = performance.now();
  const afterStats = await Promise.all(workers.map((w) => ask(w, 'stats')));
  const sum = (xs: WorkerStats[], k: keyof WorkerStats): number => xs.reduce((a, x) => a + x[k], 0);
  const open = sum(afterStats, 'open');
  const heapB = httpBase ? await heapUsed(httpBase) : undefined;
  const beats = sum(afterStats, 'acks') - sum(before, 'acks');
  for (const w of workers) w.send({ cmd: 'close' });
  await sleep(500);
  if (cluster) await cluster.stop();
  else child.kill('SIGKILL');
  live.cluster = undefined; live.child = undefined;
  await sleep(500);
  return {
    server, connections: open,
    rss_bytes_per_conn: Math.round((rss1 - rssA) / (open - openA)),
    rss_avg_bytes_per_conn: Math.round((rss1 - rss0) / open),
    ...(heapA !== undefined && heapB !== undefined ? { heap_bytes_per_conn: Math.round((heapB - heapA) / (open - openA)) } : {}),
    cpu_us_per_heartbeat: Number(((cpu1 - cpu0) / Math.max(1, beats)).toFixed(2)),
    heartbeats_per_s: Math.round(beats / ((t1 - t0) / 1000)),
    rss_idle_mb: Number((rss0 / 1048576).toFixed(1)), rss_loaded_mb: Number((rss1 / 1048576).toFixed(1)),
    unexpected_closes: sum(afterStats, 'closedUnexpectedly'), failed: sum(afterStats, 'failed'),
  };
}

const servers = (values.only ? [values.only] : ['longlink', 'standalone', 'uws', 'ws']) as Server[];
const results: Result[] = [];
for (const s of servers) {
  process.stderr.write(`[bench:memory] ${s}: ${N} connections from ${W} workers, heartbeat every ${INTERVAL} ms…\n`);
  results.push(await phase(s));
}
const ll = results.find((r) => r.server === 'longlink');
console.log('\nserver      conns  RSS/conn marginal (B)  RSS/conn avg (B)  heap/conn (B)  CPU/heartbeat (µs)  heartbeats/s  RSS idle→loaded (MB)  unexpected closes');
for (const r of results) {
  console.log(`${r.server.padEnd(10)} ${String(r.connections).padStart(6)} ${String(r.rss_bytes_per_conn).padStart(22)} ${String(r.rss_avg_bytes_per_conn).padStart(17)} ${String(r.heap_bytes_per_conn ?? '-').padStart(14)} ${String(r.cpu_us_per_heartbeat).padStart(19)} ${String(r.heartbeats_per_s).padStart(13)}   ${`${r.rss_idle_mb}→${r.rss_loaded_mb}`.padEnd(22)}${r.unexpected_closes}`);
}
const ratios: Record<string, { rss: number; cpu: number }> = {};
if (ll) for (const r of results) if (r !== ll) ratios[`longlink_vs_${r.server}`] = { rss: Number((ll.rss_bytes_per_conn / r.rss_bytes_per_conn).toFixed(2)), cpu: Number((ll.cpu_us_per_heartbeat / r.cpu_us_per_heartbeat).toFixed(2)) };
if (Object.keys(ratios).length) console.log('\nratios (longlink / baseline; < 1 is better):', JSON.stringify(ratios));
console.log(JSON.stringify({
  bench: 'memory', date: new Date().toISOString(), interval_ms: INTERVAL,
  connections: ll?.connections, rss_bytes_per_conn: ll?.rss_bytes_per_conn, cpu_us_per_heartbeat: ll?.cpu_us_per_heartbeat,
  results, ratios,
}));
process.exit(0);
