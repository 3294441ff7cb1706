/**
 * `npm run bench`: the benchmark suite. For Longlink (one gateway process in
 * cluster mode: router, NATS and Redis in their own processes) and, in the
 * same run, two baselines built the usual way (baseline-servers.ts: `ws`
 * with the README's isAlive sweep; Socket.IO 4 with its own ping/pong; both
 * verify an HS256 JWT per connection and serve a push endpoint), with the
 * same clients (suite-worker.ts) and heartbeat interval:
 *
 *  - connect rate, JWT verified per connection (second stage, full speed), and server CPU per connect;
 *  - memory per idle connection: marginal RSS between a third and all of the connections, and the average;
 *  - CPU per heartbeat over a window;
 *  - push latency (HTTP push API call → client, p50/p99) and achieved throughput at a fixed rate.
 *
 * `standalone` is Longlink's one-process mode (gateway + in-memory router,
 * `dist/services/standalone/main.js`) on the same clients; `standalone-uws`
 * and `standalone-node` pin its push API server (LONGLINK_API_SERVER).
 *
 * Ratios are Longlink / baseline, for each Longlink row. bench:memory and
 * bench:push measure memory and push throughput of Longlink alone in more depth.
 * Flags: --connections 10000 --workers 2 --interval 5000 --window 10000
 *        --push-rate 500 --push-s 5 --only longlink,standalone,ws,socketio
 * Prints a table; the last line is one JSON object.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchArgs } from '../lib/cli-args.js';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { spawnNode } from '../../infra/local/process.js';
import { Histogram, r2 } from '../lib/histogram.js';
import { machineInfo } from '../lib/machine.js';
import { clusterProcs, killOnExit } from '../lib/kill-on-exit.js';
import { Pusher } from '../lib/pusher.js';
import { cpuMicrosFine, rssBytes } from './proc-stats.js';
import { suiteRatios, suiteTable, type SuiteResult, type SuiteServer } from './suite-report.js';
import { loopMonitor } from './push-phase.js';
import type { Dialect, SuiteStats, SuiteWorkerArgs } from './suite-worker.js';
import { STANDALONE_NODE_FLAGS } from '../../services/standalone/node-flags.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: o } = benchArgs('bench', { options: {
  connections: { type: 'string', default: '10000' }, workers: { type: 'string', default: '2' }, interval: { type: 'string', default: '5000' },
  window: { type: 'string', default: '10000' }, 'push-rate': { type: 'string', default: '500' }, 'push-s': { type: 'string', default: '5' },
  only: { type: 'string', default: 'longlink,standalone,ws,socketio' },
} });
const N = Number(o.connections), W = Number(o.workers), INTERVAL = Number(o.interval), WINDOW = Number(o.window);
const PUSH_RATE = Number(o['push-rate']), PUSH_MS = Number(o['push-s']) * 1000;
const SECRET = CLUSTER_SECRET;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => { process.stderr.write(`[bench] ${s}\n`); };

let cluster: Cluster | undefined;
let children: ChildProcess[] = [];
const SERVERS: readonly SuiteServer[] = ['longlink', 'standalone', 'standalone-node', 'standalone-uws', 'ws', 'socketio'];
const dialectOf = (s: SuiteServer): Dialect => (s === 'ws' || s === 'socketio' ? s : 'longlink');
const killAll = killOnExit(() => [...children, ...clusterProcs(cluster)], { exitOnSignal: true });

function reply<T>(w: ChildProcess, type: string, msg?: object, timeoutMs = 300_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { w.off('message', on); reject(new Error(`worker ${w.pid}: no ${type}`)); }, timeoutMs);
    const on = (m: { type: string }): void => { if (m.type === type) { clearTimeout(timer); w.off('message', on); resolve(m as T); } };
    w.on('message', on);
    if (msg) w.send(msg);
  });
}

/**
 * The event-loop monitor (loop-monitor.ts) goes into every one-process server
 * (standalone and both baselines, alike): the push window's loop delay and
 * its longest stalls (on a core, waiting for one, GC) say what a push's tail
 * is made of. The cluster row runs without it.
 */
const LOOP_ARGS = ['--import', pathToFileURL(path.join(here, 'loop-monitor.js')).href];
const LOOP_URL = /loop-monitor:\s+(http:\/\/\S+)/;

async function startServer(d: SuiteServer): Promise<{ pid: number; url: string; api: string; apiKey: string; loopUrl?: string }> {
  if (d === 'longlink') {
    cluster = await startCluster({ gateways: 1, gatewayEnv: {
      LONGLINK_MAX_CONNECTIONS: '200000', LONGLINK_CONNECT_RATE: '1000000', LONGLINK_CONNECT_BURST: '1000000', LONGLINK_SOURCE_CONNECT_RATE: '0',
      LONGLINK_HB_MIN_MS: '1000', LONGLINK_WHEEL_TICK_MS: '500', LONGLINK_BEACON_INTERVAL_MS: '5000',
    }, routerEnv: { LONGLINK_GATEWAY_LEASE_MS: '15000' } });
    const g = cluster.gateways[0]!;
    return { pid: g.proc.child.pid!, url: g.url, api: cluster.apiUrl, apiKey: CLUSTER_API_KEY };
  }
  if (d.startsWith('standalone')) {
    const api: Record<string, string> = d === 'standalone' ? {} : { LONGLINK_API_SERVER: d.slice('standalone-'.length) };
    const p = spawnNode(path.join(here, '../../services/standalone/main.js'), {
      LONGLINK_MAX_CONNECTIONS: '200000', LONGLINK_CONNECT_RATE: '1000000', LONGLINK_CONNECT_BURST: '1000000', LONGLINK_SOURCE_CONNECT_RATE: '0',
      LONGLINK_HB_MIN_MS: '1000', LONGLINK_WHEEL_TICK_MS: '500', LONGLINK_BEACON_INTERVAL_MS: '5000',
      LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_HOST: '127.0.0.1', LONGLINK_API_PORT: '0',
      LONGLINK_JWT_SECRET: SECRET, LONGLINK_API_KEYS: CLUSTER_API_KEY, LONGLINK_LOG_LEVEL: 'warn', ...api,
    }, [], undefined, [...STANDALONE_NODE_FLAGS, ...LOOP_ARGS]);
    children.push(p.child);
    const ws = (await p.waitFor(/WebSocket:\s+(ws:\/\/\S+)/, 30_000))[1]!;
    const url = (await p.waitFor(/Push API:\s+(http:\/\/\S+)\/v1\/push/, 30_000))[1]!;
    const loopUrl = (await p.waitFor(LOOP_URL, 30_000))[1]!;
    return { pid: p.child.pid!, url: ws, api: url, apiKey: CLUSTER_API_KEY, loopUrl };
  }
  const p = spawnNode(path.join(here, 'baseline-servers.js'), {}, [d, String(INTERVAL), SECRET], undefined, LOOP_ARGS);
  const child = p.child;
  children.push(child);
  const port = (await p.waitFor(/PORT (\d+)/, 20_000))[1]!;
  const base = `127.0.0.1:${port}`;
  const loopUrl = (await p.waitFor(LOOP_URL, 30_000))[1]!;
  return { pid: child.pid!, url: d === 'ws' ? `ws://${base}/ws` : `http://${base}`, api: `http://${base}`, apiKey: 'unused', loopUrl };
}

async function phase(d: SuiteServer): Promise<SuiteResult> {
  log(`${d}: starting the server…`);
  const srv = await startServer(d);
  const per = Math.ceil(N / W);
  const workers = Array.from({ length: W }, (_, i) => {
    const args: SuiteWorkerArgs = { dialect: dialectOf(d), url: srv.url, first: i * per, count: Math.max(0, Math.min(per, N - i * per)),
      sources: [`127.0.0.${2 + 2 * i}`, `127.0.0.${3 + 2 * i}`], secret: SECRET, prefix: 'b', hbMs: INTERVAL, concurrency: 50 };
    return fork(path.join(here, 'suite-worker.js'), [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  });
  children.push(...workers);
  await Promise.all(workers.map((w) => reply(w, 'ready')));
  await sleep(1500);
  const rss0 = rssBytes(srv.pid);
  const stats = async (): Promise<SuiteStats[]> => Promise.all(workers.map((w) => reply<SuiteStats>(w, 'stats', { cmd: 'stats' })));
  const sum = (xs: SuiteStats[], k: 'open' | 'beats' | 'unexpected' | 'failed' | 'pushes'): number => xs.reduce((a, x) => a + x[k], 0);
  type Opened = { open: number; failed: number; firstAt: number; lastAt: number };

  log(`${d}: stage 1, ${Math.floor(N / 3)} connections…`);
  await Promise.all(workers.map((w) => reply<Opened>(w, 'opened', { cmd: 'open', upTo: Math.floor(per / 3) })));
  await sleep(INTERVAL + 2000);
  const rssA = rssBytes(srv.pid), openA = sum(await stats(), 'open');

  log(`${d}: stage 2, the rest at full speed (connect rate)…`);
  const cpuC0 = cpuMicrosFine(srv.pid);
  const opened = await Promise.all(workers.map((w) => reply<Opened>(w, 'opened', { cmd: 'open', upTo: per })));
  const cpuC1 = cpuMicrosFine(srv.pid);
  const connectS = (Math.max(...opened.map((x) => x.lastAt)) - Math.min(...opened.map((x) => x.firstAt))) / 1000;
  await sleep(INTERVAL + 2000);
  const rssB = rssBytes(srv.pid);
  const s1 = await stats();
  const openB = sum(s1, 'open');

  log(`${d}: ${openB} connections; heartbeat window ${WINDOW / 1000} s…`);
  const cpu0 = cpuMicrosFine(srv.pid), t0 = performance.now();
  await sleep(WINDOW);
  const cpu1 = cpuMicrosFine(srv.pid), t1 = performance.now();
  const s2 = await stats();
  const beats = sum(s2, 'beats') - sum(s1, 'beats');

  log(`${d}: ${PUSH_RATE} pushes/s for ${PUSH_MS / 1000} s…`);
  const pusher = new Pusher(srv.api, srv.apiKey);
  const pushes0 = sum(s2, 'pushes');
  await loopMonitor(srv.loopUrl, 'reset');
  const tp0 = performance.now();
  pusher.start(PUSH_RATE, () => `b${Math.floor(Math.random() * N)}`);
  await sleep(PUSH_MS);
  await pusher.stop();
  const tp1 = performance.now();
  const loop = await loopMonitor(srv.loopUrl, 'read');
  if (loop) log(`${d}: event-loop delay over the push window p50 ${loop.p50_ms} / p99 ${loop.p99_ms} / max ${loop.max_ms} ms, stalls > 15 ms: ${loop.stall_count} ${JSON.stringify(loop.stalls.slice(0, 5))}, gc ${JSON.stringify(loop.gc)}`);
  await sleep(1500);
  const s3 = await stats();
  const hist = new Histogram();
  for (const x of s3) hist.merge(x.hist);
  const received = sum(s3, 'pushes') - pushes0;

  for (const w of workers) w.send({ cmd: 'close' });
  await sleep(500);
  if (cluster) { await cluster.stop(); cluster = undefined; }
  for (const c of children) c.kill('SIGKILL');
  children = [];
  await sleep(500);
  return {
    server: d, connections: openB, failed: sum(s3, 'failed'), unexpected_closes: sum(s3, 'unexpected'),
    connect_rate_per_s: Math.round((openB - openA) / Math.max(0.001, connectS)), cpu_us_per_connect: r2((cpuC1 - cpuC0) / Math.max(1, openB - openA)),
    rss_bytes_per_conn: Math.round((rssB - rssA) / Math.max(1, openB - openA)), rss_avg_bytes_per_conn: Math.round((rssB - rss0) / Math.max(1, openB)),
    rss_idle_mb: r2(rss0 / 2 ** 20), rss_loaded_mb: r2(rssB / 2 ** 20),
    cpu_us_per_heartbeat: r2((cpu1 - cpu0) / Math.max(1, beats)), heartbeats_per_s: Math.round(beats / ((t1 - t0) / 1000)),
    push: { offered_per_s: PUSH_RATE, accepted: pusher.stats.sent, errors: pusher.stats.errors, received,
      achieved_per_s: Math.round(pusher.stats.sent / ((tp1 - tp0) / 1000)), p50_ms: r2(hist.percentileMs(0.5)), p99_ms: r2(hist.percentileMs(0.99)), max_ms: r2(hist.maxUs / 1000),
      ...(loop ? { loop } : {}) },
  };
}

async function main(): Promise<void> {
  const machine = await machineInfo();
  log(`machine: ${machine.cpus} cores (${machine.model}), busy ${machine.busy_pct_before}% before start, load avg ${machine.loadavg_1m}`);
  const results: SuiteResult[] = [];
  const only = o.only.split(',').map((s) => s.trim()) as SuiteServer[];
  for (const d of only) if (!SERVERS.includes(d)) throw new Error(`--only: "${d}" is not one of ${SERVERS.join(', ')}`);
  for (const d of only) results.push(await phase(d));
  const ratios = suiteRatios(results);
  console.log(suiteTable(results, ratios));
  console.log(JSON.stringify({ bench: 'suite', date: new Date().toISOString(), machine, connections: N, interval_ms: INTERVAL, results, ratios }));
}

main().then(() => process.exit(0), (err: unknown) => {
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  killAll();
  void cluster?.stop().finally(() => process.exit(1));
  if (!cluster) process.exit(1);
});
