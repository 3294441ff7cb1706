/**
 * `npm run bench:webhooks`: what webhooks cost the push path, and how fast
 * one router delivers them. One cluster (NATS with JetStream, Redis, one
 * gateway) with two routers: router A without webhooks, router B with a
 * `push.offline` endpoint, so every push sent through B (to an offline user)
 * becomes one signed, queued, delivered webhook. The receiver runs in its own
 * process (webhook-sink.ts).
 *
 * Rounds alternate three modes, each a closed loop of `--concurrency` push
 * calls for `--duration` ms (HTTP answer latency: validated, stored,
 * routed, event queued or not):
 *   off      through router A;
 *   on       through router B, receiver answering at once;
 *   on-slow  through router B, receiver answering after `--slow-ms`.
 * Then the same modes as an open loop at a fixed `--rate` (default: half of
 * what the off router sustained), the load a sized deployment runs at.
 * CPU per push of the router that took the pushes (main and dispatcher
 * threads) from /proc. Then the delivery rate: `--events` push.offline events enqueued at once
 * through B (batch pushes), timed until the receiver has every one.
 *
 * Every phase starts with the queue drained (the receiver answering at once):
 * a backlog left by `on-slow` would otherwise be delivered during the next
 * `off` phase and charge its CPU to webhooks off. The `on` phase's own
 * backlog at its end is timed as it drains (`drain_ms`), and `sustained`
 * counts that time in: pushes / (phase + drain), the rate at which pushes
 * and their deliveries both keep up.
 * CPU per push of every process of the cluster (router, NATS, Redis,
 * gateway, receiver, the driver itself) from /proc, per phase.
 *
 * Flags: --rounds 3 --duration 5000 --concurrency 8 --slow-ms 2000 --events 20000 --users 1000 --rate 0 (auto)
 *        --receiver node|raw (webhook-sink.ts: node:http, or a minimal responder standing in for a receiver on other machines)
 * Prints a table; the last line is one JSON object.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from '../lib/cli-args.js';
import { killOnExit } from '../lib/kill-on-exit.js';
import { CLUSTER_API_KEY, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { machineStat } from './push-phase.js';
import { cpuMicros, cpuMicrosFine } from './proc-stats.js';
import { mergeRounds, phaseStats, ratios, table, type Mode, type PhaseStats } from './webhooks-report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: o } = benchArgs('bench:webhooks', { options: {
  rounds: { type: 'string', default: '3' }, duration: { type: 'string', default: '5000' }, concurrency: { type: 'string', default: '8' },
  'slow-ms': { type: 'string', default: '2000' }, events: { type: 'string', default: '20000' }, users: { type: 'string', default: '1000' },
  rate: { type: 'string', default: '0' }, receiver: { type: 'string', default: 'node' },
} });
const RECEIVER = o.receiver === 'raw' ? 'raw' : 'node';
const ROUNDS = Number(o.rounds), DURATION = Number(o.duration), CONC = Number(o.concurrency), SLOW = Number(o['slow-ms']), EVENTS = Number(o.events), USERS = Number(o.users);
const log = (s: string): void => { process.stderr.write(`[bench:webhooks] ${s}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let cluster: Cluster | undefined;
let sink: ChildProcess | undefined;
const killSink = killOnExit(() => [sink]);
function killAll(): void {
  killSink();
  void cluster?.stop();
}

function ask<T>(msg: object, type: string, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`sink: no ${type}`)), timeoutMs);
    const on = (m: { type: string }): void => { if (m.type === type) { clearTimeout(t); sink!.off('message', on); resolve(m as T); } };
    sink!.on('message', on);
    if (Object.keys(msg).length > 0) sink!.send(msg);
  });
}

async function post(api: string, body: unknown): Promise<boolean> {
  try {
    const res = await fetch(`${api}/v1/push`, { method: 'POST', headers: { authorization: `Bearer ${CLUSTER_API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

interface Target { api: string; pid: number }
const cpuOf = (pid: number): number => { try { return cpuMicros(pid); } catch { return 0; } };
/** Processes whose CPU each phase reports, per push (the routers are counted as "router": the one that took the phase's pushes). */
let procs: Record<string, number> = {};
const cpuAll = (): Record<string, number> => Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuMicrosFine(pid)]));
const perPush = (a: Record<string, number>, b: Record<string, number>, n: number): Record<string, number> =>
  Object.fromEntries(Object.keys(a).map((k) => [k, Math.round((b[k]! - a[k]!) / Math.max(1, n))]));
type Measured = PhaseStats & { cpu_us_per_push: Record<string, number>; drain_ms?: number; sustained?: number };
const body = (mode: Mode, round: number, i: number): unknown => ({ user: `wh-bench-${mode}-${i % USERS}`, data: { round, i, text: 'a push the user is not connected for' } });

/** Closed loop: CONC callers, each pushing to offline users one call after another, for DURATION ms. */
async function phase(mode: Mode, t: Target, round: number): Promise<Measured> {
  const lat: number[] = [];
  let errors = 0, n = 0;
  procs.router = t.pid;
  const a0 = cpuAll();
  const end = performance.now() + DURATION;
  const t0 = performance.now(), c0 = cpuOf(t.pid);
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (performance.now() < end) {
      const i = n++;
      const s = performance.now();
      if (await post(t.api, body(mode, round, i))) lat.push(performance.now() - s); else errors++;
    }
  }));
  const p = phaseStats(mode, lat, errors, (performance.now() - t0) / 1000, cpuOf(t.pid) - c0);
  return { ...p, cpu_us_per_push: perPush(a0, cpuAll(), p.requests) };
}

/** Open loop: `rate` pushes/s scheduled on a 10 ms tick whatever the answers (at most 512 in flight), for DURATION ms. */
async function fixedPhase(mode: Mode, t: Target, round: number, rate: number): Promise<Measured> {
  const lat: number[] = [];
  let errors = 0, sent = 0, inFlight = 0;
  procs.router = t.pid;
  const a0 = cpuAll();
  const t0 = performance.now(), c0 = cpuOf(t.pid);
  const calls: Array<Promise<void>> = [];
  while (performance.now() - t0 < DURATION) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (sent < due) {
      const i = sent++;
      if (inFlight >= 512) { errors++; continue; }
      inFlight++;
      const s = performance.now();
      calls.push(post(t.api, body(mode, round, i)).then((ok) => { inFlight--; if (ok) lat.push(performance.now() - s); else errors++; }));
    }
    await sleep(10);
  }
  await Promise.all(calls);
  const p = phaseStats(mode, lat, errors, DURATION / 1000, cpuOf(t.pid) - c0);
  return { ...p, cpu_us_per_push: perPush(a0, cpuAll(), p.requests) };
}

async function main(): Promise<void> {
  const m0 = machineStat();
  await sleep(1000);
  const m1 = machineStat();
  const preBusy = Math.round(((m1[0] - m0[0]) / Math.max(1, m1[1] - m0[1])) * 100);
  log(`machine busy before start: ${preBusy}% of ${availableParallelism()} cores`);
  sink = fork(path.join(here, 'webhook-sink.js'), [RECEIVER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await ask<{ port: number }>({}, 'ready');
  const secret = 'whsec_' + Buffer.alloc(32, 1).toString('base64');
  cluster = await startCluster({ gateways: 1, routers: 1, jetstream: true });
  const offR = cluster.routers[0]!;
  const onR = await cluster.startRouter({
    LONGLINK_WEBHOOKS: JSON.stringify([{ name: 'bench', url: `http://127.0.0.1:${port}/hooks`, events: ['push.offline'], secrets: [secret] }]),
  });
  const off = offR.apiUrl, on = onR.apiUrl;
  const targets: Record<'off' | 'on', Target> = { off: { api: off, pid: offR.proc.child.pid! }, on: { api: on, pid: onR.proc.child.pid! } };
  procs = { router: onR.proc.child.pid!, nats: cluster.nats.pid(0)!, redis: cluster.redis.pid!, gateway: cluster.gateways[0]!.proc.child.pid!, receiver: sink.pid!, driver: process.pid };
  const depth = async (): Promise<number> => {
    const res = await fetch(`${on}/v1/webhooks`, { headers: { authorization: `Bearer ${CLUSTER_API_KEY}` } });
    return ((await res.json()) as { endpoints: Array<{ depth: number }> }).endpoints[0]!.depth;
  };
  /** Receiver answering at once; resolves once the queue is empty, with how long that took (ms). */
  const drain = async (): Promise<number> => {
    await ask({ cmd: 'delay', ms: 0 }, 'delay');
    const t0 = performance.now();
    for (let t = 0; (await depth()) > 0; t++) { if (t > 6000) throw new Error('backlog did not drain'); await sleep(100); }
    return Math.round(performance.now() - t0);
  };
  /** Drains the queue before the phase; after an `on` phase, times the drain of its own backlog. */
  const measured = async (mode: Mode, run: () => Promise<Measured>): Promise<Measured> => {
    await drain();
    await ask({ cmd: 'delay', ms: mode === 'on-slow' ? SLOW : 0 }, 'delay');
    const p = await run();
    if (mode !== 'on') return p;
    const drainMs = await drain();
    return { ...p, drain_ms: drainMs, sustained: Math.round(p.requests / (DURATION / 1000 + drainMs / 1000)) };
  };
  log(`routers: off ${off}, on ${on}; ${ROUNDS} rounds × (off, on, on-slow) × ${DURATION} ms, concurrency ${CONC}`);
  // Warm-up: JIT, connections, JetStream consumer.
  await phase('off', targets.off, 0);
  await phase('on', targets.on, 0);
  /** Messages the webhook queue stream has stored so far (its last sequence): against the events enqueued, the batching. */
  const stored = async (): Promise<number> => {
    try {
      const j = await cluster!.nats.monitor<{ account_details?: Array<{ stream_detail?: Array<{ name: string; state: { last_seq: number } }> }> }>(0, 'jsz?streams=true');
      return j.account_details?.flatMap((a) => a.stream_detail ?? []).find((d) => d.name.endsWith('_webhooks'))?.state.last_seq ?? NaN;
    } catch { return NaN; }
  };
  const stored0 = await stored();
  const phases: Measured[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    for (const mode of ['off', 'on', 'on-slow'] as const) {
      const p = await measured(mode, () => phase(mode, mode === 'off' ? targets.off : targets.on, r));
      phases.push(p);
      log(`round ${r} ${mode}: ${p.throughput}/s${p.sustained !== undefined ? ` (sustained ${p.sustained}/s, drain ${p.drain_ms} ms)` : ''}, p50 ${p.p50_ms} ms, p99 ${p.p99_ms} ms, errors ${p.errors}, CPU µs/push ${JSON.stringify(p.cpu_us_per_push)}`);
    }
  }
  const storedMessages = (await stored()) - stored0;
  const events = phases.filter((p) => p.mode !== 'off').reduce((a, p) => a + p.requests, 0);
  const batching = { messages: storedMessages, events, events_per_message: Math.round((events / storedMessages) * 100) / 100 };
  const merged = mergeRounds(phases);
  const rate = Number(o.rate) > 0 ? Number(o.rate) : Math.max(10, Math.round((merged.off?.throughput ?? 200) / 2));
  const fixedPhases: Measured[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    for (const mode of ['off', 'on', 'on-slow'] as const) {
      const p = await measured(mode, () => fixedPhase(mode, mode === 'off' ? targets.off : targets.on, 100 + r, rate));
      fixedPhases.push(p);
      log(`fixed ${rate}/s round ${r} ${mode}: ${p.throughput}/s, p50 ${p.p50_ms} ms, p99 ${p.p99_ms} ms, errors ${p.errors}`);
    }
  }
  await ask({ cmd: 'delay', ms: 0 }, 'delay');

  // Delivery rate: let the backlog of the phases drain, then time EVENTS events from enqueue to the receiver.
  log('draining the phases\' backlog…');
  await drain();
  await ask({ cmd: 'reset' }, 'reset');
  log(`delivery rate: ${EVENTS} events…`);
  const t0 = performance.timeOrigin + performance.now();
  const per = 1000;
  const batches: Array<Promise<boolean>> = [];
  for (let k = 0; k < EVENTS; k += per) {
    const users = Array.from({ length: Math.min(per, EVENTS - k) }, (_, j) => `wh-rate-${k + j}`);
    batches.push(post(on, { users, data: { k } }));
    if (batches.length >= 4) await Promise.all(batches.splice(0));
  }
  await Promise.all(batches);
  let c = await ask<{ distinct: number; lastAt: number }>({ cmd: 'count' }, 'count');
  for (let t = 0; c.distinct < EVENTS; t++) {
    if (t > 1200) throw new Error(`only ${c.distinct}/${EVENTS} delivered`);
    await sleep(100);
    c = await ask<{ distinct: number; lastAt: number }>({ cmd: 'count' }, 'count');
  }
  const seconds = Math.round((c.lastAt - t0) / 10) / 100;
  const delivery = { events: EVENTS, seconds, rate: Math.round(EVENTS / Math.max(0.001, seconds)) };

  const r = ratios(merged);
  const fixed = mergeRounds(fixedPhases);
  const rf = ratios(fixed);
  // Medians over the rounds: the on phases' sustained rate, and every process's CPU per push per mode.
  const med = (xs: number[]): number => { const v = [...xs].sort((a, b) => a - b); return v.length === 0 ? NaN : v[Math.floor((v.length - 1) / 2)]!; };
  const ons = phases.filter((p) => p.mode === 'on');
  const sustained = { on: med(ons.map((p) => p.sustained ?? 0)), drain_ms: med(ons.map((p) => p.drain_ms ?? 0)), ratio: 0 };
  sustained.ratio = Math.round((sustained.on / (merged.off?.throughput ?? NaN)) * 1000) / 1000;
  const cpu: Record<string, Record<string, number>> = {};
  for (const mode of ['off', 'on', 'on-slow'] as const) {
    const ps = phases.filter((p) => p.mode === mode);
    cpu[mode] = Object.fromEntries(Object.keys(procs).map((k) => [k, med(ps.map((p) => p.cpu_us_per_push[k] ?? 0))]));
  }
  console.log(table(merged, r, fixed, rf, delivery, rate));
  console.log(`\nreceiver: ${RECEIVER}; on, sustained (pushes ÷ (phase + draining its backlog)): ${sustained.on}/s, ×off ${sustained.ratio} (drain median ${sustained.drain_ms} ms)`);
  console.log(`queue messages, closed loop: ${batching.messages} for ${batching.events} events (${batching.events_per_message} events per message)`);
  console.log('CPU µs per push, closed loop, medians: ' + Object.keys(procs).map((k) => `${k} ${cpu.off![k]} → ${cpu.on![k]}`).join(', ') + ' (off → on)');
  console.log(JSON.stringify({
    bench: 'webhooks', date: new Date().toISOString(), rounds: ROUNDS, duration_ms: DURATION, concurrency: CONC, slow_receiver_ms: SLOW,
    cores: availableParallelism(), preflight_machine_busy_pct: preBusy, receiver: RECEIVER, sustained, cpu_us_per_push: cpu, batching,
    saturated: { modes: merged, ratios: r, phases }, fixed: { rate, modes: fixed, ratios: rf, phases: fixedPhases },
    delivery_per_router: delivery,
  }));
}

const watchdog = setTimeout(() => { log('watchdog: over 20 minutes, giving up'); killAll(); process.exit(2); }, 20 * 60_000);
watchdog.unref();
main().then(async () => {
  sink?.send({ cmd: 'close' });
  await cluster?.stop();
  process.exit(0);
}, async (err: unknown) => {
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  sink?.kill('SIGKILL');
  await cluster?.stop();
  process.exit(1);
});
