/**
 * `npm run bench:push`: end-to-end push latency (HTTP API call → client
 * receive) and CPU per push, for this build and, in the same run, an older
 * commit (default: the push path before its rewrite), in two deployments:
 *  - cluster: 1 router, 2 gateways, nats-server and redis-server;
 *  - standalone: gateway + router in one process, in memory.
 * N users connect as raw protocol clients from worker processes
 * (push-worker.ts) that heartbeat, ack and timestamp every push they get.
 *
 * Per system (push-phase.ts):
 *  1. Latency at a fixed offered rate (default 2,000 single-user pushes/s,
 *     open loop), after a warm-up.
 *  2. Highest sustained rate, single-user pushes (--single-steps) and batch
 *     API pushes (--batch-steps, --batch-size messages of one user each);
 *     each sweep stops at its first failing step. A step passes when achieved
 *     ≥ 95 % of offered, every push accepted and received, and p99 < --p99-limit ms.
 *  3. Maximum-size batches (--max-batch messages × --max-batch-users users,
 *     --max-batch-parallel at once) with /healthz probed every 5 ms on the
 *     process handling them: the event-loop delay a bystander sees; and the
 *     event-loop delay sampled inside that process (loop-monitor.ts,
 *     preloaded into the router and standalone processes).
 * CPU per process group from /proc/<pid>/stat over each send window.
 *
 * Flags: --users 4000 --workers 2 --rate 2000 --duration 10000 --warmup 2000
 *        --single-steps 2000,3000,4000,5000,6000 --batch-steps 4000,8000,12000,16000
 *        --step-duration 5000 --batch-size 100 --concurrency 64 --hb 20000 --ack-batch 50
 *        --p99-limit 50 --max-batch 100 --max-batch-users 1000 --max-batch-parallel 3 --max-batch-ms 6000
 *        --systems cluster,standalone --baseline 1cba12d (or "none"; a list "1cba12d,<commit>" runs each, the first as "old") --profile <dir> (CPU profiles of this build)
 *        --api-servers uws,node (this build once per router API server, LONGLINK_API_SERVER; default: the configured one)
 *        --syscalls (Linux `perf stat` on the router / standalone process during the fixed phase, from 20 % into it for
 *        up to 4 s: system calls, socket writes and reads, loop waits, context switches and task clock per push; needs
 *        perf, and root for the syscall counts)
 *        --hops DIR (this build's cluster: per-hop timestamps of every push in the fixed phase, hop-probe.ts preloaded
 *        into the router and gateways, joined with the driver's send and the clients' receive times; a system-wide
 *        `perf sched record` over a window of the phase gives each hop's run-queue wait; hop-report.ts)
 *        --node-flags "FLAGS" (extra node / V8 flags for this build's router, gateways and standalone process, e.g.
 *        --single-threaded-gc; the baselines run without them)
 * Prints tables; the last line is one JSON object.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchArgs } from '../lib/cli-args.js';
import { hotFunctions, profilesIn } from '../lib/cpuprofile.js';
import { cpuDelta, cpuSnap, judge, machineStat, maxBatchPhase, runPhase, sleep, type MaxBatchResult, type PhaseResult, type PhaseSetup } from './push-phase.js';
import { ensureBaseline, startClusterSystem, startStandaloneSystem, type BenchSystem } from './push-systems.js';
import { closePushWorkers, forkPushWorkers, pushLoadOptions } from './push-workers.js';
import { ask } from '../lib/worker-ipc.js';
import { killOnExit } from '../lib/kill-on-exit.js';
import { spawnNode, type Spawned } from '../../infra/local/process.js';
import { printReport, type SystemResult } from './push-report.js';
import { perfStat, perUnit } from './perf-phase.js';
import { hopReport, printHops, type HopReport, type Marks } from './hop-report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: o } = benchArgs('bench:push', { options: {
  ...pushLoadOptions('2000'),
  'single-steps': { type: 'string', default: '2000,3000,4000,5000,6000' }, 'batch-steps': { type: 'string', default: '4000,8000,12000,16000' },
  'step-duration': { type: 'string', default: '5000' }, 'batch-size': { type: 'string', default: '100' },
  concurrency: { type: 'string', default: '64' }, 'p99-limit': { type: 'string', default: '50' },
  'max-batch': { type: 'string', default: '100' }, 'max-batch-users': { type: 'string', default: '1000' },
  'max-batch-parallel': { type: 'string', default: '3' }, 'max-batch-ms': { type: 'string', default: '6000' },
  systems: { type: 'string', default: 'cluster,standalone' }, baseline: { type: 'string', default: '1cba12d' },
  'api-servers': { type: 'string', default: '' },
  profile: { type: 'string', default: '' },
  syscalls: { type: 'boolean', default: false },
  hops: { type: 'string', default: '' },
  'node-flags': { type: 'string', default: '' },
} });
const NODE_FLAGS = o['node-flags'].split(/\s+/).filter((x) => x !== '');
const HOPS_DIR = o.hops !== '' ? path.resolve(o.hops) : undefined;
if (HOPS_DIR !== undefined) { mkdirSync(HOPS_DIR, { recursive: true }); process.env.LL_HOPS_DIR = HOPS_DIR; }
const N = Number(o.users), W = Number(o.workers), RATE = Number(o.rate), DURATION = Number(o.duration), WARMUP = Number(o.warmup);
const steps = (s: string): number[] => s.split(',').filter((x) => x.trim() !== '').map(Number);
const SINGLE_STEPS = steps(o['single-steps']), BATCH_STEPS = steps(o['batch-steps']), STEP_MS = Number(o['step-duration']);
const P99_LIMIT = Number(o['p99-limit']);
const setup: PhaseSetup = { users: N, batchSize: Number(o['batch-size']), concurrency: Number(o.concurrency), log: (s) => log(s) };
function log(s: string): void { process.stderr.write(`[bench:push] ${s}\n`); }

// ---- processes and cleanup ----------------------------------------------------------

let current: BenchSystem | undefined;
let workers: ChildProcess[] = [];
/** An idle Node process with the loop monitor: the machine's floor for event-loop delay (max-batch phase). */
let floor: { url: string; proc: Spawned } | undefined;
// BenchSystem.kill() and Spawned.kill() SIGKILL (what they do with no signal, too).
const killAllSync = killOnExit(() => [...workers, current, floor?.proc], { exitOnSignal: true });

async function closeWorkers(): Promise<void> {
  await closePushWorkers(workers);
  workers = [];
}

// ---- one system -----------------------------------------------------------------------

let nextPhase = 1;

/** SIGUSR2 to the hop probes (hop-probe.ts): each writes its marks and starts afresh. */
function signalProbes(s: BenchSystem): void {
  for (const pid of [...(s.groups().router ?? []), ...(s.groups().gateways ?? [])]) if (pid !== undefined) try { process.kill(pid, 'SIGUSR2'); } catch { /* gone */ }
}

/** `perf sched record` of the whole machine for `ms`, starting `afterMs` from now (monotonic clock, as the hop marks; ~1 MB a second). */
function schedWindow(file: string, afterMs: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    setTimeout(() => {
      const p = spawn('perf', ['sched', 'record', '-k', 'CLOCK_MONOTONIC', '-o', file, '--', 'sleep', String(ms / 1000)], { stdio: 'ignore' });
      p.on('error', () => resolve(false));
      p.on('exit', (code) => resolve(code === 0));
    }, afterMs);
  });
}

async function measure(s: BenchSystem, probed = false): Promise<SystemResult> {
  const t0 = performance.now();
  log(`${s.label}: connecting ${N} users from ${W} workers…`);
  const r = await forkPushWorkers(workers, s.wsUrls, { users: N, workers: W, secret: s.secret, hbMs: Number(o.hb), ackBatchMs: Number(o['ack-batch']), hops: probed });
  const open = r.reduce((a, x) => a + x.open, 0), failed = r.reduce((a, x) => a + x.failed, 0);
  log(`${s.label}: ${open} connected, ${failed} failed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (open < N) throw new Error(`${s.label}: only ${open}/${N} clients connected ${JSON.stringify(r.map((x) => x.errors))}`);

  const idle0 = cpuSnap(s, workers);
  await sleep(2000);
  const idleCpu = cpuDelta(idle0, cpuSnap(s, workers));

  // Presence reaches the router asynchronously: warm up until every push finds its user online.
  for (let k = 0; k < 5; k++) {
    const warm = await runPhase(s, workers, setup, nextPhase++, `warm-up ${k + 1}`, RATE, WARMUP, 'single');
    log(`${s.label} warm-up ${k + 1}: accepted ${warm.accepted}, offline ${warm.offline}, errors ${warm.errors}, p99 ${warm.p99_ms} ms`);
    if (warm.offline === 0 && warm.errors === 0) break;
  }
  // --hops: perf sched starts a second before the phase, so its own start-up (a burst of CPU) is not in the phase.
  let sched: Promise<boolean> | undefined;
  if (probed) sched = schedWindow(path.join(HOPS_DIR!, 'sched.data'), 0, DURATION + 1500);
  await sleep(1000);
  log(`${s.label}: ${RATE} single-user pushes/s for ${DURATION / 1000} s…`);
  // The process handling pushes: its system calls per push over a window inside the phase (--syscalls).
  const pid = o.syscalls ? (s.groups().router ?? s.groups().standalone)?.[0] : undefined;
  const statMs = Math.min(4000, DURATION / 2);
  const stat = pid !== undefined ? perfStat(pid, DURATION / 5, statMs) : undefined;
  let sends: Marks | undefined;
  if (probed) {
    signalProbes(s);
    await Promise.all(workers.map((w) => ask(w, { cmd: 'hops' }, 'hops')));
    sends = { keys: [], at: [] };
  }
  const fixed = judge(await runPhase(s, workers, setup, nextPhase++, `fixed ${RATE}/s`, RATE, DURATION, 'single', sends), P99_LIMIT);
  const counts = await stat;
  let hops: HopReport | undefined;
  if (probed) {
    signalProbes(s);
    const schedOk = await sched;
    await sleep(500);
    const clients = await Promise.all(workers.map(async (w) => ({ pid: w.pid!, marks: await ask<Marks>(w, { cmd: 'hops' }, 'hops') })));
    const g = s.groups();
    writeFileSync(path.join(HOPS_DIR!, 'clients.json'), JSON.stringify({ sends, clients, nats: g.nats?.[0] ?? 0, redis: g.redis?.[0] ?? 0, driver: process.pid }));
    hops = hopReport(HOPS_DIR!, sends!, clients, { nats: g.nats?.[0] ?? 0, redis: g.redis?.[0] ?? 0, driver: process.pid }, schedOk ? path.join(HOPS_DIR!, 'sched.data') : undefined);
    printHops(s.label, hops);
  }
  // Pushes in the window: the phase's achieved rate (open loop, so close to even over the phase).
  if (counts !== undefined) fixed.syscalls = perUnit(counts, Math.round(fixed.achieved_rate * statMs / 1000));
  log(`  → p50 ${fixed.p50_ms} ms, p99 ${fixed.p99_ms} ms, CPU µs/push ${JSON.stringify(fixed.cpu_us_per_msg)}${fixed.syscalls ? `, per push ${JSON.stringify(fixed.syscalls)}` : ''}`);
  const sweep = async (list: number[], mode: 'single' | 'batch'): Promise<PhaseResult[]> => {
    const out: PhaseResult[] = [];
    if (mode === 'batch' && list.length > 0) await runPhase(s, workers, setup, nextPhase++, 'batch warm-up', list[0]!, WARMUP, 'batch');
    for (const rate of list) {
      await sleep(1500); // let the ack / inbox-trim backlog of the previous phase drain
      const x = judge(await runPhase(s, workers, setup, nextPhase++, `step ${rate}/s`, rate, STEP_MS, mode), P99_LIMIT);
      out.push(x);
      log(`  ${s.label} ${mode} ${rate}/s → ${x.pass ? 'pass' : 'FAIL: ' + x.why!.join('; ')} (p99 ${x.p99_ms} ms, achieved ${x.achieved_rate}/s)`);
      if (!x.pass) break;
    }
    return out;
  };
  const single = await sweep(SINGLE_STEPS, 'single');
  const batch = await sweep(BATCH_STEPS, 'batch');
  let maxBatch: MaxBatchResult | undefined;
  if (Number(o['max-batch']) > 0) {
    await sleep(1500);
    log(`${s.label}: maximum-size batches (${o['max-batch']} × ${o['max-batch-users']} users, ${o['max-batch-parallel']} at once)…`);
    maxBatch = await maxBatchPhase(s, { messages: Number(o['max-batch']), usersPer: Number(o['max-batch-users']), parallel: Number(o['max-batch-parallel']),
      durationMs: Number(o['max-batch-ms']), probeMs: 5, ...(floor ? { floorUrl: floor.url } : {}) });
    log(`  → ${JSON.stringify(maxBatch)}`);
  }
  const totals = await Promise.all(workers.map((w) => ask<Record<string, number>>(w, { cmd: 'counts' }, 'counts')));
  const sum = (k: string): number => totals.reduce((a, x) => a + (Number(x[k]) || 0), 0);
  const best = (l: PhaseResult[]): number => l.filter((x) => x.pass).reduce((a, x) => Math.max(a, x.offered_rate), 0);
  return {
    label: s.label, kind: s.kind, fixed, single, batch, maxBatch, idleCpu, ...(hops ? { hops } : {}),
    maxSingle: best(single), maxBatched: best(batch),
    clients: { open, failed, unexpected_closes: sum('closedUnexpectedly'), reconnect_frames: sum('reconnectFrames'), error_frames: sum('errorFrames'), late_pushes: sum('late') },
  };
}

async function run(label: string, kind: 'cluster' | 'standalone', root: string, profileDir: string | undefined): Promise<SystemResult> {
  // The hop probe wraps this build's methods: the cluster of this checkout only.
  const probed = HOPS_DIR !== undefined && kind === 'cluster' && root === '';
  // The event-loop monitor goes into the process that handles the pushes (router, standalone), old and new alike.
  const nodeArgs = (role: string): string[] => {
    const out = role === 'gateway' ? [] : ['--import', pathToFileURL(path.join(here, 'loop-monitor.js')).href];
    if (probed && role !== 'standalone') out.push('--import', pathToFileURL(path.join(here, 'hop-probe.js')).href);
    if (root === '') out.push(...NODE_FLAGS);
    if (!profileDir) return out;
    mkdirSync(path.join(profileDir, role), { recursive: true });
    return [...out, '--cpu-prof', `--cpu-prof-dir=${path.join(profileDir, role)}`];
  };
  log(`starting ${label}…`);
  const s = (current = kind === 'cluster' ? await startClusterSystem({ label, root, nodeArgs }) : await startStandaloneSystem({ label, root, nodeArgs }));
  try {
    return await measure(s, probed);
  } finally {
    await closeWorkers();
    await s.stop();
    current = undefined;
  }
}

async function main(): Promise<number> {
  const t0 = performance.now();
  const idle0 = machineStat();
  await sleep(1000);
  const idle1 = machineStat();
  const preBusy = Math.round(((idle1[0] - idle0[0]) / Math.max(1, idle1[1] - idle0[1])) * 100);
  log(`machine busy before start: ${preBusy}% of ${availableParallelism()} cores${preBusy > 10 ? ' (other load present: compare ratios within this run)' : ''}`);
  // git is needed only to build a baseline; without one (an image, a root without git) the build is just "unknown".
  const git = (args: string[]): string => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  let head = 'unknown';
  try { head = git(['rev-parse', '--short=12', 'HEAD']); } catch { if (o.baseline !== 'none') throw new Error('bench:push --baseline needs git and a checkout (or --baseline none)'); }
  // The first baseline is "old" (the new ÷ old ratios); any further ones (e.g. the main branch's head) are labelled by commit.
  const baselines = o.baseline === 'none' ? [] : o.baseline.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const oldRoots = baselines.map((b, i) => ({ label: i === 0 ? 'old' : `base ${b}`, root: ensureBaseline(git(['rev-parse', '--show-toplevel']), b, log) }));
  if (Number(o['max-batch']) > 0) {
    const proc = spawnNode('-e', {}, ['setInterval(() => {}, 1e9)'], process.execPath, ['--import', pathToFileURL(path.join(here, 'loop-monitor.js')).href]);
    floor = { proc, url: (await proc.waitFor(/loop-monitor:\s+(http:\/\/\S+)/, 30_000))[1]! };
  }
  const kinds = o.systems.split(',').map((x) => x.trim()) as Array<'cluster' | 'standalone'>;
  const apiServers = o['api-servers'].split(',').map((x) => x.trim()).filter((x) => x !== '');
  for (const x of apiServers) if (x !== 'uws' && x !== 'node') throw new Error(`--api-servers: "${x}" is not uws or node`);
  const results: SystemResult[] = [];
  const profiles: Record<string, ReturnType<typeof hotFunctions>[]> = {};
  for (const kind of kinds) {
    // Alternate new and old per deployment, so both see similar background load.
    const dir = o.profile !== '' ? path.resolve(o.profile, `${kind}-${Date.now()}`) : undefined;
    if (apiServers.length === 0) results.push(await run(`${kind} new`, kind, '', dir));
    for (const server of apiServers) {
      // The router and standalone processes inherit it (spawnNode passes this process's environment).
      process.env.LONGLINK_API_SERVER = server;
      try {
        results.push(await run(`${kind} new ${server}`, kind, '', dir && path.join(dir, server)));
      } finally {
        delete process.env.LONGLINK_API_SERVER;
      }
    }
    for (const [d, name] of dir ? (apiServers.length === 0 ? [[dir, kind]] : apiServers.map((x) => [path.join(dir, x), `${kind} ${x}`])) : []) {
      for (const role of ['router', 'gateway', 'standalone']) for (const f of profilesIn(path.join(d!, role))) (profiles[`${name} ${role}`] ??= []).push(hotFunctions(f));
    }
    for (const b of oldRoots) results.push(await run(`${kind} ${b.label}`, kind, b.root, undefined));
  }
  const json = printReport(results, { rate: RATE, p99Limit: P99_LIMIT, profiles });
  console.log(JSON.stringify({
    bench: 'push', date: new Date().toISOString(), head, baseline: o.baseline, users: N, workers: W, concurrency: setup.concurrency, batch_size: setup.batchSize,
    p99_limit_ms: P99_LIMIT, offered_rate: RATE, preflight_machine_busy_pct: preBusy, cores: availableParallelism(), ...json,
    runtime_s: Math.round((performance.now() - t0) / 1000),
  }));
  return 0;
}

const watchdog = setTimeout(() => { log('watchdog: over 40 minutes, giving up'); killAllSync(); process.exit(2); }, 40 * 60_000);
watchdog.unref();
main().then((code) => process.exit(code), (err: unknown) => {
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  killAllSync();
  process.exit(1);
});
