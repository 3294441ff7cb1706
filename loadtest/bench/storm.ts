/**
 * `npm run bench:storm`: reconnect storm. A local cluster of 3 gateways
 * (infra/local/cluster-harness.ts, admission control at production defaults:
 * 2,000 connects/s, burst 4,000 per gateway); --connections protocol-level
 * clients (the load generator's workers: ClientSession over `ws`, SDK
 * backoff) all on gateway 0; pushes to random users flow through the router
 * API. Gateway 0 is SIGKILLed; its clients reconnect with resume to the other
 * two (clients pick one at random per attempt, as a balancer would; the dead
 * one is removed right after the kill, as the TCP balancer does).
 *
 * Reported per retry policy (--modes sdk,fixed; each on a fresh cluster;
 * `deaf` adds fixed 1 s clients that ignore Retry-After and reconnect delays,
 * as some field clients do; not in the default, its ideal taken as for the others):
 * time until every client is connected again, per-client reconnect time,
 * peak connect rate per gateway (1 s windows, from the gateways' own
 * counters), admission rejections (503s), and whether every push accepted
 * during the storm was delivered after resume (lost = 0).
 *
 * Against issue targets: recovery time is compared with the ideal for the
 * machine, clients ÷ the session-start throughput measured in the same run
 * (the best 3 s window of session starts completed on the survivors), and
 * failed attempts are split into cheap refusals before the upgrade (503)
 * and session starts that failed after it (1011, 1013).
 *
 * --scenario connect: no kill; --connections clients connect all at once
 * (every handshake in flight together) to --gateways gateways (default 1)
 * and one router; reports the time until all are in and how attempts failed.
 *
 * --cpu-hog 0.5: a process keeping half of one core busy for the whole run
 * (a noisy neighbour); the share it actually got is reported.
 *
 * --pin CLUSTER:LOAD (e.g. 0:1): the cluster's processes (gateways, router,
 * NATS, Redis) pinned to the CLUSTER CPUs, this process and the load clients
 * to the LOAD CPUs (taskset; every thread, read back from /proc before the
 * storm), so the clients stop taking CPU the cluster would have used. The
 * ideal is measured in the same storm, so under the same pinning: the cluster
 * has the same CPUs for both. --pin-hog cluster|load: which side the
 * --cpu-hog shares (default cluster: a noisy neighbour of the server).
 * Not the default bench: the issue's targets are read without it.
 *
 * --driver raw: the clients use the lighter raw-socket driver (raw-driver.ts,
 * the C1M bench's) instead of `ws`: the clients share the machine with the
 * cluster, and every refused attempt costs them a whole handshake.
 *
 * --baseline COMMIT: each mode runs on that commit's build first (built once
 * in the temp directory, as bench:push does), then on this one, so the two
 * builds are compared on the same machine minutes apart; the clients are
 * this checkout's in both.
 *
 * --redis-stall MS: Redis is frozen (SIGSTOP … SIGCONT) for MS ms, --redis-stalls
 * times (default 3), the first --redis-stall-at ms after the kill (default 1000), then every 2.5 s: store calls
 * time out (the routers' command timeout is 1 s) while a late one still runs
 * once Redis resumes, the order in which a resume the gateway gave up on could
 * displace its client's newer connection (closed 4003 REPLACED, which clients
 * do not retry). Reported: the stalls, 4003 closes, clients left out.
 *
 * --cpu-prof DIR: the router and the gateways run under `node --cpu-prof`
 * (profiles in DIR/<mode>/<role>; the killed gateway writes none, the
 * survivors' cover only the storm); the hottest functions are printed.
 *
 * Flags: --connections 15000 --workers 3 --modes sdk,fixed --push-rate 300
 *        --connect-rate 2000 --connect-burst 4000 --max-starting 5000 --target-ms 1000
 *        --resume-concurrency 256 --hb 30000 --ramp-rate 1500 --timeout 180
 *        --scenario kill|connect --gateways N --cpu-hog SHARE --pin CLUSTER:LOAD --pin-hog cluster|load
 * Prints a table; the last line is one JSON object.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { cpus } from 'node:os';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchArgs } from '../lib/cli-args.js';
import { startCluster, CLUSTER_API_KEY, CLUSTER_SECRET, type Cluster } from '../../infra/local/cluster-harness.js';
import { ask, nextMessage } from '../lib/worker-ipc.js';
import { clusterProcs, killOnExit } from '../lib/kill-on-exit.js';
import { Aggregator } from '../generator/aggregate.js';
import { splitWork } from '../generator/options.js';
import type { Sample, WorkerArgs } from '../generator/worker.js';
import { scrapeGateway, scrapeRouterResumes, type GatewayScrape } from '../lib/gateway-metrics.js';
import { startCpuHog } from '../lib/cpu-hog.js';
import { clusterPids, cpuListText, parsePin, pinAll, PinError, type PinPlan } from '../lib/cpu-pin.js';
import { busyPct, machineInfo, machineJiffies } from '../lib/machine.js';
import { Pusher } from '../lib/pusher.js';
import { cpuMicros } from './proc-stats.js';
import { hotFunctions, profilesIn } from '../lib/cpuprofile.js';
import { lostByPhase, perSecond, phaseText, timelineText, type StormSample } from './storm-timeline.js';
import { ensureBaseline } from './push-systems.js';
import { execFileSync } from 'node:child_process';
import { allReconnected, bestRate, bestWindow, compareStorms, connectTable, idealOf, parseModes, stormTable, type ConnectResult, type StormResult } from './storm-report.js';
import type { RetryModeName } from '../lib/retry-policy.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: o } = benchArgs('bench:storm', { options: {
  connections: { type: 'string', default: '15000' }, workers: { type: 'string', default: '3' }, modes: { type: 'string', default: 'sdk,fixed' },
  'push-rate': { type: 'string', default: '300' }, 'connect-rate': { type: 'string', default: '2000' }, 'connect-burst': { type: 'string', default: '4000' },
  'max-starting': { type: 'string', default: '5000' }, 'resume-concurrency': { type: 'string', default: '256' },
  hb: { type: 'string', default: '30000' }, 'ramp-rate': { type: 'string', default: '1500' }, timeout: { type: 'string', default: '180' },
  'target-ms': { type: 'string', default: '1000' }, scenario: { type: 'string', default: 'kill' }, gateways: { type: 'string' },
  'cpu-hog': { type: 'string', default: '0' }, pin: { type: 'string' }, 'pin-hog': { type: 'string', default: 'cluster' }, 'cpu-prof': { type: 'string' },
  driver: { type: 'string', default: 'ws' }, baseline: { type: 'string' },
  'redis-stall': { type: 'string', default: '0' }, 'redis-stalls': { type: 'string', default: '3' }, 'redis-stall-at': { type: 'string', default: '1000' },
} });
const STALL_MS = Number(o['redis-stall']), STALLS = Number(o['redis-stalls']), STALL_AT = Number(o['redis-stall-at']);
const DRIVER = o.driver as 'ws' | 'raw';
if (DRIVER !== 'ws' && DRIVER !== 'raw') throw new Error('--driver: ws or raw');
const SCENARIO = o.scenario as 'kill' | 'connect';
if (SCENARIO !== 'kill' && SCENARIO !== 'connect') throw new Error('--scenario: kill or connect');
const GATEWAYS = Number(o.gateways ?? (SCENARIO === 'kill' ? 3 : 1));
const HOG = Number(o['cpu-hog']);
const N = Number(o.connections), W = Number(o.workers), PUSH_RATE = Number(o['push-rate']), TIMEOUT_S = Number(o.timeout);
let modes: RetryModeName[] = [];
try { modes = parseModes(o.modes); } catch (e) { process.stderr.write(`bench:storm: ${(e as Error).message}\n`); process.exit(2); }
let PIN: PinPlan | undefined;
try {
  if (o['pin-hog'] !== 'cluster' && o['pin-hog'] !== 'load') throw new PinError(`--pin-hog must be cluster or load, got '${o['pin-hog']}'`);
  if (o.pin !== undefined) PIN = parsePin(o.pin);
  else if (process.argv.some((a) => a.startsWith('--pin-hog'))) throw new PinError('--pin-hog needs --pin');
} catch (e) {
  if (!(e instanceof PinError)) throw e;
  process.stderr.write(`bench:storm: ${e.message}\n`);
  process.exit(2);
}
/** With --pin: role → CPU list its threads were read back on, per cluster (the last one started). */
let pinned: Record<string, string> = {};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => { process.stderr.write(`[bench:storm] ${s}\n`); };

let cluster: Cluster | undefined;
let workers: ChildProcess[] = [];
killOnExit(() => [...workers, ...clusterProcs(cluster)], { exitOnSignal: true });

/** Forks one load-generator worker per share, their samples feeding `agg`; resolves once every one is ready. */
async function forkWorkers<S>(shares: S[], agg: Aggregator, argsFor: (s: S) => WorkerArgs): Promise<void> {
  workers = shares.map((s, i) => {
    const w = fork(path.join(here, '../generator/worker.js'), [JSON.stringify(argsFor(s))], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    w.on('message', (m: Sample) => { if (m.type === 'sample') agg.add(i, m); });
    return w;
  });
  await Promise.all(workers.map((w) => nextMessage(w, 'ready')));
  // They inherit the bench's CPUs; pinned again (and read back) so the report does not rest on inheritance.
  if (PIN) Object.assign(pinned, pinAll(Object.fromEntries(workers.map((w, i) => [`worker${i}`, w.pid!])), PIN.load));
}

/** '' = this checkout; else the directory of the --baseline build. */
let ROOT = '';

function stormCluster(mode: string): Promise<Cluster> {
  log(`${mode}: starting a cluster (${GATEWAYS} gateways, 1 router; admission: adaptive, target ${o['target-ms']} ms, ceilings ${o['max-starting']} starting, ${o['connect-rate']}/s burst ${o['connect-burst']})…`);
  const prof = o['cpu-prof'];
  const nodeArgs = prof ? (role: string): string[] => ['--cpu-prof', `--cpu-prof-dir=${path.join(prof, `${mode}${ROOT ? ' baseline' : ''}`.replace(/\W+/g, '-'), role)}`] : undefined;
  return startCluster({ gateways: GATEWAYS, routers: 1, ...(ROOT ? { root: ROOT } : {}), ...(nodeArgs ? { nodeArgs } : {}), routerEnv: { LONGLINK_RESUME_CONCURRENCY: o['resume-concurrency'] }, gatewayEnv: {
    LONGLINK_MAX_STARTING_SESSIONS: o['max-starting'], LONGLINK_SESSION_START_TARGET_MS: o['target-ms'],
    LONGLINK_CONNECT_RATE: o['connect-rate'], LONGLINK_CONNECT_BURST: o['connect-burst'], LONGLINK_MAX_CONNECTIONS: '50000',
    // A few loopback addresses stand in for 15,000 clients' addresses: no per-source budget.
    LONGLINK_SOURCE_CONNECT_RATE: '0',
    LONGLINK_HB_MIN_MS: '1000', LONGLINK_LOG_LEVEL: 'warn',
  } }).then((c) => {
    cluster = c;
    if (PIN) {
      pinned = { bench: cpuListText(PIN.load), ...pinAll(clusterPids(c), PIN.cluster) };
      log(`${mode}: pinned the cluster to CPU ${cpuListText(PIN.cluster)} (${Object.keys(pinned).filter((k) => k !== 'bench').join(', ')}), this process and the clients to CPU ${cpuListText(PIN.load)}`);
    }
    return c;
  });
}

interface Step { t: number; opened: number[]; started: number[]; rejected: number[]; limit: number[]; latencyMs: number[]; shed: number[] }

function step(t: number, now: Array<GatewayScrape | undefined>): Step {
  return {
    t, opened: now.map((m) => m?.opened ?? NaN), started: now.map((m) => m?.started ?? NaN),
    rejected: now.map((m) => Object.values(m?.admissionRejections ?? {}).reduce((a, b) => a + b, 0)),
    limit: now.map((m) => m?.startLimit ?? NaN), latencyMs: now.map((m) => m?.startLatencyMs ?? NaN), shed: now.map((m) => m?.shed ?? NaN),
  };
}

/** Best rate of completed session starts over any 3 s of wall time (bestRate), summed over gateways (a failed scrape carries the last value). */
function bestRate3s(start: number[], steps: Step[]): number {
  const series = [{ t: 0, n: start.reduce((a, b) => a + b, 0) }];
  for (const s of steps) series.push({ t: s.t, n: Math.max(series.at(-1)!.n, s.started.reduce((a, b) => a + (Number.isNaN(b) ? 0 : b), 0)) });
  return bestRate(series, 3);
}

/** Failed attempts by kind: refused before the upgrade (by HTTP status), and closes before hello or after it (by close code). */
function failureSplit(statuses: Record<string, number>, codes: Record<string, number>): { c503: number; c1011: number; c1013: number; other: number; share503: number } {
  const c503 = statuses['503'] ?? 0, c1011 = codes['1011'] ?? 0, c1013 = codes['1013'] ?? 0;
  const all = Object.values(statuses).reduce((a, b) => a + b, 0) + Object.values(codes).reduce((a, b) => a + b, 0);
  return { c503, c1011, c1013, other: all - c503 - c1011 - c1013, share503: all > 0 ? Math.round((c503 / all) * 1000) / 1000 : 1 };
}

const diff = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]).filter(([, v]) => (v as number) > 0));

async function storm(mode: RetryModeName): Promise<StormResult> {
  const c = await stormCluster(mode);
  const [victim, ...others] = c.gateways;
  const prefix = `st-${mode}-`;
  const shares = splitWork({ connections: N, workers: W, sources: Array.from({ length: W * 2 }, (_, i) => `127.0.0.${2 + i}`) });
  const agg = new Aggregator(Date.now());
  await forkWorkers(shares, agg, (s) => ({ urls: [victim!.url], first: s.first, count: s.count, sources: s.sources, secret: CLUSTER_SECRET, userPrefix: prefix,
    hbMs: Number(o.hb), retry: mode, concurrency: 64, sampleMs: 250, recordSeqs: true, driver: DRIVER }));
  shares.forEach((s, i) => workers[i]!.send({ cmd: 'start', ratePerS: (Number(o['ramp-rate']) * s.count) / N }));
  // Setup, not measured: on a busy machine the gateway's adaptive limit spreads the ramp too (Retry-After up to 30 s).
  const rampDeadline = Date.now() + ((N / Number(o['ramp-rate'])) * 3 + 180) * 1000;
  while (agg.gauge().open < N && Date.now() < rampDeadline) await sleep(250);
  if (agg.gauge().open < N) throw new Error(`only ${agg.gauge().open}/${N} connected to ${victim!.id}`);
  log(`${mode}: ${N} clients on ${victim!.id}; pushing ${PUSH_RATE}/s, then SIGKILL ${victim!.id}…`);
  const failedBefore = agg.totals.failed, statusesBefore = { ...agg.statuses }, codesBefore = { ...agg.codes };
  const pusher = new Pusher(c.apiUrl, CLUSTER_API_KEY, 64, true);
  const pusherStart = performance.now();
  pusher.start(PUSH_RATE, () => `${prefix}${Math.floor(Math.random() * N)}`);
  await sleep(2000);
  const before = await Promise.all(others.map((g) => scrapeGateway(g.httpUrl)));
  const j0 = machineJiffies();
  agg.phase = 'storm';
  for (const w of workers) w.send({ cmd: 'mark' });
  const tKill = performance.now();
  const killed = c.killGateway(0);
  // The balancer drops the dead backend as soon as it is gone (the TCP balancer does it on exit).
  for (const w of workers) w.send({ cmd: 'backends', urls: others.map((g) => g.url) });
  await killed;
  // --redis-stall: freeze Redis a few times during the storm (store calls time out, late ones still run).
  let stalled = 0;
  const stallTimers = STALL_MS > 0 ? Array.from({ length: STALLS }, (_, i) => setTimeout(() => {
    c.redis.pause();
    stalled++;
    stallTimers.push(setTimeout(() => c.redis.resume(), STALL_MS));
  }, STALL_AT + i * 2500)) : [];

  // Watch the survivors' own counters: accepted connects and 503s, in 250 ms steps.
  const steps: Step[] = [];
  const trace: StormSample[] = [];
  const cpu = (pid: number | undefined): number => { try { return pid === undefined ? 0 : cpuMicros(pid); } catch { return 0; } };
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + (Number.isNaN(b) ? 0 : b), 0);
  const sampleNow = (t: number, st: Step | undefined): void => {
    const g = agg.gauge(), last = trace.at(-1);
    trace.push({ t, started: st ? Math.max(last?.started ?? 0, sum(st.started)) : sum(before.map((m) => m?.started ?? 0)),
      refused: st ? Math.max(last?.refused ?? 0, sum(st.rejected)) : sum(before.map((m) => Object.values(m?.admissionRejections ?? {}).reduce((a, b) => a + b, 0))),
      open: g.open, connecting: g.connecting, waiting: g.waiting, c503: agg.statuses['503'] ?? 0, c1011: agg.codes['1011'] ?? 0, retryAfter: { ...agg.retryAfter },
      cpuClients: sum(workers.map((w) => cpu(w.pid))), cpuGateways: others.map((x) => cpu(x.proc.child.pid)), cpuRouter: cpu(c.routers[0]?.proc.child.pid), jiffies: machineJiffies(),
      cpuOther: cpu(process.pid) + cpu(c.nats.pid(0)) + cpu(c.redis.pid), cpuBench: cpu(process.pid), clientLagMs: agg.takeStepLag() });
  };
  sampleNow(0, undefined);
  let recoverS: number | undefined;
  while (performance.now() - tKill < TIMEOUT_S * 1000) {
    await sleep(250);
    const now = await Promise.all(others.map((g) => scrapeGateway(g.httpUrl, 2000)));
    steps.push(step((performance.now() - tKill) / 1000, now));
    sampleNow(steps.at(-1)!.t, steps.at(-1));
    if (recoverS === undefined && allReconnected(agg.gauge().open, agg.reconnect.n, N)) { recoverS = (performance.now() - tKill) / 1000; break; }
  }
  const j1 = machineJiffies();
  for (const t of stallTimers) clearTimeout(t);
  c.redis.resume();
  const seconds = perSecond(trace);
  log(`${mode}: per-second timeline after the kill\n${timelineText(seconds)}`);
  // The same series as bestRate3s (the trace carries a failed scrape's last value too), for where its window lies.
  const win = bestWindow(trace.map((x) => ({ t: x.t, n: x.started })), 3);
  const lost = lostByPhase(trace, win.rate, cpus().length);
  log(`${mode}: seconds above the ideal by phase (best 3 s: ${Math.round(win.rate)}/s at ${win.from.toFixed(1)}–${win.to.toFixed(1)} s)\n${phaseText(lost)}`);
  await sleep(2000); // pushes keep flowing to the recovered clients
  await pusher.stop();
  const after = await Promise.all(others.map((g) => scrapeGateway(g.httpUrl)));
  const router = await scrapeRouterResumes(c.apiUrl);

  // Every push the router accepted (sent, or stored for an offline user) must have arrived.
  let checked: number, missing: number;
  const samples: string[] = [];
  const verifyDeadline = Date.now() + 30_000;
  while (true) {
    checked = 0; missing = 0; samples.length = 0;
    const replies = await Promise.all(workers.map((w, i) => {
      const s = shares[i]!;
      const expected: Record<string, number[]> = {};
      for (let n = s.first; n < s.first + s.count; n++) { const l = pusher.accepted.get(`${prefix}${n}`); if (l) expected[`${prefix}${n}`] = l; }
      return ask<{ checked: number; missing: number; samples: string[] }>(w, { cmd: 'verify', expected }, 'verify', 30_000);
    }));
    for (const r of replies) { checked += r.checked; missing += r.missing; samples.push(...r.samples); }
    if (missing === 0 || Date.now() > verifyDeadline) break;
    await sleep(1000);
  }
  // Lost pushes: what the router answered, and what its directory lists for the user now.
  const diagnosis: string[] = [];
  for (const sample of samples.slice(0, 5)) {
    const key = sample.split(' ')[0]!;
    const presence = await c.api('GET', `/v1/presence/${encodeURIComponent(key.split('#')[0]!)}`).catch(() => undefined);
    diagnosis.push(`${key} answered ${pusher.outcomes.get(key) ?? '?'} (kill at ${Math.round(tKill - pusherStart)}ms); directory now ${JSON.stringify(presence?.body)}`);
  }
  await Promise.all(workers.map((w) => ask(w, { cmd: 'stop' }, 'stopped', 10_000).catch(() => undefined)));
  workers = [];
  // --cpu-prof: SIGTERM, so the profiles are written.
  await (o['cpu-prof'] ? c.shutdown() : c.stop());
  cluster = undefined;

  // Peak connect rate per gateway: accepted connects in any 1 s window (4 consecutive 250 ms steps).
  const peak = others.map((_, g) => {
    const series = [before[g]?.opened ?? 0, ...steps.map((s) => s.opened[g]!)];
    let best = 0;
    for (let i = 0; i + 4 < series.length; i++) best = Math.max(best, series[i + 4]! - series[i]!);
    if (series.length <= 4) best = series.at(-1)! - series[0]!;
    return best;
  });
  const rejected = others.map((_, g) => Object.values(after[g]?.admissionRejections ?? {}).reduce((a, b) => a + b, 0) -
    Object.values(before[g]?.admissionRejections ?? {}).reduce((a, b) => a + b, 0));
  const client503 = (agg.statuses['503'] ?? 0) - (statusesBefore['503'] ?? 0);
  const throughput = bestRate3s(before.map((m) => m?.started ?? 0), steps);
  // 1006: the kill itself (one per client), not a failed attempt.
  const { 1006: _killed, ...stormCodes } = diff(agg.codes, codesBefore);
  const split = failureSplit(diff(agg.statuses, statusesBefore), stormCodes);
  return {
    start_throughput_per_s: Math.round(throughput), ...idealOf(N, throughput, recoverS),
    failures: split, push_api_timeouts: pusher.stats.errorSamples['request timeout'] ?? 0,
    mode, connections: N, recover_s: recoverS === undefined ? -1 : Math.round(recoverS * 100) / 100,
    reconnect_ms: agg.reconnect.summary(), reconnected: agg.reconnect.n, resumed: agg.totals.resumed,
    peak_connect_rate_per_gateway: Object.fromEntries(others.map((g, i) => [g.id, peak[i]!])),
    admission_rejections_503: rejected.reduce((a, b) => a + b, 0), client_seen_503: client503,
    admitted_on_return: others.reduce((a, _, g) => a + (after[g]?.admittedOnReturn ?? 0) - (before[g]?.admittedOnReturn ?? 0), 0),
    failed_attempts: agg.totals.failed - failedBefore, failed_by_error: agg.errors,
    connections_after: Object.fromEntries(others.map((g, i) => [g.id, after[i]?.connections ?? -1])),
    pushes: { requests: pusher.stats.requests, sent: pusher.stats.sent, offline: pusher.stats.offline, errors: pusher.stats.errors, checked, lost: missing, lost_samples: samples, lost_diagnosis: diagnosis },
    router_resumes: router,
    ...(STALL_MS > 0 ? { store_stalls: { count: stalled, ms: STALL_MS }, closed_4003: stormCodes['4003'] ?? 0, left_out: N - agg.reconnect.n } : {}),
    unexpected_closes: agg.totals.unexpectedCloses, closes_by_code: agg.codes, attempt_to_hello_ms: agg.merged(['storm']).connect.summary(),
    push_error_samples: pusher.stats.errorSamples, machine_busy_pct_storm: busyPct(j0, j1),
    ...(PIN ? { pinned: { ...pinned } } : {}), timeline_1s: seconds, lost_by_phase: lost, best_window_s: [Math.round(win.from * 100) / 100, Math.round(win.to * 100) / 100],
    timeline: steps.map((s) => ({ t: Math.round(s.t * 100) / 100, opened: s.opened, started: s.started, rejected: s.rejected, limit: s.limit, latency_ms: s.latencyMs, shed: s.shed })),
  };
}

/** --scenario connect: every client connects at once (all handshakes in flight together); no kill. */
async function connectStorm(mode: RetryModeName): Promise<ConnectResult> {
  const c = await stormCluster(`${mode}, all at once`);
  const prefix = `cs-${mode}-`;
  const shares = splitWork({ connections: N, workers: W, sources: Array.from({ length: W * 2 }, (_, i) => `127.0.0.${2 + i}`) });
  const agg = new Aggregator(Date.now());
  await forkWorkers(shares, agg, (s) => ({ urls: c.gateways.map((g) => g.url), first: s.first, count: s.count, sources: s.sources, secret: CLUSTER_SECRET, userPrefix: prefix,
    hbMs: Number(o.hb), retry: mode, concurrency: s.count, sampleMs: 250, driver: DRIVER }));
  const before = await Promise.all(c.gateways.map((g) => scrapeGateway(g.httpUrl)));
  const j0 = machineJiffies();
  agg.phase = 'storm';
  for (const w of workers) w.send({ cmd: 'mark' });
  const t0 = performance.now();
  log(`${mode}: ${N} clients connecting at once to ${c.gateways.length} gateway(s)…`);
  for (const w of workers) w.send({ cmd: 'start', ratePerS: 1e9 });
  const steps: Step[] = [];
  let allInS: number | undefined;
  while (performance.now() - t0 < TIMEOUT_S * 1000) {
    await sleep(250);
    steps.push(step((performance.now() - t0) / 1000, await Promise.all(c.gateways.map((g) => scrapeGateway(g.httpUrl, 2000)))));
    if (agg.gauge().open >= N) { allInS = (performance.now() - t0) / 1000; break; }
  }
  const j1 = machineJiffies();
  await sleep(500); // the last samples
  const after = await Promise.all(c.gateways.map((g) => scrapeGateway(g.httpUrl)));
  const router = await scrapeRouterResumes(c.apiUrl);
  await Promise.all(workers.map((w) => ask(w, { cmd: 'stop' }, 'stopped', 10_000).catch(() => undefined)));
  workers = [];
  // --cpu-prof: SIGTERM, so the profiles are written.
  await (o['cpu-prof'] ? c.shutdown() : c.stop());
  cluster = undefined;
  const throughput = bestRate3s(before.map((m) => m?.started ?? 0), steps);
  const idealS = N / Math.max(1, throughput);
  const sumReasons = (k: 'admissionRejections' | 'closedByReason'): Record<string, number> => {
    const out: Record<string, number> = {};
    after.forEach((m, g) => { for (const [r, v] of Object.entries(m?.[k] ?? {})) out[r] = (out[r] ?? 0) + v - (before[g]?.[k][r] ?? 0); });
    return out;
  };
  return {
    scenario: 'connect', mode, connections: N, gateways: c.gateways.length, all_in_s: allInS === undefined ? -1 : Math.round(allInS * 100) / 100,
    connected: agg.gauge().open, start_throughput_per_s: Math.round(throughput), ideal_s: Math.round(idealS * 100) / 100,
    all_in_vs_ideal: allInS === undefined ? -1 : Math.round((allInS / idealS) * 100) / 100,
    per_client_ms: agg.reconnect.summary(), failures: failureSplit(agg.statuses, agg.codes), failed_by_error: agg.errors,
    admission_rejections: sumReasons('admissionRejections'), gateway_closes: sumReasons('closedByReason'), router_resumes: router,
    machine_busy_pct: busyPct(j0, j1),
    timeline: steps.map((s) => ({ t: Math.round(s.t * 100) / 100, started: s.started, rejected: s.rejected, limit: s.limit, latency_ms: s.latencyMs })),
  };
}

/** With --cpu-prof: where each profiled process spent its time (self time, top functions). */
function printProfiles(): void {
  const dir = o['cpu-prof'];
  if (!dir) return;
  for (const mode of existsSync(dir) ? readdirSync(dir) : []) for (const role of ['router', 'gateway']) {
    for (const f of profilesIn(path.join(dir, mode, role))) {
      const h = hotFunctions(f, 25);
      log(`profile ${mode}/${role} ${path.basename(f)}: ${h.totalMs} ms, idle ${h.idlePct}%, GC ${h.gcPct}%\n` +
        h.top.map((x) => `  ${String(x.pct).padStart(5)}%  ${x.fn}`).join('\n'));
    }
  }
}

async function main(): Promise<void> {
  const machine = await machineInfo();
  log(`machine: ${machine.cpus} cores, busy ${machine.busy_pct_before}% before start (load avg ${machine.loadavg_1m})`);
  // Before anything is forked: the workers and the hog inherit the load CPUs.
  if (PIN) pinAll({ bench: process.pid }, PIN.load);
  const hog = HOG > 0 ? await startCpuHog(HOG) : undefined;
  if (hog && PIN && o['pin-hog'] === 'cluster') pinAll({ hog: hog.pid! }, PIN.cluster);
  if (hog) log(`CPU hog running: ${HOG} of one core${PIN ? `, on the ${o['pin-hog']}'s CPU ${cpuListText(o['pin-hog'] === 'cluster' ? PIN.cluster : PIN.load)}` : ''}`);
  const admission = { target_ms: Number(o['target-ms']), max_starting: Number(o['max-starting']), connect_rate: Number(o['connect-rate']), connect_burst: Number(o['connect-burst']) };
  const head = { bench: 'storm', scenario: SCENARIO, driver: DRIVER, baseline: o.baseline, date: new Date().toISOString(), machine, connections: N, gateways: GATEWAYS, admission,
    resume_concurrency: Number(o['resume-concurrency']),
    ...(PIN ? { pin: { cluster: cpuListText(PIN.cluster), load: cpuListText(PIN.load), hog: HOG > 0 ? o['pin-hog'] : undefined } } : {}) };
  const builds: Array<{ build?: string; root: string }> = o.baseline
    ? [{ build: 'baseline', root: ensureBaseline(execFileSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim(), o.baseline, log) }, { build: 'this', root: '' }]
    : [{ root: '' }];
  const each = async <R>(run: (m: RetryModeName) => Promise<R>): Promise<R[]> => {
    const out: R[] = [];
    for (const m of modes) for (const b of builds) {
      ROOT = b.root;
      if (b.build) log(`${m}: build ${b.build}${b.root ? ` (${o.baseline}, ${b.root})` : ''}`);
      out.push({ ...(await run(m)), ...(b.build ? { build: b.build } : {}) });
    }
    return out;
  };
  if (SCENARIO === 'connect') {
    const results = await each(connectStorm);
    const hogShare = await hog?.stop();
    printProfiles();
    console.log(connectTable(results));
    console.log(JSON.stringify({ ...head, cpu_hog: hog ? { asked: HOG, got: hogShare } : undefined, results }));
    return;
  }
  const results = await each(storm);
  const hogShare = await hog?.stop();
  printProfiles();
  console.log(stormTable(results));
  const comparison = compareStorms(results);
  if (comparison) console.log(`\n${comparison.text}`);
  console.log(JSON.stringify({ ...head, cpu_hog: hog ? { asked: HOG, got: hogShare } : undefined, push_rate: PUSH_RATE, results, comparison: comparison?.ratios }));
}

main().then(() => process.exit(0), async (err: unknown) => {
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  await cluster?.stop().catch(() => undefined);
  process.exit(1);
});
