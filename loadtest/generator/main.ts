/**
 * `npm run loadtest -- …`: the Node load generator. Forks worker processes
 * (worker.ts) that hold protocol-level connections from several loopback
 * source addresses, heartbeating per protocol; scenario: ramp, hold, an
 * optional mass drop with resume, optional pushes through the router API.
 * While it runs: a progress line on stderr. At the end: a table and, as the
 * last stdout line, the JSON report; report.json and report.svg (connections,
 * heartbeat-ack latency and push latency over time) in --out.
 * With --cluster G it starts a local cluster (infra/local/cluster-harness.ts) and
 * also reports each gateway's RSS per connection and CPU.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { nextMessage } from '../lib/worker-ipc.js';
import { clusterProcs, killOnExit } from '../lib/kill-on-exit.js';
import { busyPct, machineInfo, machineJiffies } from '../lib/machine.js';
import { Pusher } from '../lib/pusher.js';
import { cpuPct, procSnap, scrapeGateway, type GatewayScrape, type ProcSnap } from '../lib/gateway-metrics.js';
import { Aggregator } from './aggregate.js';
import { parseConfig, splitWork, type GeneratorConfig } from './options.js';
import { Progress } from './progress.js';
import { renderSvg, renderTable, type Phase } from './report.js';
import type { Sample, WorkerArgs } from './worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let cfg: GeneratorConfig;
try { cfg = parseConfig(process.argv.slice(2)); } catch (e) { console.error(e instanceof Error ? e.message : String(e)); process.exit(2); }

const progress = new Progress();
const workers: ChildProcess[] = [];
let cluster: Cluster | undefined;
killOnExit(() => [...workers, ...clusterProcs(cluster)]);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { progress.done(); void (cluster?.stop() ?? Promise.resolve()).finally(() => process.exit(130)); });

interface GwSnap { id: string; pid: number | undefined; httpUrl: string; proc?: ProcSnap; m?: GatewayScrape }
async function snapGateways(c: Cluster | undefined): Promise<GwSnap[]> {
  if (!c) return [];
  return Promise.all(c.gateways.map(async (g) => {
    const pid = g.proc.child.pid;
    const m = await scrapeGateway(g.httpUrl);
    const s: GwSnap = { id: g.id, pid, httpUrl: g.httpUrl };
    const p = procSnap(pid);
    if (p) s.proc = p;
    if (m) s.m = m;
    return s;
  }));
}

async function main(): Promise<void> {
  const machine = await machineInfo();
  const out = cfg.out ?? mkdtempSync(path.join(os.tmpdir(), 'longlink-loadtest-'));
  mkdirSync(out, { recursive: true });
  let urls = cfg.urls, api = cfg.api, apiKey = cfg.apiKey, secret = cfg.secret;
  if (cfg.cluster > 0) {
    progress.log(`[loadtest] starting a local cluster: ${cfg.cluster} gateways, 1 router, nats-server, redis-server…`);
    cluster = await startCluster({ profile: 'dev', gateways: cfg.cluster, routers: 1, gatewayEnv: {
      LONGLINK_MAX_CONNECTIONS: '50000', LONGLINK_CONNECT_RATE: '100000', LONGLINK_CONNECT_BURST: '100000', LONGLINK_SOURCE_CONNECT_RATE: '0', LONGLINK_HB_MIN_MS: '100',
      LONGLINK_LOG_LEVEL: 'warn', ...cfg.gatewayEnv,
    } });
    urls = cluster.gateways.map((g) => g.url);
    api = cluster.apiUrl; apiKey = CLUSTER_API_KEY; secret = CLUSTER_SECRET;
  }
  const shares = splitWork(cfg);
  progress.log(`[loadtest] ${cfg.connections} connections → ${urls.length} gateway(s), ${cfg.workers} worker(s), ${cfg.sources.length} source address(es); ` +
    `heartbeat ${cfg.hbMs} ms, ramp ${cfg.rampS} s, hold ${cfg.holdS} s${cfg.dropAtS !== undefined ? `, drop ${cfg.dropFraction * 100}% at +${cfg.dropAtS} s` : ''}` +
    `${cfg.pushRate > 0 ? `, ${cfg.pushRate} pushes/s` : ''}; machine ${machine.cpus} cores, ${machine.busy_pct_before}% busy before start`);

  const t0 = Date.now();
  const agg = new Aggregator(t0);
  const ready: Array<Promise<void>> = [];
  const stopped: Array<Promise<void>> = [];
  shares.forEach((s, i) => {
    const args: WorkerArgs = { urls, first: s.first, count: s.count, sources: s.sources, secret: secret!, userPrefix: cfg.userPrefix,
      hbMs: cfg.hbMs, retry: cfg.retry, concurrency: cfg.concurrency, sampleMs: cfg.sampleMs, driver: cfg.driver };
    // LOADTEST_WORKER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the workers.
    const execArgv = process.env.LOADTEST_WORKER_NODE_ARGS?.split(' ').filter((x) => x !== '') ?? [];
    const w = fork(path.join(here, 'worker.js'), [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    workers.push(w);
    ready.push(nextMessage(w, 'ready').then(() => undefined));
    stopped.push(new Promise((r) => w.on('exit', () => r())));
    w.on('message', (m: Sample) => { if (m.type === 'sample') agg.add(i, m); });
  });
  await Promise.all(ready);
  await sleep(2000); // the gateways settle before their idle RSS is read
  const gwIdle = await snapGateways(cluster);
  const phases: Phase[] = [];
  const markers: Array<{ t: number; label: string }> = [];
  const tNow = (): number => (Date.now() - t0) / 1000;
  const total = cfg.rampS + cfg.holdS;
  let label = 'ramp';
  const tick = setInterval(() => {
    const p = agg.point(Date.now());
    const done = label === 'ramp' ? Math.min(p.t, cfg.rampS) : cfg.rampS + Math.min(cfg.holdS, p.t - phases[0]!.to);
    progress.update(done / Math.max(1, total), `${label} ${p.open.toLocaleString('en-US')}/${cfg.connections.toLocaleString('en-US')} open` +
      ` | hb ack p95 ${p.hbP95 < 0 ? '-' : p.hbP95} ms${cfg.pushRate > 0 ? ` | push p95 ${p.pushP95 < 0 ? '-' : p.pushP95} ms` : ''}` +
      ` | unexpected closes ${p.unexpectedCloses}${p.unexpectedCloses > 0 ? ' ' + JSON.stringify(agg.codes) : ''} | failed ${p.failed} | ${Math.round(p.t)} s`);
  }, cfg.sampleMs);

  // Ramp: each worker opens its share at connections/ramp per second in all.
  shares.forEach((s, i) => workers[i]!.send({ cmd: 'start', ratePerS: s.count / Math.max(0.001, cfg.rampS) }));
  const rampDeadline = Date.now() + (cfg.rampS * 2 + 60) * 1000;
  while (agg.gauge().open < cfg.connections && Date.now() < rampDeadline) await sleep(200);
  const rampS = tNow();
  const reached = agg.gauge().open;
  if (reached < cfg.connections) progress.log(`[loadtest] ramp timed out: ${reached}/${cfg.connections} open after ${Math.round(rampS)} s`);
  phases.push({ name: 'ramp', from: 0, to: rampS });

  // Hold (with the optional drop and pushes).
  label = 'hold';
  agg.phase = 'hold';
  const jHold0 = machineJiffies();
  await sleep(Math.min(5000, cfg.holdS * 500));
  const gwHold0 = await snapGateways(cluster);
  const pusher = cfg.pushRate > 0 ? new Pusher(api!, apiKey!) : undefined;
  pusher?.start(cfg.pushRate, () => `${cfg.userPrefix}${Math.floor(Math.random() * cfg.connections)}`);
  const holdEnd = Date.now() + cfg.holdS * 1000 - Math.min(5000, cfg.holdS * 500);
  let dropT: number | undefined;
  let recoverS: number | undefined;
  let openBeforeDrop = 0;
  let dropSeen = false;
  while (Date.now() < holdEnd) {
    const t = tNow() - rampS;
    if (cfg.dropAtS !== undefined && dropT === undefined && t >= cfg.dropAtS) {
      openBeforeDrop = agg.gauge().open;
      dropT = tNow();
      agg.phase = 'drop';
      markers.push({ t: dropT, label: `drop ${Math.round(cfg.dropFraction * 100)}%` });
      for (const w of workers) w.send({ cmd: 'drop', fraction: cfg.dropFraction });
    }
    // Recovered: the gauges first showed the drop, then every dropped client back.
    if (dropT !== undefined && !dropSeen && agg.gauge().open < openBeforeDrop) dropSeen = true;
    if (dropT !== undefined && dropSeen && recoverS === undefined && agg.gauge().open >= openBeforeDrop) {
      recoverS = Math.round((tNow() - dropT) * 10) / 10;
      agg.phase = 'hold';
    }
    await sleep(200);
  }
  const gwHold1 = await snapGateways(cluster);
  const jHold1 = machineJiffies();
  await pusher?.stop();
  await sleep(2000); // in-flight pushes land
  phases.push({ name: 'hold', from: rampS, to: tNow() });
  clearInterval(tick);
  agg.point(Date.now());
  const openAtEnd = agg.gauge().open;
  for (const w of workers) w.send({ cmd: 'stop' });
  await Promise.race([Promise.all(stopped), sleep(10_000)]);
  progress.done();
  const gwEnd = await snapGateways(cluster);
  if (cluster) await cluster.stop();

  // ---- report -------------------------------------------------------------------------------
  const hold = agg.merged(['hold', 'drop']);
  const all = agg.merged(['ramp', 'hold', 'drop']);
  const holdWallS = (gwHold1[0]?.proc?.at ?? 0) - (gwHold0[0]?.proc?.at ?? 0);
  const gateways = gwHold1.map((g, i) => {
    const idle = gwIdle[i], h0 = gwHold0[i];
    const conns = g.m?.connections ?? 0;
    const beats = (g.m?.heartbeats ?? 0) - (h0?.m?.heartbeats ?? 0);
    const cpuUs = g.proc && h0?.proc ? g.proc.cpuUs - h0.proc.cpuUs : NaN;
    return {
      id: g.id, connections: conns, rss_idle_mb: idle?.proc ? Math.round(idle.proc.rss / 2 ** 20) : -1, rss_mb: g.proc ? Math.round(g.proc.rss / 2 ** 20) : -1,
      rss_bytes_per_conn: g.proc && idle?.proc && conns > 0 ? Math.round((g.proc.rss - idle.proc.rss) / conns) : -1,
      cpu_pct_hold: g.proc && h0?.proc ? Math.round(cpuPct(h0.proc, g.proc) * 10) / 10 : -1,
      cpu_us_per_heartbeat: beats > 0 ? Math.round((cpuUs / beats) * 10) / 10 : -1, heartbeats_per_s: holdWallS > 0 ? Math.round(beats / (holdWallS / 1000)) : -1,
      heartbeat_timeouts: (gwEnd[i]?.m?.heartbeatTimeouts ?? g.m?.heartbeatTimeouts ?? 0) - (idle?.m?.heartbeatTimeouts ?? 0),
    };
  });
  const gwConns = gateways.reduce((a, g) => a + g.connections, 0);
  const gwRss = gwHold1.reduce((a, g) => a + (g.proc?.rss ?? 0), 0) - gwIdle.reduce((a, g) => a + (g.proc?.rss ?? 0), 0);
  const spuriousTimeouts = all.counts.timeouts + gateways.reduce((a, g) => a + g.heartbeat_timeouts, 0);
  const summary = {
    connections_target: cfg.connections, peak_open: agg.peakOpen, open_at_end_of_hold: openAtEnd, ramp_s: Math.round(rampS * 10) / 10,
    connect_rate_per_s: Math.round(reached / Math.max(0.001, rampS)), hold_s: cfg.holdS,
    failed_attempts: all.counts.failed, failed_by_status: agg.statuses, failed_by_error: agg.errors,
    unexpected_closes: all.counts.unexpectedCloses, closes_by_code: agg.codes, client_heartbeat_timeouts_4006: all.counts.timeouts,
    zombies: all.counts.zombies, spurious_timeouts: spuriousTimeouts,
    heartbeats_sent: all.counts.hbSent, heartbeat_acks: all.counts.hbAcks, heartbeat_ack_ms_hold: hold.hb.summary(),
    connect_ms: all.connect.summary(),
    drop: cfg.dropAtS === undefined ? undefined : { fraction: cfg.dropFraction, dropped: all.counts.dropped, reconnects: all.counts.reconnects,
      resumed: all.counts.resumed, recover_s: recoverS ?? -1, retry: cfg.retry },
    pushes: pusher ? { ...pusher.stats, received: all.counts.pushes, duplicates: all.counts.duplicates, gaps: all.counts.gaps, latency_ms: all.push.summary() } : undefined,
    gateways, gateway_rss_bytes_per_conn: gwConns > 0 && gwRss > 0 ? Math.round(gwRss / gwConns) : -1,
    gateway_cpu_pct_hold_total: Math.round(gateways.reduce((a, g) => a + Math.max(0, g.cpu_pct_hold), 0) * 10) / 10,
    machine_busy_pct_hold: busyPct(jHold0, jHold1),
    worker_event_loop_lag_max_ms: agg.lagMaxMs,
    verdict: openAtEnd >= cfg.connections && reached >= cfg.connections && spuriousTimeouts === 0 && all.counts.zombies === 0 && all.counts.unexpectedCloses === 0 ? 'pass' : 'fail',
  };
  const title = `Longlink load: ${cfg.connections.toLocaleString('en-US')} connections, ${urls.length} gateway(s), heartbeat ${cfg.hbMs / 1000} s (${new Date(t0).toISOString().slice(0, 16)}Z, ${machine.cpus} cores)`;
  const report = { tool: 'loadtest', date: new Date(t0).toISOString(), config: { ...cfg, secret: undefined, apiKey: undefined, urls }, machine, summary, timeline: agg.points };
  writeFileSync(path.join(out, 'report.json'), JSON.stringify(report, null, 1));
  writeFileSync(path.join(out, 'report.svg'), renderSvg(agg.points, { title, phases, markers }));
  const lat = (l: { p50: number; p95: number; p99: number; max: number }): string => `p50 ${l.p50} / p95 ${l.p95} / p99 ${l.p99} / max ${l.max} ms`;
  console.log(renderTable([
    ['Run', [['machine', `${machine.cpus} × ${machine.model}, ${machine.mem_gb} GB, busy ${machine.busy_pct_before}% before, ${summary.machine_busy_pct_hold}% in hold`],
      ['target', summary.connections_target], ['peak open', summary.peak_open], ['open at end of hold', summary.open_at_end_of_hold],
      ['ramp', `${summary.ramp_s} s (${summary.connect_rate_per_s}/s)`], ['generator worker event-loop lag, max', `${summary.worker_event_loop_lag_max_ms} ms`],
      ['verdict', summary.verdict]]],
    ['Clients', [['failed attempts', `${summary.failed_attempts} ${JSON.stringify({ ...agg.statuses, ...agg.errors })}`],
      ['unexpected closes', `${summary.unexpected_closes} ${JSON.stringify(agg.codes)}`], ['spurious timeouts (4006 + gateway)', summary.spurious_timeouts], ['zombies', summary.zombies],
      ['heartbeats sent / acked', `${summary.heartbeats_sent} / ${summary.heartbeat_acks}`], ['heartbeat ack (hold)', lat(summary.heartbeat_ack_ms_hold)],
      ['connect (upgrade → hello)', lat(summary.connect_ms)],
      ...(summary.drop ? [['drop', `${summary.drop.dropped} dropped, ${summary.drop.reconnects} reconnects (${summary.drop.resumed} resumed), all back in ${summary.drop.recover_s} s`] as [string, string]] : []),
      ...(summary.pushes ? [['pushes', `${summary.pushes.sent} sent, ${summary.pushes.received} received, ${summary.pushes.errors} errors, ${lat(summary.pushes.latency_ms)}`] as [string, string]] : [])]],
    ...(gateways.length ? [['Gateways', gateways.map((g) => [g.id, `${g.connections} conns, RSS ${g.rss_idle_mb}→${g.rss_mb} MB (${g.rss_bytes_per_conn} B/conn), CPU ${g.cpu_pct_hold}% of a core (${g.cpu_us_per_heartbeat} µs/heartbeat), timeouts ${g.heartbeat_timeouts}`] as [string, string])] as [string, Array<[string, string]>]] : []),
  ]));
  console.log(`\nreport: ${path.join(out, 'report.json')}\nchart:  ${path.join(out, 'report.svg')}`);
  console.log(JSON.stringify({ tool: 'loadtest', date: report.date, out, machine, summary }));
}

main().then(() => process.exit(0), async (err: unknown) => {
  progress.done();
  console.error(`[loadtest] failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  await cluster?.stop().catch(() => undefined);
  process.exit(1);
});
