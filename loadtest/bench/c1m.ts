/**
 * `npm run bench:c1m`: one million heartbeating WebSocket connections on one
 * machine (issue: C1M), clients and servers together, every process under the
 * 20,000 open files limit. It
 *
 * 1. raises the kernel settings the run needs (c1m-system.ts: ephemeral port
 *    range, backlogs, TCP memory, system-wide open files, conntrack when it is
 *    in the path), only when running as root, and restores them at the end
 *    (also on Ctrl-C; a restore script is left in --out in case of a hard kill);
 * 2. starts nats-server, redis-server, one router and ⌈N / --per-gateway⌉
 *    gateways (infra/local/cluster-harness.ts, the services' own defaults);
 * 3. starts ⌈N / --per-worker⌉ client processes on many loopback source
 *    addresses (127.1.x.y): by default the native client
 *    (loadtest/c1m-client/client.c, compiled at start: ~200 B per connection
 *    and a few MB per process, where Node clients took 6-7 KB per connection
 *    with the raw driver and 11 KB with ws, more than the servers under
 *    test); `--client node` runs the load generator's workers with the raw
 *    driver (the SDK's own rule code). Either way each client authenticates
 *    with its own HS256 token, asks for a fixed heartbeat interval (--hb,
 *    default 270 s, what the smart heartbeat settles on), heartbeats after
 *    an idle interval with the zombie rule, acks its pushes in batches and
 *    resumes its session (session, last_seq) on every reconnect;
 * 4. ramps at --ramp-rate connects/s until all are open, --ramp-max seconds
 *    pass, progress stalls, or MemAvailable falls under --mem-floor-mb;
 * 5. holds --hold seconds with --push-rate pushes/s to random users;
 * 6. drains one gateway (SIGTERM: reconnect frames over its drain window) with
 *    the clients told the other gateways' addresses, as a balancer would, and
 *    waits until every client is back;
 * 7. reports (table, JSON on the last stdout line, report.json and report.svg
 *    in --out): connections reached and held, ramp time, spurious
 *    timeouts, pushes sent/received, heartbeat-ack and push latency in the
 *    hold, RSS per gateway and per connection (gateways and clients), kernel
 *    memory per socket, Redis memory per connection, CPU per session start
 *    (router, Redis, NATS, gateways), and what limited the run.
 *
 * --end-by HH:MM (UTC) shortens the ramp and the hold so that everything is
 * stopped and restored by then. The scaled-down run in the tests uses
 * --connections 6000 --sysctl off; the on-demand 100k run and the full run's
 * command are in docs/benchmarks.md.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { CLUSTER_API_KEY, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { busyPct, machineInfo, machineJiffies } from '../lib/machine.js';
import { clusterProcs, killOnExit } from '../lib/kill-on-exit.js';
import { Pusher } from '../lib/pusher.js';
import { procSnap, type ProcSnap } from '../lib/gateway-metrics.js';
import { Aggregator } from '../generator/aggregate.js';
import { splitWork } from '../generator/options.js';
import { renderTable, type Phase } from '../generator/report.js';
import type { Sample } from '../generator/worker.js';
import { startClientProcess, type ClientProc } from './c1m-clients.js';
import { applySysctls, cpuDelta, kernelPerSocket, kernelSnap, plannedSysctls, procs, readSysctl, redisMemory, restoreScript, restoreSysctls, scrapeAll, sumRss, type SysctlChange } from './c1m-system.js';
import { limitVerdict, renderC1mSvg, type MemPoint } from './c1m-report.js';
import { c1mOptions } from './c1m-options.js';

const { v, N, perGw, hbMs, rampRate, pushRate, sampleMs, drainWindowMs, memFloor, semi, deadline, gateways, workerCount, sources } = c1mOptions();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => { process.stderr.write(`[c1m ${new Date().toISOString().slice(11, 19)}] ${s}\n`); };
const mb = (b: number): number => Math.round(b / 2 ** 20);

let cluster: Cluster | undefined;
const workers: ClientProc[] = [];

let applied: SysctlChange[] = [];
let restored = false;
function restore(): string[] {
  if (restored) return [];
  restored = true;
  return restoreSysctls(applied);
}
const killAll = killOnExit(() => [...workers.map((w) => w.proc), ...clusterProcs(cluster)]);
process.on('exit', () => { restore(); });
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping everything and restoring the kernel settings`);
    killAll();
    void (cluster?.stop() ?? Promise.resolve()).catch(() => undefined).finally(() => { restore(); process.exit(130); });
  });
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const machine = await machineInfo();
  const out = v.out !== '' ? v.out : mkdtempSync(path.join(os.tmpdir(), 'longlink-c1m-'));
  mkdirSync(out, { recursive: true });
  const isRoot = process.getuid?.() === 0;

  // 1. Kernel settings.
  const planned = plannedSysctls(N * 2, os.totalmem(), undefined, { bindBeforeConnect: v.client === 'node' });
  let sysctlFailed: Array<{ key: string; error: string }> = [];
  if (v.sysctl === 'on' || (v.sysctl === 'auto' && isRoot)) {
    const r = applySysctls(planned);
    applied = r.applied; sysctlFailed = r.failed;
    writeFileSync(path.join(out, 'restore-sysctls.sh'), restoreScript(applied), { mode: 0o755 });
    for (const c of applied) log(`sysctl ${c.key}: ${c.from} → ${c.to} (${c.why})`);
    for (const f of sysctlFailed) log(`sysctl ${f.key} not set: ${f.error}`);
  } else if (planned.length > 0) {
    log(`kernel settings left as they are (--sysctl ${v.sysctl}${isRoot ? '' : ', not root'}); a run this size would raise: ${planned.map((c) => `${c.key}=${c.to}`).join(', ')}`);
  }

  // 2. Servers.
  log(`starting nats-server, redis-server, 1 router, ${gateways} gateways (≤ ${perGw} connections each)…`);
  const nodeArgs = semi > 0 ? [`--max-semi-space-size=${semi}`] : [];
  cluster = await startCluster({ profile: 'dev', gateways: 0, routers: 1, nodeArgs: () => nodeArgs,
    gatewayEnv: { LONGLINK_MAX_CONNECTIONS: '19500', LONGLINK_SOURCE_CONNECT_RATE: '0', LONGLINK_LOG_LEVEL: 'warn',
      LONGLINK_DRAIN_WINDOW_MS: String(drainWindowMs), LONGLINK_SHUTDOWN_TIMEOUT_MS: String(drainWindowMs + 30_000) },
    routerEnv: { LONGLINK_LOG_LEVEL: 'warn' } });
  const c = cluster;
  for (let i = 0; i < gateways; i += 6) await Promise.all(Array.from({ length: Math.min(6, gateways - i) }, () => c.startGateway()));
  const urls = c.gateways.map((g) => g.url);
  const redis = new Redis(c.redis.url, { lazyConnect: false, maxRetriesPerRequest: 2 });

  // 3. Workers.
  const shares = splitWork({ connections: N, workers: workerCount, sources });
  log(`${N.toLocaleString('en-US')} connections → ${gateways} gateways, ${workerCount} client processes, ${sources.length} source addresses; ` +
    `heartbeat ${hbMs / 1000} s, ramp ${rampRate}/s, hold ${v.hold} s, ${pushRate} pushes/s; machine ${machine.cpus} cores, ${machine.mem_gb} GB, load ${machine.loadavg_1m}`);
  const aggT0 = Date.now();
  const agg = new Aggregator(aggT0);
  const tNow = (): number => (Date.now() - aggT0) / 1000;
  const workerRss = new Map<number, number>();
  const ready: Array<Promise<void>> = [];
  const stopped: Array<Promise<void>> = [];
  const onSample = (i: number, m: Sample): void => { if (m.type === 'sample') { agg.add(i, m); if (m.rss !== undefined) workerRss.set(i, m.rss); } };
  const clientOpts = { kind: v.client === 'native' ? 'native' as const : 'node' as const, out, urls, hbMs, sampleMs, concurrency: v.concurrency,
    sweepMs: Number(v['sweep-ms']), nodeArgs };
  shares.forEach((s, i) => {
    const w = startClientProcess(clientOpts, s, (m) => onSample(i, m));
    workers.push(w);
    ready.push(w.ready);
    stopped.push(w.stopped);
  });
  await Promise.all(ready);
  await sleep(2000);

  const kIdle = kernelSnap();
  const pIdle = procs(c);
  const rIdle = await redisMemory(redis);
  const wRssIdle = workers.map((w) => procSnap(w.pid)?.rss ?? 0).reduce((a, b) => a + b, 0);
  const mem: MemPoint[] = [];
  let jPrev = machineJiffies();
  let minAvail = Infinity;
  const memTick = (): MemPoint => {
    const k = kernelSnap(), p = procs(c), j = machineJiffies();
    const m: MemPoint = { t: Math.round(tNow() * 10) / 10, open: agg.gauge().open, memAvailableMb: mb(k.memAvailable), memUsedMb: mb(os.totalmem() - k.memAvailable), slabMb: mb(k.slab), tcpBufMb: mb(k.tcpMemPages * 4096),
      gatewaysMb: mb(sumRss(p.gateways)), clientsMb: mb([...workerRss.values()].reduce((a, b) => a + b, 0)), routerMb: mb(p.router?.rss ?? 0),
      redisMb: mb(p.redis?.rss ?? 0), natsMb: mb(p.nats?.rss ?? 0), busyPct: busyPct(jPrev, j), tcpInuse: k.tcpInuse, conntrack: k.conntrack };
    jPrev = j;
    minAvail = Math.min(minAvail, k.memAvailable);
    mem.push(m);
    return m;
  };
  let label = 'ramp';
  const tick = setInterval(() => {
    const p = agg.point(Date.now());
    const m = memTick();
    log(`${label} ${p.open.toLocaleString('en-US')} open (+${p.openedPerS}/s), connecting ${p.connecting}, waiting ${p.waiting} | hb ack p99 ${p.hbP99} ms` +
      ` | push p99 ${p.pushP99} ms | closes ${p.unexpectedCloses} failed ${p.failed} | avail ${m.memAvailableMb} MB, gw ${m.gatewaysMb} MB, clients ${m.clientsMb} MB,` +
      ` slab ${m.slabMb} MB, redis ${m.redisMb} MB | busy ${m.busyPct}% | worker lag ${p.workerLagMs} ms`);
  }, sampleMs);

  // 4. Ramp.
  const teardownS = 90, drainS = v.drain === 'on' ? drainWindowMs / 1000 + 60 : 0, holdWanted = Number(v.hold);
  const rampBudgetS = Math.min(Number(v['ramp-max']), (deadline - Date.now()) / 1000 - teardownS - drainS - Math.min(holdWanted, 600));
  if (rampBudgetS < 10) throw new Error(`--end-by leaves ${Math.round(rampBudgetS)} s for the ramp`);
  const j0 = machineJiffies();
  shares.forEach((s, i) => workers[i]!.send({ cmd: 'start', ratePerS: (rampRate * s.count) / N }));
  let rampStop = 'all connections open';
  let best = 0, bestAt = Date.now();
  for (;;) {
    await sleep(500);
    const g = agg.gauge();
    if (g.open > best) { best = g.open; bestAt = Date.now(); }
    if (g.open >= N) break;
    const avail = kernelSnap().memAvailable;
    if (avail < memFloor) { rampStop = `memory: MemAvailable ${mb(avail)} MB < --mem-floor-mb ${mb(memFloor)}`; break; }
    if (tNow() > rampBudgetS) { rampStop = `time: ramp budget of ${Math.round(rampBudgetS)} s used up`; break; }
    if (Date.now() - bestAt > 90_000) { rampStop = 'stalled: no new connection for 90 s'; break; }
  }
  for (const w of workers) w.send({ cmd: 'halt' });
  // Connects in flight finish (or fail) before the hold starts.
  for (let i = 0; i < 40 && agg.gauge().connecting > 0; i++) await sleep(500);
  const rampS = tNow();
  const reached = agg.gauge().open;
  const jRamp = machineJiffies();
  log(`ramp over after ${Math.round(rampS)} s: ${reached.toLocaleString('en-US')} open (${rampStop})`);
  const kRamp = kernelSnap();
  const pRamp = procs(c);
  const rRamp = await redisMemory(redis);
  const rampCounts = agg.merged(['ramp']).counts;
  const phases: Phase[] = [{ name: 'ramp', from: 0, to: rampS }];
  const markers: Array<{ t: number; label: string }> = [];

  // 5. Hold.
  label = 'hold';
  agg.phase = 'hold';
  const holdS = Math.max(10, Math.min(holdWanted, (deadline - Date.now()) / 1000 - teardownS - drainS));
  const holdEndAt = Date.now() + holdS * 1000;
  await sleep(Math.min(5000, holdS * 200));
  const pHold0 = procs(c);
  const gHold0 = await scrapeAll(c.gateways);
  const jHold0 = machineJiffies();
  const pusher = pushRate > 0 ? new Pusher(c.apiUrl, CLUSTER_API_KEY) : undefined;
  pusher?.start(pushRate, () => `c1m-${Math.floor(Math.random() * N)}`);
  let minHeld = Infinity;
  while (Date.now() < holdEndAt) { await sleep(500); minHeld = Math.min(minHeld, agg.gauge().open); }
  const pHold1 = procs(c);
  const gHold1 = await scrapeAll(c.gateways);
  const jHold1 = machineJiffies();
  const kHold = kernelSnap();
  const fileMaxHold = readSysctl('fs.file-max');
  const rHold = await redisMemory(redis);
  const clientRssHold = [...workerRss.values()].reduce((a, b) => a + b, 0);
  const holdEndT = tNow();
  phases.push({ name: 'hold', from: rampS, to: holdEndT });
  const heldAtEnd = agg.gauge().open;

  // 6. Drain one gateway; clients reconnect to the others (as through a balancer).
  let drain: Record<string, unknown> | undefined;
  if (v.drain === 'on' && c.gateways.length > 1) {
    label = 'drain';
    agg.phase = 'drain';
    const g = c.gateways[0]!;
    const moving = gHold1[0]?.connections ?? -1;
    const survivors = c.gateways.slice(1).map((x) => x.url);
    for (const w of workers) w.send({ cmd: 'backends', urls: survivors });
    await sleep(500);
    const before = agg.gauge().open;
    const tD = tNow();
    markers.push({ t: tD, label: `drain ${g.id}` });
    log(`draining ${g.id} (${moving} connections) over ${drainWindowMs / 1000} s`);
    g.proc.kill('SIGTERM');
    let minOpen = before, backAt: number | undefined, exitedAt: number | undefined;
    const limit = Date.now() + drainWindowMs + 90_000;
    g.proc.exited(drainWindowMs + 90_000).then(() => { exitedAt = tNow(); }, () => undefined);
    while (Date.now() < limit) {
      await sleep(250);
      const o = agg.gauge().open;
      minOpen = Math.min(minOpen, o);
      if (exitedAt !== undefined && o >= before && backAt === undefined) { backAt = tNow(); break; }
    }
    // The clients report their counts every sampleMs: wait for the resumes of every moved connection to be
    // reported (a fixed wait lost them when a loaded machine delayed a report), bounded: a shortfall is reported as is.
    await sleep(sampleMs + 500);
    for (const by = Date.now() + 15_000; Date.now() < by && agg.merged(['drain']).counts.resumed < moving;) await sleep(250);
    const dc = agg.merged(['drain']).counts;
    const after = await scrapeAll(c.gateways.slice(1));
    drain = {
      gateway: g.id, connections_moved: moving, open_before: before, open_min: minOpen, open_after: agg.gauge().open,
      gateway_exit_s: exitedAt !== undefined ? Math.round((exitedAt - tD) * 10) / 10 : -1,
      all_back_s: backAt !== undefined ? Math.round((backAt - tD) * 10) / 10 : -1,
      reconnects: dc.reconnects, resumed: dc.resumed, failed_attempts: dc.failed, closes_seen: dc.unexpectedCloses,
      survivors_max_connections: Math.max(...after.map((x) => x?.connections ?? 0)),
    };
    phases.push({ name: 'drain', from: tD, to: tNow() });
    log(`drain: ${JSON.stringify(drain)}`);
  }

  await pusher?.stop();
  // In-flight pushes land before the servers stop: wait until the clients have reported every delivery the pusher
  // expects (deliveries plus stored pushes), not a fixed 2 s, which a loaded machine outlasts; bounded, so a real
  // loss still ends the run and shows in the verdict.
  await sleep(2000);
  const landed = (): boolean => !pusher || agg.merged(['ramp', 'hold', 'drain']).counts.pushes >= pusher.stats.expectedDeliveries + pusher.stats.offline;
  for (const by = Date.now() + 30_000; Date.now() < by && !landed();) await sleep(250);
  clearInterval(tick);
  agg.point(Date.now());
  memTick();
  const gEnd = await scrapeAll(c.gateways);
  // Teardown: servers first (a million orderly closes would only make presence work), then the clients.
  for (const w of workers) w.send({ cmd: 'stop' });
  redis.disconnect();
  await c.stop();
  await Promise.race([Promise.all(stopped), sleep(30_000)]);
  cluster = undefined;
  const notRestored = restore();
  log(notRestored.length === 0 ? `kernel settings restored (${applied.length})` : `NOT restored: ${notRestored.join(', ')}`);

  // 7. Report.
  const hold = agg.merged(['hold']);
  const all = agg.merged(['ramp', 'hold', 'drain']);
  const gwTimeouts = gEnd.reduce((a, m, i) => a + (m?.heartbeatTimeouts ?? gHold1[i]?.heartbeatTimeouts ?? 0), 0);
  const holdWallS = (jHold1[1] - jHold0[1]) > 0 ? (pHold1.router!.at - pHold0.router!.at) / 1000 : NaN;
  const gwRssLoaded = sumRss(pHold1.gateways), gwRssIdle = sumRss(pIdle.gateways);
  const gwConns = gHold1.reduce((a, m) => a + (m?.connections ?? 0), 0);
  const clientRssLoaded = clientRssHold;
  const opened = rampCounts.opened;
  const perStart = (a: ProcSnap | undefined, b: ProcSnap | undefined): number => (opened > 0 ? Math.round(cpuDelta(a, b) / opened) : -1);
  const gwCpuRamp = pRamp.gateways.reduce((s, x, i) => s + cpuDelta(pIdle.gateways[i], x), 0);
  const beats = gHold1.reduce((a, m, i) => a + (m?.heartbeats ?? 0) - (gHold0[i]?.heartbeats ?? 0), 0);
  const gwCpuHold = pHold1.gateways.reduce((s, x, i) => s + cpuDelta(pHold0.gateways[i], x), 0);
  const kernel = kernelPerSocket(kIdle, kRamp);
  const expected = pusher ? pusher.stats.expectedDeliveries + pusher.stats.offline : 0;
  const summary = {
    connections_target: N, gateways, client_processes: workerCount, source_addresses: sources.length, hb_ms: hbMs,
    reached, ramp_s: Math.round(rampS), ramp_rate_per_s: Math.round(reached / Math.max(1, rampS)), ramp_stop: rampStop,
    held_min: Number.isFinite(minHeld) ? minHeld : -1, held_at_end: heldAtEnd, hold_s: Math.round(holdEndT - rampS),
    failed_attempts: all.counts.failed, failed_by_status: agg.statuses, failed_by_error: agg.errors,
    unexpected_closes_before_drain: agg.merged(['ramp', 'hold']).counts.unexpectedCloses, closes_by_code: agg.codes,
    spurious_timeouts: all.counts.timeouts + gwTimeouts + all.counts.zombies, client_4006: all.counts.timeouts, gateway_heartbeat_timeouts: gwTimeouts, zombies: all.counts.zombies,
    heartbeats_sent: all.counts.hbSent, heartbeat_acks: all.counts.hbAcks, heartbeat_ack_ms_hold: hold.hb.summary(),
    connect_ms_ramp: agg.merged(['ramp']).connect.summary(),
    pushes: pusher ? { ...pusher.stats, expected, received: all.counts.pushes, duplicates: all.counts.duplicates, gaps: all.counts.gaps, latency_ms: all.push.summary(),
      latency_ms_hold: hold.push.summary() } : undefined,
    drain,
    memory: {
      gateway_rss_mb_idle_each: Math.round(mb(gwRssIdle) / gateways), gateway_rss_mb_loaded_each: Math.round(mb(gwRssLoaded) / gateways),
      gateway_rss_bytes_per_conn: gwConns > 0 ? Math.round((gwRssLoaded - gwRssIdle) / gwConns) : -1,
      gateway_rss_avg_bytes_per_conn: gwConns > 0 ? Math.round(gwRssLoaded / gwConns) : -1,
      client_rss_mb_idle_each: Math.round(mb(wRssIdle) / workerCount), client_rss_mb_loaded_each: Math.round(mb(clientRssLoaded) / workerCount),
      client_rss_bytes_per_conn: reached > 0 ? Math.round((clientRssLoaded - wRssIdle) / reached) : -1,
      kernel, kernel_bytes_per_connection: kernel.slab_bytes_per_socket > 0 ? Math.round((kRamp.slab - kIdle.slab + (kRamp.tcpMemPages - kIdle.tcpMemPages) * 4096) / Math.max(1, reached)) : -1,
      redis_used_bytes_per_conn: reached > 0 ? Math.round((rRamp.used - rIdle.used) / reached) : -1, redis_used_mb: mb(rHold.used), redis_rss_mb: mb(rHold.rss), redis_keys: rHold.keys,
      router_rss_mb: mb(pHold1.router?.rss ?? 0), nats_rss_mb: mb(pHold1.nats?.rss ?? 0),
      mem_available_mb_min: mb(minAvail), mem_available_mb_before: mb(kIdle.memAvailable), mem_available_mb_hold_end: mb(kHold.memAvailable),
      tcp_sockets_hold: kHold.tcpInuse, conntrack_entries_hold: kHold.conntrack, file_handles_hold: kHold.fileHandles, file_max: fileMaxHold,
    },
    cpu: {
      router_us_per_session_start: perStart(pIdle.router, pRamp.router), redis_us_per_session_start: perStart(pIdle.redis, pRamp.redis),
      nats_us_per_session_start: perStart(pIdle.nats, pRamp.nats), gateways_us_per_session_start: opened > 0 ? Math.round(gwCpuRamp / opened) : -1,
      machine_busy_pct_ramp: busyPct(j0, jRamp), machine_busy_pct_hold: busyPct(jHold0, jHold1),
      gateways_pct_of_core_hold: Number.isFinite(holdWallS) ? Math.round((gwCpuHold / 1e6 / holdWallS) * 1000) / 10 : -1,
      gateway_us_per_heartbeat_hold: beats > 0 ? Math.round((gwCpuHold / beats) * 10) / 10 : -1, heartbeats_per_s_hold: Number.isFinite(holdWallS) ? Math.round(beats / holdWallS) : -1,
      router_pct_of_core_hold: Number.isFinite(holdWallS) ? Math.round((cpuDelta(pHold0.router, pHold1.router) / 1e6 / holdWallS) * 1000) / 10 : -1,
      worker_event_loop_lag_max_ms: agg.lagMaxMs,
    },
    sysctls: applied.map((x) => ({ key: x.key, from: x.from, to: x.to })), sysctls_failed: sysctlFailed, sysctls_not_restored: notRestored,
    limit: '',
  };
  summary.limit = limitVerdict({ target: N, reached, rampStop, errors: agg.errors, statuses: agg.statuses, memAvailableMinMb: mb(minAvail), busyPctRamp: summary.cpu.machine_busy_pct_ramp });
  const verdict = reached >= N && summary.held_min >= N && summary.spurious_timeouts === 0 && (!pusher || summary.pushes!.received === expected) ? 'pass' : 'fail';
  const title = `Longlink C1M bench: ${N.toLocaleString('en-US')} connections, ${gateways} gateways, heartbeat ${hbMs / 1000} s (${new Date(t0).toISOString().slice(0, 16)}Z, ${machine.cpus} cores)`;
  const report = { tool: 'bench:c1m', date: new Date(t0).toISOString(), machine, config: v, summary: { ...summary, verdict }, timeline: agg.points, memory_timeline: mem };
  writeFileSync(path.join(out, 'report.json'), JSON.stringify(report, null, 1));
  writeFileSync(path.join(out, 'report.svg'), renderC1mSvg(agg.points, mem, { title, phases, markers }));
  const lat = (l: { p50: number; p95: number; p99: number; max: number }): string => `p50 ${l.p50} / p95 ${l.p95} / p99 ${l.p99} / max ${l.max} ms`;
  const m = summary.memory, cp = summary.cpu;
  console.log(renderTable([
    ['Run', [['machine', `${machine.cpus} × ${machine.model}, ${machine.mem_gb} GB, load ${machine.loadavg_1m} before`],
      ['processes', `${gateways} gateways, 1 router, nats-server, redis-server, ${workerCount} client processes on ${sources.length} addresses`],
      ['reached / held (min in hold) / at end of hold', `${reached} / ${summary.held_min} / ${heldAtEnd} of ${N}`],
      ['ramp', `${summary.ramp_s} s (${summary.ramp_rate_per_s}/s), stopped by: ${rampStop}`], ['hold', `${summary.hold_s} s`], ['limit', summary.limit], ['verdict', verdict]]],
    ['Clients', [['failed attempts', `${summary.failed_attempts} ${JSON.stringify({ ...agg.statuses, ...agg.errors })}`],
      ['unexpected closes before the drain', `${summary.unexpected_closes_before_drain} ${JSON.stringify(agg.codes)}`],
      ['spurious timeouts (4006 + gateway + zombies)', summary.spurious_timeouts],
      ['heartbeats sent / acked', `${summary.heartbeats_sent} / ${summary.heartbeat_acks}`], ['heartbeat ack (hold)', lat(summary.heartbeat_ack_ms_hold)],
      ['connect (ramp)', lat(summary.connect_ms_ramp)],
      ...(summary.pushes ? [['pushes', `${summary.pushes.sent} sent (+${summary.pushes.offline} stored), ${summary.pushes.received} received of ${expected}, ${summary.pushes.errors} errors; hold ${lat(summary.pushes.latency_ms_hold)}`] as [string, string]] : []),
      ...(drain ? [['drain', `${String(drain.gateway)}: ${String(drain.connections_moved)} moved, all back in ${String(drain.all_back_s)} s (${String(drain.reconnects)} reconnects, ${String(drain.resumed)} resumed, ${String(drain.failed_attempts)} failed attempts)`] as [string, string]] : [])]],
    ['Memory', [['gateway RSS each, idle → loaded', `${m.gateway_rss_mb_idle_each} → ${m.gateway_rss_mb_loaded_each} MB (${m.gateway_rss_bytes_per_conn} B/conn marginal, ${m.gateway_rss_avg_bytes_per_conn} B/conn average)`],
      ['client process RSS each, idle → loaded', `${m.client_rss_mb_idle_each} → ${m.client_rss_mb_loaded_each} MB (${m.client_rss_bytes_per_conn} B/conn)`],
      ['kernel per TCP socket', `${m.kernel.socket_caches_bytes_per_socket} B in socket caches, ${m.kernel.slab_bytes_per_socket} B of all slab (${m.kernel.unreclaimable_bytes_per_socket} B unreclaimable) + ${m.kernel.buffer_bytes_per_socket} B buffers; ${JSON.stringify(m.kernel.top_slabs_bytes_per_socket)}`],
      ['TCP sockets / file handles / conntrack (hold)', `${m.tcp_sockets_hold} / ${m.file_handles_hold} of ${m.file_max} / ${m.conntrack_entries_hold}`],
      ['Redis per connection', `${m.redis_used_bytes_per_conn} B (used_memory ${m.redis_used_mb} MB, RSS ${m.redis_rss_mb} MB, ${m.redis_keys} keys)`],
      ['router / NATS RSS', `${m.router_rss_mb} / ${m.nats_rss_mb} MB`], ['MemAvailable before / min / end of hold', `${m.mem_available_mb_before} / ${m.mem_available_mb_min} / ${m.mem_available_mb_hold_end} MB`]]],
    ['CPU', [['per session start (ramp)', `router ${cp.router_us_per_session_start} µs, Redis ${cp.redis_us_per_session_start} µs, NATS ${cp.nats_us_per_session_start} µs, gateways ${cp.gateways_us_per_session_start} µs`],
      ['machine busy', `ramp ${cp.machine_busy_pct_ramp}%, hold ${cp.machine_busy_pct_hold}%`],
      ['hold', `gateways ${cp.gateways_pct_of_core_hold}% of a core in all, ${cp.gateway_us_per_heartbeat_hold} µs/heartbeat at ${cp.heartbeats_per_s_hold}/s; router ${cp.router_pct_of_core_hold}%`],
      ['client worker event-loop lag, max', `${cp.worker_event_loop_lag_max_ms} ms`]]],
    ['Kernel settings', applied.length ? applied.map((x) => [x.key, `${x.from} → ${x.to}`] as [string, string]) : [['(none changed)', '']]],
  ]));
  console.log(`\nreport: ${path.join(out, 'report.json')}\nchart:  ${path.join(out, 'report.svg')}`);
  console.log(JSON.stringify({ tool: 'bench:c1m', date: report.date, out, machine, summary: { ...summary, verdict } }));
}

main().then(() => process.exit(0), async (err: unknown) => {
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  killAll();
  await cluster?.stop().catch(() => undefined);
  restore();
  process.exit(1);
});
