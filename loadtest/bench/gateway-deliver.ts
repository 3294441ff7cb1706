/**
 * `npm run bench:gateway-deliver`: the gateway's share of the push path
 * alone. Deliveries are published straight on one gateway's deliver subject
 * (the router's format, `{deliveries: [...]}`), at a fixed push rate and a
 * fixed number of pushes per bus message (--per-msg, one user per push), to
 * N protocol clients that ack as in bench:push (push-worker.ts). The
 * gateway process's CPU per push and per bus message is measured over the
 * window, for this build and older commits (--baseline) in the same run.
 *
 * Why: in bench:push the gateway's CPU per push follows how many pushes the
 * router packs into one bus message, which follows the router's speed and
 * the machine's load (a slow router queues, and so coalesces more); here
 * that packing is fixed, so builds compare on the gateway's own code, and
 * the per-message and per-push parts of its cost can be told apart.
 *
 * A router and Redis still run (session starts need them; the gateway's acks
 * go to the router, which finds nothing to trim): only the gateway is timed.
 * Each build gets fresh stores, so every user's sequence starts at 1 and the
 * pushes carry no epoch (the connection's own, as from an older router).
 *
 * Flags: --users 4000 --workers 2 --rate 1000 --duration 10000 --warmup 2000
 *        --per-msg 1,4 --hb 20000 --ack-batch 50 --baseline 1cba12d,b1e9e3d (or "none")
 * Prints a table; the last line is one JSON object.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { benchArgs } from '../lib/cli-args.js';
import { Histogram } from '../lib/histogram.js';
import { ask } from '../lib/worker-ipc.js';
import { killOnExit, clusterProcs } from '../lib/kill-on-exit.js';
import { startCluster, CLUSTER_SECRET, type Cluster } from '../../infra/local/cluster-harness.js';
import { subjects as makeSubjects } from '../../services/shared/bus/subjects.js';
import { cpuMicrosFine as cpuMicros } from './proc-stats.js';
import { gatewayDeliverCounts, type DeliverCounts } from './gateway-deliver-counts.js';
import { ensureBaseline, GATEWAY_ENV } from './push-systems.js';
import type { WorkerArgs } from './push-worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: o } = benchArgs('bench:gateway-deliver', { options: {
  users: { type: 'string', default: '4000' }, workers: { type: 'string', default: '2' },
  rate: { type: 'string', default: '1000' }, duration: { type: 'string', default: '10000' }, warmup: { type: 'string', default: '2000' },
  'per-msg': { type: 'string', default: '1,4' }, hb: { type: 'string', default: '20000' }, 'ack-batch': { type: 'string', default: '50' },
  baseline: { type: 'string', default: '1cba12d,b1e9e3d' },
} });
const N = Number(o.users), W = Number(o.workers), RATE = Number(o.rate), DURATION = Number(o.duration), WARMUP = Number(o.warmup);
const PER_MSG = o['per-msg'].split(',').filter((x) => x.trim() !== '').map(Number);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => { process.stderr.write(`[bench:gateway-deliver] ${s}\n`); };
const nowAbs = (): number => performance.timeOrigin + performance.now();
const r1 = (x: number): number => Math.round(x * 10) / 10;

let cluster: Cluster | undefined;
let workers: ChildProcess[] = [];
killOnExit(() => [...workers, ...clusterProcs(cluster)], { exitOnSignal: true });

interface Window {
  /** Published: `pushes` pushes in `msgs` bus messages. */
  per_msg: number; pushes: number; msgs: number;
  /** Counted by the gateway (pushes_delivered_total) and by NATS (messages sent on its deliver subscription), over the window. */
  gw_pushes: number; gw_msgs: number;
  received: number; elapsed_s: number;
  /** false when a push was lost (received or delivered < published): the window's figures are not comparable. */
  complete: boolean;
  /** The gateway's CPU over the window, and what it spends idle (heartbeats, timers) over as long; per push/msg figures are the difference. */
  gateway_cpu_us: number; idle_cpu_us: number;
  gateway_us_per_push: number; gateway_us_per_msg: number; idle_us_per_push: number; gateway_cpu_pct: number;
  p50_ms: number; p99_ms: number;
}

/** Publishes `pushes` pushes, `perMsg` users per bus message, paced to RATE pushes/s; next seq per user in `seqs`. */
async function publish(nc: NatsConnection, subject: string, seqs: Int32Array, phase: number, pushes: number, perMsg: number, cursor: { user: number }): Promise<number> {
  const msgs = Math.ceil(pushes / perMsg);
  const intervalMs = (perMsg * 1000) / RATE;
  const start = performance.now();
  for (let m = 0; m < msgs;) {
    const due = Math.min(msgs, Math.floor((performance.now() - start) / intervalMs) + 1);
    for (; m < due; m++) {
      const deliveries = [];
      for (let k = 0; k < perMsg; k++) {
        const u = cursor.user;
        cursor.user = (u + 1) % N;
        const seq = ++seqs[u]!;
        deliveries.push({ user: `u${u}`, pushes: [{ seq, id: `g${phase}-${u}-${seq}`, ts: Date.now(), data: JSON.stringify({ t: nowAbs(), p: phase }) }] });
      }
      nc.publish(subject, JSON.stringify({ deliveries }));
    }
    await sleep(Math.max(0, start + m * intervalMs - performance.now()));
  }
  await nc.flush();
  return msgs;
}

/** The gateway's CPU per second with no pushes (its clients heartbeating), over `ms`. */
async function idleRate(c: Cluster, ms: number): Promise<number> {
  const pid = c.gateways[0]!.proc.child.pid!;
  const cpu0 = cpuMicros(pid), t0 = performance.now();
  await sleep(ms);
  return (cpuMicros(pid) - cpu0) / ((performance.now() - t0) / 1000);
}

async function window(c: Cluster, nc: NatsConnection, seqs: Int32Array, phase: number, durationMs: number, perMsg: number, cursor: { user: number }, idleUsPerS: number): Promise<Window> {
  const pid = c.gateways[0]!.proc.child.pid!;
  const pushes = Math.round((RATE * durationMs) / 1000 / perMsg) * perMsg;
  // Counted outside the timed span: a scrape is gateway work too.
  const n0: DeliverCounts = await gatewayDeliverCounts(c, c.gateways[0]!.id);
  const cpu0 = cpuMicros(pid), t0 = performance.now();
  const msgs = await publish(nc, makeSubjects().deliver(c.gateways[0]!.id), seqs, phase, pushes, perMsg, cursor);
  const elapsedS = (performance.now() - t0) / 1000;
  // Pushes still in flight are the gateway's work too: count CPU until they arrived (or 3 s passed).
  const until = performance.now() + 3000;
  for (;;) {
    const counts = await Promise.all(workers.map((w) => ask<{ received: Record<string, number> }>(w, { cmd: 'counts' }, 'counts')));
    if (counts.reduce((a, x) => a + (x.received[phase] ?? 0), 0) >= pushes || performance.now() > until) break;
    await sleep(50);
  }
  const cpu = cpuMicros(pid) - cpu0, spanS = (performance.now() - t0) / 1000;
  const n1 = await gatewayDeliverCounts(c, c.gateways[0]!.id);
  const gwPushes = n1.pushes - n0.pushes, gwMsgs = n1.msgs - n0.msgs;
  const idle = idleUsPerS * spanS, net = Math.max(0, cpu - idle);
  const parts = await Promise.all(workers.map((w) => ask<{ hist: ReturnType<Histogram['toSparse']> }>(w, { cmd: 'phase', id: phase }, 'phase')));
  const hist = new Histogram();
  for (const p of parts) hist.merge(p.hist);
  return {
    per_msg: perMsg, pushes, msgs, gw_pushes: gwPushes, gw_msgs: gwMsgs, received: hist.n, elapsed_s: r1(elapsedS),
    complete: hist.n >= pushes && gwPushes >= pushes && gwMsgs >= msgs,
    gateway_cpu_us: Math.round(cpu), idle_cpu_us: Math.round(idle),
    // Per what the gateway counted itself: a push it never delivered is no work to divide by.
    gateway_us_per_push: r1(net / Math.max(1, gwPushes)), gateway_us_per_msg: r1(net / Math.max(1, gwMsgs)),
    idle_us_per_push: r1(idle / Math.max(1, gwPushes)), gateway_cpu_pct: Math.round((cpu / 1e4) / spanS),
    p50_ms: r1(hist.percentileMs(0.5)), p99_ms: r1(hist.percentileMs(0.99)),
  };
}

async function measure(label: string, root: string): Promise<{ label: string; windows: Window[] }> {
  log(`${label}: starting (router, 1 gateway, NATS, Redis)…`);
  const c = (cluster = await startCluster({ gateways: 1, routers: 1, root, gatewayEnv: GATEWAY_ENV }));
  const nc = await connect({ servers: c.nats.urls });
  try {
    const per = Math.ceil(N / W);
    const ready: Array<Promise<{ open: number }>> = [];
    for (let i = 0; i < W; i++) {
      const args: WorkerArgs = { urls: [c.gateways[0]!.url], first: i * per, count: Math.max(0, Math.min(per, N - i * per)),
        localAddress: `127.0.0.${2 + i}`, secret: CLUSTER_SECRET, intervalMs: Number(o.hb), ackBatchMs: Number(o['ack-batch']), concurrency: 50 };
      const w = fork(path.join(here, 'push-worker.js'), [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.push(w);
      ready.push(ask(w, {}, 'ready', 120_000));
    }
    const open = (await Promise.all(ready)).reduce((a, x) => a + x.open, 0);
    if (open < N) throw new Error(`${label}: only ${open}/${N} clients connected`);
    await sleep(1000);
    // As long as a measured window: the idle cost subtracted from each (as bench:push's idle window).
    const idleUsPerS = await idleRate(c, DURATION);
    log(`${label}: idle gateway ${Math.round(idleUsPerS / 1e4) / 100} % of a core`);
    const seqs = new Int32Array(N);
    const cursor = { user: 0 };
    const windows: Window[] = [];
    let phase = 1;
    for (const perMsg of PER_MSG) {
      await window(c, nc, seqs, phase++, WARMUP, perMsg, cursor, idleUsPerS);
      const w = await window(c, nc, seqs, phase++, DURATION, perMsg, cursor, idleUsPerS);
      log(`${label} ${perMsg}/msg: gateway ${w.gateway_us_per_push} µs/push (idle ${w.idle_us_per_push} subtracted), ${w.gateway_us_per_msg} µs/msg, `
        + `received ${w.received}/${w.pushes}, delivered ${w.gw_pushes} in ${w.gw_msgs} msgs, p99 ${w.p99_ms} ms${w.complete ? '' : ' INCOMPLETE'}`);
      windows.push(w);
    }
    return { label, windows };
  } finally {
    for (const w of workers) if (w.connected) w.send({ cmd: 'close' });
    await sleep(300);
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    workers = [];
    await nc.close().catch(() => undefined);
    await c.stop();
    cluster = undefined;
  }
}

async function main(): Promise<number> {
  const git = (args: string[]): string => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  const baselines = o.baseline === 'none' ? [] : o.baseline.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const builds = [{ label: 'new', root: '' }, ...baselines.map((b) => ({ label: b, root: ensureBaseline(git(['rev-parse', '--show-toplevel']), b, log) }))];
  const results = [];
  for (const b of builds) results.push(await measure(b.label, b.root));
  console.log('\ngateway CPU per push (deliveries published straight to the gateway; idle CPU subtracted)');
  console.log('build         pushes/msg  µs/push  µs/msg  idle µs/push  gw cpu %  received   p50 ms  p99 ms');
  for (const r of results) for (const w of r.windows) {
    console.log(`${r.label.padEnd(14)}${String(w.per_msg).padStart(10)}${String(w.gateway_us_per_push).padStart(9)}${String(w.gateway_us_per_msg).padStart(8)}`
      + `${String(w.idle_us_per_push).padStart(14)}${String(w.gateway_cpu_pct).padStart(10)}${`${w.received}/${w.pushes}`.padStart(13)}${String(w.p50_ms).padStart(9)}${String(w.p99_ms).padStart(8)}`
      + (w.complete ? '' : '  INCOMPLETE: pushes lost, no ratio'));
  }
  // A window that lost pushes did less work than the other build's: no ratio for it, and the run fails.
  const incomplete = results.flatMap((r) => r.windows.filter((w) => !w.complete).map((w) => `${r.label} ${w.per_msg}/msg`));
  const ratios: Record<string, Record<string, number | null>> = {};
  for (const r of results.slice(1)) {
    ratios[`new ÷ ${r.label}`] = Object.fromEntries(results[0]!.windows.map((w, i) => {
      const o2 = r.windows[i]!;
      return [`${w.per_msg}/msg`, w.complete && o2.complete ? Math.round((w.gateway_us_per_push / o2.gateway_us_per_push) * 100) / 100 : null];
    }));
  }
  if (Object.keys(ratios).length > 0) console.log('\ngateway µs/push, new ÷ older build (same run): ' + JSON.stringify(ratios));
  if (incomplete.length > 0) console.log(`\nINCOMPLETE windows (pushes lost): ${incomplete.join(', ')}`);
  console.log(JSON.stringify({ bench: 'gateway-deliver', date: new Date().toISOString(), users: N, rate: RATE, duration_ms: DURATION, results, ratios, incomplete }));
  return incomplete.length > 0 ? 1 : 0;
}

main().then((code) => process.exit(code), (err: unknown) => { console.error(err); process.exit(1); });
