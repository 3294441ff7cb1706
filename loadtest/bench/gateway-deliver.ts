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
 * Builds run in rounds (--rounds), in the order new, older… then reversed
 * (ABBA), so a drift in the machine's load weighs on each build alike; the
 * table gives each build's mean over the rounds. Each bus message is sent in
 * its own socket write (deliver-publisher.ts); messages per write is reported.
 * The gateway's idle CPU over as long is subtracted from each window, and
 * counts come from the gateway and NATS (gateway-deliver-counts.ts). A window
 * that lost pushes gets no ratio and makes the run exit 1.
 *
 * Flags: --users 4000 --workers 2 --rate 1000 --duration 10000 --warmup 2000
 *        --per-msg 1,4 --hb 20000 --ack-batch 50 --rounds 2 --baseline 1cba12d,b1e9e3d (or "none")
 * Prints a table; the last line is one JSON object.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { benchArgs } from '../lib/cli-args.js';
import { killOnExit, clusterProcs } from '../lib/kill-on-exit.js';
import { startCluster, CLUSTER_SECRET, type Cluster } from '../../infra/local/cluster-harness.js';
import { subjects as makeSubjects } from '../../services/shared/bus/subjects.js';
import { cpuMicrosFine as cpuMicros } from './proc-stats.js';
import { gatewayDeliverCounts, type DeliverCounts } from './gateway-deliver-counts.js';
import { ensureBaseline, GATEWAY_ENV } from './push-systems.js';
import { closePushWorkers, collectPhase, forkPushWorkers, pushLoadOptions } from './push-workers.js';
import { countWrites, publishPaced, type WriteCounts } from './deliver-publisher.js';

const { values: o } = benchArgs('bench:gateway-deliver', { options: {
  ...pushLoadOptions('1000'),
  'per-msg': { type: 'string', default: '1,4' }, rounds: { type: 'string', default: '2' },
  baseline: { type: 'string', default: '1cba12d,b1e9e3d' },
} });
const N = Number(o.users), W = Number(o.workers), RATE = Number(o.rate), DURATION = Number(o.duration), WARMUP = Number(o.warmup);
const PER_MSG = o['per-msg'].split(',').filter((x) => x.trim() !== '').map(Number);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => { process.stderr.write(`[bench:gateway-deliver] ${s}\n`); };
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
  /** Bus messages per socket write of the publisher (1 when each left alone), the most in one, writes made behind unsent bytes. */
  msgs_per_write: number; max_msgs_per_write: number; writes_queued: number;
  /** false when a push was lost (received or delivered < published): the window's figures are not comparable. */
  complete: boolean;
  /** The gateway's CPU over the window, and what it spends idle (heartbeats, timers) over as long; per push/msg figures are the difference. */
  gateway_cpu_us: number; idle_cpu_us: number;
  gateway_us_per_push: number; gateway_us_per_msg: number; idle_us_per_push: number; gateway_cpu_pct: number;
  p50_ms: number; p99_ms: number;
}

/** The gateway's CPU per second with no pushes (its clients heartbeating), over `ms`. */
async function idleRate(c: Cluster, ms: number): Promise<number> {
  const pid = c.gateways[0]!.proc.child.pid!;
  const cpu0 = cpuMicros(pid), t0 = performance.now();
  await sleep(ms);
  return (cpuMicros(pid) - cpu0) / ((performance.now() - t0) / 1000);
}

async function window(c: Cluster, nc: NatsConnection, writes: WriteCounts | undefined, seqs: Int32Array, phase: number, durationMs: number, perMsg: number, cursor: { user: number }, idleUsPerS: number): Promise<Window> {
  const pid = c.gateways[0]!.proc.child.pid!;
  const pushes = Math.round((RATE * durationMs) / 1000 / perMsg) * perMsg;
  // Counted outside the timed span: a scrape is gateway work too.
  const n0: DeliverCounts = await gatewayDeliverCounts(c, c.gateways[0]!.id);
  const cpu0 = cpuMicros(pid), t0 = performance.now();
  const w0 = writes ? { ...writes, maxPerWrite: 0 } : undefined;
  if (writes) writes.maxPerWrite = 0;
  const msgs = await publishPaced(nc, { subject: makeSubjects().deliver(c.gateways[0]!.id), users: N, rate: RATE, pushes, perMsg, phase, seqs, cursor });
  const elapsedS = (performance.now() - t0) / 1000;
  // Pushes still in flight are the gateway's work too: count CPU until they arrived (or 3 s passed).
  const hist = await collectPhase(workers, phase, pushes, 3000, 50);
  const cpu = cpuMicros(pid) - cpu0, spanS = (performance.now() - t0) / 1000;
  const n1 = await gatewayDeliverCounts(c, c.gateways[0]!.id);
  const gwPushes = n1.pushes - n0.pushes, gwMsgs = n1.msgs - n0.msgs;
  const idle = idleUsPerS * spanS, net = Math.max(0, cpu - idle);
  const pubWrites = writes && w0 ? writes.writes - w0.writes : -1;
  return {
    per_msg: perMsg, pushes, msgs, gw_pushes: gwPushes, gw_msgs: gwMsgs, received: hist.n, elapsed_s: r1(elapsedS),
    msgs_per_write: pubWrites > 0 ? Math.round(((writes!.pubs - w0!.pubs) / pubWrites) * 100) / 100 : -1,
    max_msgs_per_write: writes ? writes.maxPerWrite : -1, writes_queued: writes && w0 ? writes.queued - w0.queued : -1,
    complete: hist.n >= pushes && gwPushes >= pushes && gwMsgs >= msgs,
    gateway_cpu_us: Math.round(cpu), idle_cpu_us: Math.round(idle),
    // Per what the gateway counted itself: a push it never delivered is no work to divide by.
    gateway_us_per_push: r1(net / Math.max(1, gwPushes)), gateway_us_per_msg: r1(net / Math.max(1, gwMsgs)),
    idle_us_per_push: r1(idle / Math.max(1, gwPushes)), gateway_cpu_pct: Math.round((cpu / 1e4) / spanS),
    p50_ms: r1(hist.percentileMs(0.5)), p99_ms: r1(hist.percentileMs(0.99)),
  };
}

async function measure(label: string, round: number, root: string): Promise<Run> {
  log(`${label} (round ${round}): starting (router, 1 gateway, NATS, Redis)…`);
  const c = (cluster = await startCluster({ gateways: 1, routers: 1, root, gatewayEnv: GATEWAY_ENV }));
  const nc = await connect({ servers: c.nats.urls });
  const writes = countWrites(nc);
  try {
    const ready = await forkPushWorkers(workers, [c.gateways[0]!.url], { users: N, workers: W, secret: CLUSTER_SECRET, hbMs: Number(o.hb), ackBatchMs: Number(o['ack-batch']) });
    const open = ready.reduce((a, x) => a + x.open, 0);
    if (open < N) throw new Error(`${label}: only ${open}/${N} clients connected`);
    await sleep(1000);
    // As long as a measured window: the idle cost subtracted from each (as bench:push's idle window).
    const idleUsPerS = await idleRate(c, DURATION);
    log(`${label}: idle gateway ${Math.round(idleUsPerS / 100) / 100} % of a core`);
    const seqs = new Int32Array(N);
    const cursor = { user: 0 };
    const windows: Window[] = [];
    let phase = 1;
    for (const perMsg of PER_MSG) {
      await window(c, nc, writes, seqs, phase++, WARMUP, perMsg, cursor, idleUsPerS);
      const w = await window(c, nc, writes, seqs, phase++, DURATION, perMsg, cursor, idleUsPerS);
      log(`${label} ${perMsg}/msg: gateway ${w.gateway_us_per_push} µs/push (idle ${w.idle_us_per_push} subtracted), ${w.gateway_us_per_msg} µs/msg, `
        + `received ${w.received}/${w.pushes}, delivered ${w.gw_pushes} in ${w.gw_msgs} msgs, ${w.msgs_per_write} msgs/write, p99 ${w.p99_ms} ms${w.complete ? '' : ' INCOMPLETE'}`);
      windows.push(w);
    }
    return { label, round, windows };
  } finally {
    await closePushWorkers(workers);
    workers = [];
    await nc.close().catch(() => undefined);
    await c.stop();
    cluster = undefined;
  }
}

interface Run { label: string; round: number; windows: Window[] }

/** Mean of `f` over the complete windows of `label` at `perMsg` (NaN when none). */
function meanOf(runs: Run[], label: string, perMsg: number, f: (w: Window) => number): number {
  const ws = runs.filter((r) => r.label === label).map((r) => r.windows.find((w) => w.per_msg === perMsg)!).filter((w) => w.complete);
  return ws.length === 0 ? NaN : r1(ws.reduce((a, w) => a + f(w), 0) / ws.length);
}

async function main(): Promise<number> {
  const git = (args: string[]): string => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  const baselines = o.baseline === 'none' ? [] : o.baseline.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const builds = [{ label: 'new', root: '' }, ...baselines.map((b) => ({ label: b, root: ensureBaseline(git(['rev-parse', '--show-toplevel']), b, log) }))];
  const results: Run[] = [];
  // ABBA: odd rounds new first, even rounds new last.
  for (let round = 1; round <= Number(o.rounds); round++) {
    for (const b of round % 2 === 1 ? builds : [...builds].reverse()) results.push(await measure(b.label, round, b.root));
  }
  console.log('\ngateway CPU per push (deliveries published straight to the gateway; idle CPU subtracted)');
  console.log('build         round  pushes/msg  µs/push  µs/msg  idle µs/push  msgs/write (max)  gw cpu %  received   p50 ms  p99 ms');
  for (const r of results) for (const w of r.windows) {
    console.log(`${r.label.padEnd(14)}${String(r.round).padStart(5)}${String(w.per_msg).padStart(12)}${String(w.gateway_us_per_push).padStart(9)}${String(w.gateway_us_per_msg).padStart(8)}`
      + `${String(w.idle_us_per_push).padStart(14)}${`${w.msgs_per_write} (${w.max_msgs_per_write})`.padStart(18)}${String(w.gateway_cpu_pct).padStart(10)}`
      + `${`${w.received}/${w.pushes}`.padStart(13)}${String(w.p50_ms).padStart(9)}${String(w.p99_ms).padStart(8)}`
      + (w.complete ? '' : '  INCOMPLETE: pushes lost, no ratio'));
  }
  // A window that lost pushes did less work than the other build's: out of the means and ratios, and the run fails.
  const incomplete = results.flatMap((r) => r.windows.filter((w) => !w.complete).map((w) => `${r.label} round ${r.round} ${w.per_msg}/msg`));
  const means = Object.fromEntries(builds.map((b) => [b.label, Object.fromEntries(PER_MSG.map((k) => [`${k}/msg`, {
    us_per_push: meanOf(results, b.label, k, (w) => w.gateway_us_per_push), us_per_msg: meanOf(results, b.label, k, (w) => w.gateway_us_per_msg),
  }]))]));
  const ratios: Record<string, Record<string, number | null>> = {};
  for (const b of builds.slice(1)) {
    ratios[`new ÷ ${b.label}`] = Object.fromEntries(PER_MSG.map((k) => {
      const x = means.new![`${k}/msg`]!.us_per_push / means[b.label]![`${k}/msg`]!.us_per_push;
      return [`${k}/msg`, Number.isFinite(x) ? Math.round(x * 100) / 100 : null];
    }));
  }
  console.log(`\nmeans over ${o.rounds} round(s), µs/push: ${JSON.stringify(means)}`);
  if (Object.keys(ratios).length > 0) console.log('gateway µs/push, new ÷ older build (same run, means): ' + JSON.stringify(ratios));
  if (incomplete.length > 0) console.log(`\nINCOMPLETE windows (pushes lost): ${incomplete.join(', ')}`);
  console.log(JSON.stringify({ bench: 'gateway-deliver', date: new Date().toISOString(), users: N, rate: RATE, duration_ms: DURATION, rounds: Number(o.rounds),
    results, means, ratios, incomplete }));
  return incomplete.length > 0 ? 1 : 0;
}

main().then((code) => process.exit(code), (err: unknown) => { console.error(err); process.exit(1); });
