/**
 * `npm run bench:heartbeat-cpu`: CPU per heartbeat of one Longlink gateway
 * process (cluster mode; router, NATS and Redis in their own processes) vs a
 * bare uWebSockets.js server (baseline-servers.ts: answers the 1-byte
 * heartbeat with a 1-byte ack, nothing else), both loaded AT THE SAME TIME by
 * the same kind of clients, so a busy shared machine disturbs both alike.
 * Optionally a third server: the gateway built from another tree
 * (--before DIR, a `dist/` of an older commit), for before/after in one run.
 *
 * Each server gets N connections (authenticated for the gateway), each
 * heartbeating with the 1-byte frame every --interval ms. With --clients
 * shared (the default) W × (number of servers) worker processes
 * (heartbeat-worker.ts) each hold an equal share of every server's
 * connections, opened interleaved, so no server's clients are forked,
 * connect or are scheduled before another's; with --clients per-server (the
 * layout before 2026-12-07) each server has its own W workers, started in
 * target order, and the place in that order alone moved a gateway's ratio
 * ~10 % (bare uWS second: 1.19–1.22×, third: 1.33–1.35×). A refused connect (e.g. the gateway's 503 while its
 * session starts queue on a busy machine) is retried, and the retries and
 * their reasons are reported per server. After the clients are up and a settle period, K windows
 * of --window ms are measured: per server, CPU time of all its threads (from
 * /proc/<pid>/task/<tid>/schedstat, nanoseconds; the gateway's GC and libuv
 * threads count) divided by the acks its clients received in the window. Per
 * window the ratio gateway / bare uWS is taken; the median over windows is
 * reported (and the median of each side's µs/heartbeat), with each server's
 * heartbeats per wake-up of its main thread (voluntary context switches from
 * /proc/<pid>/status): a server woken more often per heartbeat pays more
 * epoll waits and context switches for the same work; and its main thread's
 * preemptions (involuntary switches) per 1,000 heartbeats. The servers'
 * counters are read in an order that rotates by one place each window.
 *
 * Before any client connects, each server's fixed work is measured for
 * --idle ms (0 connections): CPU ms per second (all threads) and wake-ups per
 * second (voluntary context switches: the main thread's, all threads'): per-second work (timers,
 * the NATS connection) that a per-heartbeat ratio at ~1,000 heartbeats/s
 * cannot tell from the heartbeat's own cost.
 *
 * Flags: --connections N (10000 per server) --workers W (2 per server)
 *        --interval MS (5000) --window MS (5000) --windows K (9) --idle MS (5000; 0: skip)
 *        --clients shared|per-server (shared: every worker loads every server; per-server: the old layout, where places differ)
 *        --before DIR (dist/ of another build) --before-first (with --before: the other build takes the first place: target
 *        order, worker start and source addresses; processes still start in one order; alternate runs with and without it, as the place alone moved a gateway's ratio ~10 %)
 *        --cpu-prof DIR (profile the gateway)
 *        --gateway-flags="..." (node flags for the gateway, e.g. --perf-basic-prof)
 * Last line of output: one JSON object.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { benchArgs } from '../lib/cli-args.js';
import { fileURLToPath } from 'node:url';
import { CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { clusterProcs, killOnExit } from '../lib/kill-on-exit.js';
import { nextMessage } from '../lib/worker-ipc.js';
import { spawnNode } from '../../infra/local/process.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = benchArgs('bench:heartbeat-cpu', { options: {
  connections: { type: 'string', default: '10000' }, workers: { type: 'string', default: '2' },
  interval: { type: 'string', default: '5000' }, window: { type: 'string', default: '5000' }, windows: { type: 'string', default: '9' },
  before: { type: 'string' }, 'before-first': { type: 'boolean', default: false }, idle: { type: 'string', default: '5000' },
  'cpu-prof': { type: 'string' }, 'gateway-flags': { type: 'string' }, clients: { type: 'string', default: 'shared' },
} });
const N = Number(values.connections), W = Number(values.workers), INTERVAL = Number(values.interval);
const WINDOW = Number(values.window), WINDOWS = Number(values.windows);
const usage = (msg: string): never => { process.stderr.write(`bench:heartbeat-cpu: ${msg}\n`); process.exit(2); };
for (const [k, v] of Object.entries({ connections: N, workers: W, interval: INTERVAL, window: WINDOW, windows: WINDOWS })) {
  if (!Number.isFinite(v) || v <= 0) usage(`--${k} must be a number > 0 (got ${String(values[k as keyof typeof values])})`);
}
if (!(Number(values.idle) >= 0)) usage(`--idle must be a number ≥ 0 (got ${values.idle})`);
if (values['before-first'] && !values.before) usage('--before-first needs --before DIR');
if (values.clients !== 'shared' && values.clients !== 'per-server') usage(`--clients must be shared or per-server (got ${values.clients})`);
const SHARED = values.clients === 'shared';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU time (ns, schedstat's first field) of each thread of `pid`, by thread name (V8's workers share one). */
function threadCpuNs(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      const name = tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      byName.set(name, (byName.get(name) ?? 0) + ns);
    } catch {
      // thread exited between readdir and read
    }
  }
  return byName;
}

/**
 * The main thread's context switches: voluntary (it went to sleep in an
 * epoll wait that blocked, then was woken: fewer heartbeats per wake-up cost
 * more CPU per heartbeat, whatever the server's own code does) and
 * involuntary (preempted while runnable; each costs a switch-out, a wait in
 * the run queue and a switch-in with colder caches).
 */
function mainThreadSwitches(pid: number): { sleeps: number; preempted: number } {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    return {
      sleeps: Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(text)?.[1] ?? 0),
      preempted: Number(/^nonvoluntary_ctxt_switches:\s*(\d+)/m.exec(text)?.[1] ?? 0),
    };
  } catch {
    return { sleeps: 0, preempted: 0 };
  }
}

const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

/** Voluntary context switches (each a sleep and a wake-up) of every thread of `pid`, by thread id. */
function threadSleeps(pid: number): Map<string, number> {
  const by = new Map<string, number>();
  let tids: string[] = [];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { /* the process exited */ }
  for (const tid of tids) {
    try { by.set(tid, Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1] ?? 0)); }
    catch { /* the thread exited */ }
  }
  return by;
}

/**
 * Wake-ups between two snapshots of the same process: of its main thread, and of all its threads. Both from the same
 * two reads, and summed per thread (a thread that exited in between keeps the count it had; a new one counts from 0),
 * so all threads' count is never below the main thread's (two separate reads, or a thread that exited, could make it so).
 */
function sleepsBetween(pid: number, a: Map<string, number>, b: Map<string, number>): { main: number; all: number } {
  let all = 0;
  for (const [tid, n] of b) all += Math.max(0, n - (a.get(tid) ?? 0));
  const key = String(pid);
  return { main: Math.max(0, (b.get(key) ?? 0) - (a.get(key) ?? 0)), all };
}

/** Idle cost: CPU (ms/s, all threads), wake-ups of the main thread and of all threads (/s), over `ms`. */
interface Idle { cpu_ms_per_s: number; main_wakeups_per_s: number; wakeups_per_s: number }
async function idleCost(targets: readonly { pid: number }[], ms: number): Promise<Idle[]> {
  const c0 = targets.map((t) => total(threadCpuNs(t.pid)));
  const w0 = targets.map((t) => threadSleeps(t.pid));
  const t0 = performance.now();
  await sleep(ms);
  const s = (performance.now() - t0) / 1000;
  return targets.map((t, i) => {
    const cpu = total(threadCpuNs(t.pid));
    const w = sleepsBetween(t.pid, w0[i]!, threadSleeps(t.pid));
    return {
      cpu_ms_per_s: Number(((cpu - c0[i]!) / 1e6 / s).toFixed(3)),
      main_wakeups_per_s: Number((w.main / s).toFixed(1)),
      wakeups_per_s: Number((w.all / s).toFixed(1)),
    };
  });
}

interface WorkerStats { open: number; acks: number; sent: number; closedUnexpectedly: number; failed: number; retries: number; errors: Record<string, number> }

type Reply = WorkerStats & { targets: WorkerStats[] };
function ask(w: ChildProcess): Promise<Reply> {
  return new Promise((resolve) => {
    const on = (m: { type: string } & Reply): void => { if (m.type === 'stats') { w.off('message', on); resolve(m); } };
    w.on('message', on);
    w.send({ cmd: 'stats' });
  });
}

/** `slot`: the target's place in its workers' target lists (shared clients), undefined with per-server workers. */
interface Target { name: string; pid: number; url: string; secret?: string; workers: ChildProcess[]; slot?: number }

/**
 * Each target's counts, summed over its workers. Every worker is asked once
 * (shared workers serve several targets: a second request would leave a
 * reply that the next round's listener took for its own).
 */
async function statsOf(ts: readonly Target[]): Promise<WorkerStats[]> {
  const workers = [...new Set(ts.flatMap((t) => t.workers))];
  const replies = new Map(await Promise.all(workers.map(async (w) => [w, await ask(w)] as const)));
  return ts.map((t) => sumStats(t.workers.map((w) => { const r = replies.get(w)!; return t.slot === undefined ? r : r.targets[t.slot]!; })));
}

function sumStats(all: WorkerStats[]): WorkerStats {
  return all.reduce((a, x) => ({
    open: a.open + x.open, acks: a.acks + x.acks, sent: a.sent + x.sent, closedUnexpectedly: a.closedUnexpectedly + x.closedUnexpectedly,
    failed: a.failed + x.failed, retries: a.retries + x.retries, errors: mergeCounts(a.errors, x.errors),
  }));
}

function mergeCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

// Every process started here, killed if the bench ends early (the cluster's NATS and Redis guard themselves).
const children: ChildProcess[] = [];
let cluster: Cluster | undefined;
killOnExit(() => [...children, ...clusterProcs(cluster)], { exitOnSignal: true });

/**
 * Shared clients: W × targets workers, each with an equal share of every
 * target's N connections, opened interleaved (heartbeat-worker.ts), so every
 * server is loaded by the same processes.
 */
function startSharedWorkers(ts: Target[]): Promise<unknown> {
  const count = W * ts.length;
  const ready: Promise<void>[] = [];
  const workers: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    const share = (): number => Math.floor(N / count) + (i < N % count ? 1 : 0);
    const w = fork(path.join(here, 'heartbeat-worker.js'), [JSON.stringify({
      targets: ts.map((t) => ({ url: t.url, count: share(), prefix: `${t.name}${i}`, ...(t.secret !== undefined ? { secret: t.secret } : {}) })),
      localAddress: `127.0.0.${2 + i}`, intervalMs: INTERVAL, concurrency: 50,
    })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    workers.push(w);
    children.push(w);
    ready.push(nextMessage(w, 'ready').then(() => undefined));
  }
  ts.forEach((t, k) => { t.workers = workers; t.slot = k; });
  return Promise.all(ready);
}

function startWorkers(t: Target, addrBase: number): Promise<unknown> {
  const per = Math.ceil(N / W);
  const ready: Promise<void>[] = [];
  for (let i = 0; i < W; i++) {
    const w = fork(path.join(here, 'heartbeat-worker.js'), [JSON.stringify({
      url: t.url, count: Math.min(per, N - i * per), localAddress: `127.0.0.${addrBase + i}`, intervalMs: INTERVAL, prefix: `${t.name}${i}`, concurrency: 50,
      ...(t.secret !== undefined ? { secret: t.secret } : {}),
    })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    t.workers.push(w);
    children.push(w);
    ready.push(nextMessage(w, 'ready').then(() => undefined));
  }
  return Promise.all(ready);
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };

async function main(): Promise<void> {
  const gatewayEnv: Record<string, string> = {
    // Admission off as far as it goes: each worker connects thousands of clients from one address, which the
    // per-address budget (200/s, burst 1000) answers with 429s; the bare server has no such budget.
    LONGLINK_MAX_CONNECTIONS: '100000', LONGLINK_CONNECT_RATE: '100000', LONGLINK_CONNECT_BURST: '100000', LONGLINK_SOURCE_CONNECT_RATE: '0',
    LONGLINK_HB_MIN_MS: '1000', LONGLINK_WHEEL_TICK_MS: '500', LONGLINK_BEACON_INTERVAL_MS: '5000',
  };
  // Gateways started here rather than by the cluster helper, so node flags (--cpu-prof) can be passed.
  const c = (cluster = await startCluster({ gateways: 0, routerEnv: { LONGLINK_GATEWAY_LEASE_MS: '15000' } }));
  const gateways: ChildProcess[] = [];
  /** Each gateway's output (warn level and up), by pid: why session starts failed. */
  const gatewayOutput = new Map<number, () => string>();
  const startGateway = async (dist: string, id: string, nodeArgs: string[]): Promise<string> => {
    const p = spawnNode(path.join(dist, 'services/gateway/main.js'), {
      ...gatewayEnv, LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_GATEWAY_ID: id,
      LONGLINK_NATS_URLS: c.nats.urls.join(','), LONGLINK_JWT_SECRET: CLUSTER_SECRET, LONGLINK_LOG_LEVEL: 'warn',
    }, [], process.execPath, nodeArgs);
    gateways.push(p.child);
    gatewayOutput.set(p.child.pid!, p.output);
    children.push(p.child);
    return `ws://127.0.0.1:${(await p.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)\/ws/, 20_000))[1]}/ws`;
  };
  const gwFlags = [...(values['gateway-flags']?.split(' ').filter(Boolean) ?? []), ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(values['cpu-prof'])}`] : [])];
  const gwUrl = await startGateway(path.resolve(here, '../..'), 'gw-now', gwFlags);
  const uwsProc = spawnNode(path.join(here, 'baseline-servers.js'), {}, ['uws', String(INTERVAL)]);
  const uws = uwsProc.child;
  children.push(uws);
  const uwsPort = (await uwsProc.waitFor(/PORT (\d+)/, 20_000))[1]!;
  const targets: Target[] = [
    { name: 'longlink', pid: gateways[0]!.pid!, url: gwUrl, secret: CLUSTER_SECRET, workers: [] },
    { name: 'uws', pid: uws.pid!, url: `ws://127.0.0.1:${uwsPort}/ws`, workers: [] },
  ];
  try {
    if (values.before) {
      // The same gateway configuration, started from the other build, on the same NATS (its own gateway id).
      const url = await startGateway(path.resolve(values.before), 'gw-before', []);
      const before = { name: 'before', pid: gateways[1]!.pid!, url, secret: CLUSTER_SECRET, workers: [] };
      if (values['before-first']) targets.unshift(before);
      else targets.push(before);
    }
    const IDLE = Number(values.idle);
    let idle: Idle[] = [];
    if (IDLE > 0) {
      await sleep(Math.min(IDLE, 5000)); // start-up's compilation (V8's workers) and the NATS handshakes settle
      idle = await idleCost(targets, IDLE);
      process.stderr.write(`[bench:heartbeat-cpu] idle, 0 connections: ${targets.map((t, i) =>
        `${t.name} ${idle[i]!.cpu_ms_per_s} ms CPU/s, wake-ups/s ${idle[i]!.main_wakeups_per_s} main, ${idle[i]!.wakeups_per_s} all threads`).join('; ')}\n`);
    }
    process.stderr.write(`[bench:heartbeat-cpu] pids: ${targets.map((t) => `${t.name} ${t.pid}`).join(', ')}\n`);
    process.stderr.write(`[bench:heartbeat-cpu] ${targets.map((t) => t.name).join(', ')}: ${N} connections each, ` +
      `${SHARED ? `${W * targets.length} workers shared by all servers` : `${W} workers per server`}, heartbeat every ${INTERVAL} ms…\n`);
    // Distinct source addresses per worker (each has ~28k ephemeral ports).
    if (SHARED) await startSharedWorkers(targets);
    else await Promise.all(targets.map((t, k) => startWorkers(t, 2 + k * W)));
    await sleep(INTERVAL + 3000); // every client heartbeats; heaps settle
    const rows: Record<string, { us: number[]; hbPerS: number[]; hbPerWake: number[]; preemptPerK: number[] }> = {};
    for (const t of targets) rows[t.name] = { us: [], hbPerS: [], hbPerWake: [], preemptPerK: [] };
    /** Mean µs per heartbeat by thread (where the time goes: the main thread vs V8's GC/compiler workers). */
    const threads: Record<string, Map<string, number>> = {};
    for (const t of targets) threads[t.name] = new Map();
    const ratios: number[] = [];
    const beforeRatios: number[] = [];
    for (let k = 0; k < WINDOWS; k++) {
      const a0 = await statsOf(targets);
      // Read in an order rotating by one place per window, so no server's counters are always read first.
      const order = targets.map((_, i) => (i + k) % targets.length);
      const read = <T>(f: (t: Target) => T): T[] => { const out: T[] = []; for (const i of order) out[i] = f(targets[i]!); return out; };
      const th0 = read((t) => threadCpuNs(t.pid));
      const w0 = read((t) => mainThreadSwitches(t.pid));
      const t0 = performance.now();
      await sleep(WINDOW);
      const th1 = read((t) => threadCpuNs(t.pid));
      const w1 = read((t) => mainThreadSwitches(t.pid));
      const c0 = th0.map(total);
      const c1 = th1.map(total);
      const t1 = performance.now();
      const a1 = await statsOf(targets);
      const us = targets.map((t, i) => {
        const beats = a1[i]!.acks - a0[i]!.acks;
        rows[t.name]!.hbPerS.push(beats / ((t1 - t0) / 1000));
        rows[t.name]!.hbPerWake.push(beats / Math.max(1, w1[i]!.sleeps - w0[i]!.sleeps));
        rows[t.name]!.preemptPerK.push((w1[i]!.preempted - w0[i]!.preempted) * 1000 / Math.max(1, beats));
        const v = (c1[i]! - c0[i]!) / 1000 / Math.max(1, beats);
        rows[t.name]!.us.push(v);
        for (const [name, ns] of th1[i]!) {
          const per = threads[t.name]!;
          per.set(name, (per.get(name) ?? 0) + (ns - (th0[i]!.get(name) ?? 0)) / 1000 / Math.max(1, beats) / WINDOWS);
        }
        return v;
      });
      const at = (name: string): number | undefined => us[targets.findIndex((t) => t.name === name)];
      ratios.push(at('longlink')! / at('uws')!);
      const b = at('before');
      if (b !== undefined) beforeRatios.push(b / at('uws')!);
      process.stderr.write(`  window ${k + 1}/${WINDOWS}: ${targets.map((t, i) => `${t.name} ${us[i]!.toFixed(2)} µs`).join(', ')}; longlink/uws ${ratios.at(-1)!.toFixed(3)}\n`);
    }
    const end = await statsOf(targets);
    // Why any gateway connection closed (timeouts would mean the clients could not keep up).
    for (const t of targets) {
      if (t.secret === undefined) continue;
      const text = await (await fetch(t.url.replace('ws://', 'http://').replace(/\/ws$/, '/metrics'))).text();
      const closes = text.split('\n').filter((l) => l.startsWith('longlink_gateway_connections_closed_total{')).join(', ');
      if (closes) process.stderr.write(`  ${t.name} closes: ${closes}\n`);
      // A 1011 is logged 'resume failed' with its error: which one (a bus timeout, a store error…) says where it came from.
      const causes = new Map<string, number>();
      for (const line of (gatewayOutput.get(t.pid)?.() ?? '').split('\n')) {
        if (!line.includes('resume failed')) continue;
        const err = /"err":"([^"]*)"/.exec(line)?.[1]?.replace(/\d+/g, 'N') ?? 'unknown';
        causes.set(err, (causes.get(err) ?? 0) + 1);
      }
      if (causes.size > 0) process.stderr.write(`  ${t.name} failed starts (1011) by cause: ${[...causes].map(([k, v]) => `${v}× ${k}`).join('; ')}\n`);
    }
    const result = {
      bench: 'heartbeat-cpu', date: new Date().toISOString(), node: process.version, connections: N, interval_ms: INTERVAL, window_ms: WINDOW, windows: WINDOWS,
      clients: values.clients,
      servers: Object.fromEntries(targets.map((t, i) => [t.name, {
        cpu_us_per_heartbeat: Number(median(rows[t.name]!.us).toFixed(3)), heartbeats_per_s: Math.round(median(rows[t.name]!.hbPerS)),
        heartbeats_per_wakeup: Number(median(rows[t.name]!.hbPerWake).toFixed(2)),
        preemptions_per_1000_heartbeats: Number(median(rows[t.name]!.preemptPerK).toFixed(2)),
        threads_us_per_heartbeat: Object.fromEntries([...threads[t.name]!].filter(([, v]) => v >= 0.01).map(([k, v]) => [k, Number(v.toFixed(2))])),
        open: end[i]!.open, unexpected_closes: end[i]!.closedUnexpectedly, failed: end[i]!.failed,
        connect_retries: end[i]!.retries, connect_errors: end[i]!.errors,
        ...(idle[i] ? { idle_cpu_ms_per_s: idle[i].cpu_ms_per_s, idle_main_wakeups_per_s: idle[i].main_wakeups_per_s, idle_wakeups_per_s: idle[i].wakeups_per_s } : {}),
      }])),
      order: targets.map((t) => t.name),
      ratio_longlink_vs_uws: Number(median(ratios).toFixed(3)),
      ratio_range: [Number(Math.min(...ratios).toFixed(3)), Number(Math.max(...ratios).toFixed(3))],
      ...(beforeRatios.length ? { ratio_before_vs_uws: Number(median(beforeRatios).toFixed(3)) } : {}),
    };
    console.log('\nserver      µs/heartbeat (median)  heartbeats/s  per wake-up  preempted/1k  open  unexpected closes  connect retries');
    for (const [name, r] of Object.entries(result.servers)) {
      console.log(`${name.padEnd(10)} ${r.cpu_us_per_heartbeat.toFixed(3).padStart(21)} ${String(r.heartbeats_per_s).padStart(13)} ${r.heartbeats_per_wakeup.toFixed(2).padStart(12)} ` +
        `${r.preemptions_per_1000_heartbeats.toFixed(2).padStart(13)} ${String(r.open).padStart(5)}  ${String(r.unexpected_closes).padStart(17)}  ${r.connect_retries}` +
        (r.failed > 0 ? ` (${r.failed} never opened)` : ''));
      if (r.connect_retries > 0) console.log(`           connect errors: ${Object.entries(r.connect_errors).map(([k, v]) => `${v}× ${k}`).join('; ')}`);
      console.log(`           by thread (mean µs/heartbeat): ${Object.entries(r.threads_us_per_heartbeat).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
    console.log(`\nlonglink / bare uWS: median ${result.ratio_longlink_vs_uws}× over ${WINDOWS} windows (range ${result.ratio_range[0]}–${result.ratio_range[1]})` +
      (beforeRatios.length ? `; before / bare uWS: ${result.ratio_before_vs_uws}×` : ''));
    console.log(JSON.stringify(result));
  } finally {
    for (const w of new Set(targets.flatMap((t) => t.workers))) w.send({ cmd: 'close' });
    await sleep(500);
    uws.kill('SIGKILL');
    // SIGTERM: the gateway drains and exits normally, which is when --cpu-prof writes its profile.
    await Promise.all(gateways.map((g) => new Promise<void>((resolve) => {
      const t = setTimeout(() => { g.kill('SIGKILL'); resolve(); }, 15_000);
      g.once('exit', () => { clearTimeout(t); resolve(); });
      g.kill('SIGTERM');
    })));
    await c.shutdown();
    cluster = undefined;
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
