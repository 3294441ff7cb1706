/**
 * `npm run bench:fanout`: channel fan-out on a real cluster (nats-server,
 * redis-server, 1 router, G gateway processes), with the per-user push path
 * to the same recipients and a bare uWebSockets.js publisher (the kernel's
 * floor) measured in the same run.
 *
 *  1. S subscribers connected from W worker processes (each on its own
 *     loopback address) spread over the gateways. Each user's token names the
 *     bench channel plus one channel of the sustained group and one of the
 *     latency group. With --bare > 0 the workers also open that many plain
 *     sockets to the bare publisher (fanout-bare.ts), from other addresses.
 *  2. Idle: gateway CPU over a quiet window, so the per-delivery figures
 *     below can be given net of what the gateways burn anyway (timers,
 *     beacons, heartbeats).
 *  3. Channel: P publishes to the bench channel, one every --interval ms;
 *     publish → last subscriber p50/p99, exactly once and in order.
 *  4. Bare: the same P frames (same size, same interval) through the bare
 *     server's app.publish to its sockets.
 *  5. Push: the same recipients as users (POST /v1/push, --push-batch users a
 *     call), P rounds: the per-recipient path.
 *  6. Sustained (fanout-load.ts): --channels N of --channel-size M
 *     subscribers, --sustain-rate deliveries/s offered for --sustain-seconds.
 *  7. Latency: --lat-rate publishes/s to channels of --lat-size subscribers
 *     for --lat-seconds: publish API answer p99 and publish → last subscriber.
 * Per phase, the router's health: its event-loop delay (loop-monitor.ts,
 * preloaded), store errors, gateways asked to re-announce (a lapsed
 * lease) and its own /v1/publish durations (its histogram: the share within
 * 10 ms and the p99's bucket, next to the answer time the bench's client
 * saw); the clients' health: every connection end they saw (close code and
 * reason, HTTP status, error) and their event-loop delay; and the gateways'
 * closes by reason (connections_closed_total). So a failure or a slow phase
 * names its cause (`client_health`, `gateway_closes` in the JSON, and a log
 * line for every phase with a close).
 * Gateway CPU (schedstat, all threads) per delivery for 3-5; ratios
 * channel / push and channel / bare. --perf DIR samples gateway 0 and the
 * bare server with Linux perf in phases 3-5 and sorts where the CPU went.
 *
 * Flags (defaults are a scaled-down run): --subscribers 2000 --gateways 2
 * --workers 2 --publishes 20 --interval 200 --push-batch 1000
 * --concurrency 50 --bare <subscribers, at most 18,000> --channels <S/size> --channel-size 100
 * --sustain-rate 100000 --sustain-seconds 10 --lat-rate 2000 --lat-size 100
 * --lat-seconds 5. --channels 0 / --lat-rate 0 / --bare 0 skip a phase.
 * --cpu-prof DIR writes the router's V8 CPU profile there (at the end).
 * docs/benchmarks.md has the full-size commands. The last stdout line is
 * one JSON object.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { apiCall } from '../../infra/local/api-call.js';
import { encodePubRaw } from '../../protocol/index.js';
import { cpuMicrosFine } from './proc-stats.js';
import { ask, nextMessage } from '../lib/worker-ipc.js';
import { killOnExit } from '../lib/kill-on-exit.js';
import { bindHealth, clientHealth, closesSeen, gatewayCloses, gatewayClosesTotal, partial, phaseDone, phaseS, readCloses, readRouterHealth, routerHealth, startPhases } from './fanout-health.js';
import { percentileOf } from '../lib/histogram.js';
import { openLoop, Publisher, rateSummary, type RateSummary } from './fanout-load.js';
import { perfBuckets, perfRecord, perfTop } from './perf-phase.js';
import type { FanoutWorkerArgs } from './fanout-worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));
import { BARE, CHANNEL, CLIENT, G, INTERVAL, LAT_CH, LAYOUT, LAT_RATE, LAT_SIZE, LATENCY, NCH, o, P, PUSH_ROUNDS, S, SIZE, SUSTAIN, W } from './fanout-options.js';
const log = (s: string): void => { process.stderr.write(`[bench:fanout] ${s}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let cluster: Cluster | undefined;
let bareProc: ChildProcess | undefined;
const workers: ChildProcess[] = [];
killOnExit(() => [...workers, bareProc]);

/** Percentile of raw samples (-1 for none, as the JSON has always said). */
const pct = (xs: number[], q: number): number => (xs.length === 0 ? -1 : percentileOf([...xs].sort((a, b) => a - b), q));
const gatewayCpu = (c: Cluster): number => c.gateways.reduce((a, g) => a + cpuMicrosFine(g.proc.child.pid!), 0);
/** The client processes' CPU: on this box they share the cores with the gateways, so a receipt's cost bounds how fast S subscribers can all have one. */
const clientCpu = (): number => workers.reduce((a, w) => a + (w.pid === undefined ? 0 : cpuMicrosFine(w.pid)), 0);
const r3 = (v: number): number => (Number.isFinite(v) ? Math.round(v * 1000) / 1000 : -1);

/** A worker's receipts; `slowPubs`: pub frames the lean path left to the full decoder (fanout-receipts.ts), 0 when the scanner matches every frame. */
interface Counts { pubs: Array<[string, [number, number]]>; pushes: Array<[string, [number, number]]>; disorder: number; closed: number; subscribed: number; slowPubs?: number }

async function counts(): Promise<Counts[]> {
  return Promise.all(workers.map((w) => ask<Counts>(w, { cmd: 'counts' }, 'counts', 120_000)));
}

/** Per key: receipts summed over workers, and the latest receipt. */
function merge(all: Counts[], pick: (c: Counts) => Array<[string, [number, number]]>): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (const c of all) for (const [k, [n, t]] of pick(c)) { const e = m.get(k) ?? [0, 0]; e[0] += n; e[1] = Math.max(e[1], t); m.set(k, e); }
  return m;
}

/** Runs `body` with perf sampling `pid` into DIR/<name>.data when --perf is given; returns the buckets. */
async function profiled(name: string, pid: number | undefined, body: () => Promise<void>): Promise<ReturnType<typeof perfBuckets> | undefined> {
  if (o.perf === undefined || pid === undefined) { await body(); return undefined; }
  mkdirSync(o.perf, { recursive: true });
  const file = path.join(o.perf, `${name}.data`);
  const stop = perfRecord(pid, file);
  await sleep(300);
  await body();
  await stop();
  return perfBuckets(file);
}

async function startBare(): Promise<string | undefined> {
  if (BARE <= 0) return undefined;
  bareProc = fork(path.join(here, 'fanout-bare.js'), [], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    bareProc!.stdout!.on('data', (d: Buffer) => { const m = /PORT (\d+)/.exec(String(d)); if (m) resolve(Number(m[1])); });
    bareProc!.on('exit', () => reject(new Error('bare server exited')));
  });
  return `ws://127.0.0.1:${port}/`;
}

/** P timed publishes through `send`, one every INTERVAL ms; returns offset → send time. */
async function timedPublishes(send: (i: number, t: number) => Promise<number>): Promise<Map<number, number>> {
  const sentAt = new Map<number, number>();
  for (let i = 0; i < P; i++) {
    const t = Date.now();
    sentAt.set(await send(i, t), t);
    await sleep(INTERVAL);
  }
  await sleep(2000);
  return sentAt;
}

/**
 * Waits for a phase's late receipts: until `read()` reaches `want` or stops growing between two reads 2 s apart, at
 * most 60 s. A backlog still draining is counted, not reported as lost.
 */
async function drain(want: number, read: () => Promise<number>): Promise<void> {
  for (let prev = -1, t = 0; t < 60_000; t += 2000) {
    await sleep(2000);
    const n = await read();
    if (n >= want || n === prev) return;
    prev = n;
  }
}

function receipts(sentAt: Map<number, number>, pubs: Map<string, [number, number]>, prefix: string, per: number) {
  const lastMs = [...sentAt].map(([off, t]) => (pubs.get(`${prefix}#${off}`)?.[1] ?? Infinity) - t);
  const delivered = [...sentAt.keys()].reduce((a, off) => a + (pubs.get(`${prefix}#${off}`)?.[0] ?? 0), 0);
  const exactlyOnce = [...sentAt.keys()].every((off) => pubs.get(`${prefix}#${off}`)?.[0] === per);
  return { delivered, expected: per * P, exactly_once: exactlyOnce, last_receipt_ms: { p50: pct(lastMs, 0.5), p99: pct(lastMs, 0.99), max: pct(lastMs, 1) } };
}

async function main(): Promise<void> {
  if (o.perf !== undefined) mkdirSync(o.perf, { recursive: true });
  startPhases();
  bindHealth({ cluster: () => cluster, workers, log });
  // Beacons and lease at their production defaults (5 s / 15 s), not the test harness's 0.5 s / 2 s: a gateway
  // fanning one message out to ~15,000 local sockets on this shared 2-core box is busy for seconds, and a lapsed
  // lease makes it re-announce every connection, which is a different workload from the one measured here.
  const c = (cluster = await startCluster({ gateways: G, ...(o.root !== undefined ? { root: path.resolve(o.root) } : {}), gatewayEnv: { LONGLINK_MAX_CONNECTIONS: String(S + 1000), LONGLINK_LOG_LEVEL: 'error', LONGLINK_BEACON_INTERVAL_MS: '5000' },
    routerEnv: { LONGLINK_MAX_USERS_PER_PUSH: String(Math.max(1000, Number(o['push-batch']))), LONGLINK_LOG_LEVEL: 'warn', LONGLINK_PUBLISH_RATE: '0', LONGLINK_GATEWAY_LEASE_MS: '15000',
      ...(LAYOUT !== undefined ? { LONGLINK_CHANNEL_BUS_LAYOUT: LAYOUT } : {}) },
    // perf names JIT frames from the map file this writes; the router's event-loop delay is sampled inside it.
    // --cpu-prof DIR: V8's sampling profile of the router, written when it exits at the end of the run.
    nodeArgs: (role) => [...(o.perf !== undefined ? ['--perf-basic-prof'] : []),
      ...(role === 'router' ? ['--import', pathToFileURL(path.join(here, 'loop-monitor.js')).href, ...(o['cpu-prof'] !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(o['cpu-prof'])}`] : [])] : [])] }));
  bindHealth({ cluster: () => cluster, workers, log, loopUrl: (await c.routers[0]!.proc.waitFor(/loop-monitor:\s+(http:\/\/\S+)/, 30_000))[1]! });
  const bareUrl = await startBare();
  const urls = c.gateways.map((g) => g.url);
  const per = Math.ceil(S / W), barePer = Math.ceil(BARE / W);
  log(`connecting ${S} subscribers over ${G} gateways${bareUrl ? ` and ${BARE} bare sockets` : ''} from ${W} workers…`);
  const t0 = performance.now();
  const ready: Array<Promise<{ subscribed: number; failed: number; bareOpen: number }>> = [];
  for (let i = 0; i < W; i++) {
    const args: FanoutWorkerArgs = { urls, first: i * per, count: Math.max(0, Math.min(per, S - i * per)), channel: CHANNEL, groups: [SUSTAIN, LATENCY], client: CLIENT,
      secret: CLUSTER_SECRET, localAddress: `127.0.0.${2 + i}`, concurrency: Number(o.concurrency),
      ...(bareUrl ? { bareUrl, bareCount: Math.max(0, Math.min(barePer, BARE - i * barePer)), bareAddress: `127.0.1.${2 + i}` } : {}) };
    const w = fork(path.join(here, 'fanout-worker.js'), [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    workers.push(w);
    ready.push(nextMessage(w, 'ready', 1_800_000));
  }
  const r = await Promise.all(ready);
  const subscribed = r.reduce((a, x) => a + x.subscribed, 0), bareOpen = r.reduce((a, x) => a + x.bareOpen, 0);
  const connectS = (performance.now() - t0) / 1000;
  log(`${subscribed} subscribed${bareUrl ? `, ${bareOpen} bare` : ''} in ${connectS.toFixed(1)} s`);
  if (subscribed < S) throw new Error(`only ${subscribed}/${S} subscribed`);
  if (bareOpen < BARE) throw new Error(`only ${bareOpen}/${BARE} bare sockets open`);
  await phaseDone('connect');
  await sleep(1000);
  const api = (p: string, body: unknown) => apiCall(c.apiUrl, CLUSTER_API_KEY, 'POST', p, body);
  const windowMs = P * INTERVAL + 2000;
  const gw0 = c.gateways[0]!.proc.child.pid;

  // Idle: what the gateways burn with nothing to deliver, per second.
  const idleMs = Math.min(windowMs, 5000);
  const i0 = gatewayCpu(c);
  await sleep(idleMs);
  const idleUsPerS = ((gatewayCpu(c) - i0) * 1000) / idleMs;
  await phaseDone('idle');

  // Channel phase.
  let sentAt = new Map<number, number>();
  const cpu0 = gatewayCpu(c), w0 = performance.now(), k0 = clientCpu();
  const perfChannel = await profiled('channel', gw0, async () => {
    sentAt = await timedPublishes(async (i, t) => {
      const res = await api('/v1/publish', { channel: CHANNEL, data: { t, i } });
      if (res.status !== 200) throw new Error(`publish ${res.status} ${JSON.stringify(res.body)}`);
      return (res.body as { offset: number }).offset;
    });
    await drain(sentAt.size * S, async () => receipts(sentAt, merge(await counts(), (x) => x.pubs), CHANNEL, S).delivered);
  });
  const cpuChannel = gatewayCpu(c) - cpu0, channelWin = performance.now() - w0, cpuClients = clientCpu() - k0;
  const afterChannel = await counts();
  const channel = receipts(sentAt, merge(afterChannel, (x) => x.pubs), CHANNEL, S);
  partial.channel = channel;
  await phaseDone('channel');

  // Bare phase: the same frames through a bare uWS app.publish.
  let bare: ReturnType<typeof receipts> | undefined, bareCpu = 0, perfBare;
  if (bareProc !== undefined) {
    const b0 = cpuMicrosFine(bareProc.pid!);
    let bareSent = new Map<number, number>();
    perfBare = await profiled('bare', bareProc.pid, async () => {
      bareSent = await timedPublishes(async (i, t) => {
        bareProc!.send({ cmd: 'publish', frame: encodePubRaw(CHANNEL, i + 1, 'bench0epoch0', `bare-${i}-0123456789ab`, t, JSON.stringify({ t, i })) });
        return i + 1;
      });
      await drain(bareSent.size * BARE, async () => receipts(bareSent, merge(await counts(), (x) => x.pubs), 'bare', BARE).delivered);
    });
    bareCpu = cpuMicrosFine(bareProc.pid!) - b0;
    bare = receipts(bareSent, merge(await counts(), (x) => x.pubs), 'bare', BARE);
    partial.bare = { ...bare, cpu_us_per_delivery: r3(bareCpu / Math.max(1, bare.delivered)) };
    await phaseDone('bare');
  }

  // Push phase: the same recipients as users, the per-recipient path.
  const users = Array.from({ length: S }, (_, i) => `fan${i}`);
  const batch = Number(o['push-batch']);
  const pushSent = new Map<string, number>();
  const pushRefused: Record<string, number> = {};
  let pushExpected = 0;
  const cpu1 = gatewayCpu(c), w1 = performance.now();
  const perfPush = await profiled('push', gw0, async () => {
    for (let i = 0; i < PUSH_ROUNDS; i++) {
      for (let k = 0; k < users.length; k += batch) {
        const id = `p${i}-${k}`;
        const t = Date.now();
        const res = await api('/v1/push', { users: users.slice(k, k + batch), data: { t, i }, id });
        // A refused call is counted and the phase goes on: the push path's failures are this phase's result, not the run's end.
        if (res.status !== 200) {
          const code = `${res.status} ${(res.body as { error?: { code?: string } } | undefined)?.error?.code ?? ''}`.trim();
          if ((pushRefused[code] = (pushRefused[code] ?? 0) + 1) === 1) log(`push refused: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
          continue;
        }
        pushSent.set(id, t);
        pushExpected += Math.min(batch, users.length - k);
      }
      await sleep(INTERVAL);
    }
    await sleep(2000);
  });
  const cpuPush = gatewayCpu(c) - cpu1, pushWin = performance.now() - w1;
  const afterPush = await counts();
  const pushes = merge(afterPush, (x) => x.pushes);
  const pushDelivered = [...pushSent.keys()].reduce((a, id) => a + (pushes.get(id)?.[0] ?? 0), 0);
  const pushLastMs = [...pushSent].map(([id, t]) => (pushes.get(id)?.[1] ?? Infinity) - t);
  await phaseDone('push');

  // Rate phases.
  const publisher = new Publisher(c.apiUrl, CLUSTER_API_KEY);
  const routerPid = c.routers[0]!.proc.child.pid!;
  /** One open-loop phase, with gateway CPU per delivery and router CPU per publish over it (drain included). */
  const ratePhase = async (name: string, prefix: string, channels: number, size: number, rate: number, secs: number) => {
    // Redis and NATS too: a publish's cost on this box is the router's plus the store's and the bus's.
    const storeCpu = (): number => [c.redis.pid, c.nats.pid(0)].reduce<number>((a, pid) => a + (pid === undefined ? 0 : cpuMicrosFine(pid)), 0);
    const g0 = gatewayCpu(c), r0 = cpuMicrosFine(routerPid), s0 = storeCpu(), k0 = clientCpu();
    // This process sends the publishes: its own event-loop delay is part of `api_queued_in_client_ms`.
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    let out: Awaited<ReturnType<typeof openLoop>> = [];
    const stopRouter = o.perf !== undefined ? perfRecord(routerPid, path.join(o.perf, `${name}-router.data`)) : undefined;
    let pubs = new Map<string, [number, number]>();
    const perfGw = await profiled(name, gw0, async () => {
      out = await openLoop(publisher, prefix, channels, rate, secs);
      // Wait for the backlog to drain: until the phase's receipts stop growing (or all arrived), at most 60 s.
      const got = (): number => out.reduce((a, x) => a + (pubs.get(`${x.channel}#${x.offset}`)?.[0] ?? 0), 0);
      const want = out.filter((x) => x.status === 200).length * size;
      await drain(want, async () => { pubs = merge(await counts(), (x) => x.pubs); return got(); });
    });
    await stopRouter?.();
    lag.disable();
    const gw = gatewayCpu(c) - g0, rt = cpuMicrosFine(routerPid) - r0, st = storeCpu() - s0, kc = clientCpu() - k0;
    const s = rateSummary(out, size, pubs, secs);
    return { ...s, gateway_cpu_us_per_delivery: s.delivered > 0 ? r3(gw / s.delivered) : -1, client_cpu_us_per_receipt: s.delivered > 0 ? r3(kc / s.delivered) : -1, router_cpu_us_per_publish: s.accepted > 0 ? Math.round(rt / s.accepted) : -1,
      redis_and_nats_cpu_us_per_publish: s.accepted > 0 ? Math.round(st / s.accepted) : -1,
      publisher_loop_delay_ms: { p99: Math.round(lag.percentile(99) / 1e6), max: Math.round(lag.max / 1e6) },
      ...(o.perf !== undefined ? { perf_gateway0: perfGw, perf_router_top: perfTop(path.join(o.perf, `${name}-router.data`)) } : {}) };
  };
  let sustained: RateSummary | undefined, latency: RateSummary | undefined;
  if (NCH > 0) {
    const secs = Number(o['sustain-seconds']), rate = Number(o['sustain-rate']) / SIZE;
    log(`sustained: ${NCH} channels × ${SIZE}, ${Math.round(rate)} publishes/s (${o['sustain-rate']} deliveries/s offered) for ${secs} s…`);
    sustained = await ratePhase('sustained', SUSTAIN.prefix, NCH, SIZE, rate, secs);
    await phaseDone('sustained');
  }
  if (LAT_CH > 0) {
    const secs = Number(o['lat-seconds']);
    log(`latency: ${LAT_RATE} publishes/s over ${LAT_CH} channels × ${LAT_SIZE} for ${secs} s…`);
    latency = await ratePhase('latency', LATENCY.prefix, LAT_CH, LAT_SIZE, LAT_RATE, secs);
    await phaseDone('latency');
  }
  publisher.close();
  const final = await counts();

  const net = (cpu: number, winMs: number, n: number): number => (n > 0 ? (cpu - (idleUsPerS * winMs) / 1000) / n : -1);
  const perChannel = channel.delivered > 0 ? cpuChannel / channel.delivered : -1;
  const perPush = pushDelivered > 0 ? cpuPush / pushDelivered : -1;
  const netChannel = net(cpuChannel, channelWin, channel.delivered), netPush = net(cpuPush, pushWin, pushDelivered);
  const perBare = bare && bare.delivered > 0 ? bareCpu / bare.delivered : -1;
  const ratio = (a: number, b: number): number => (a > 0 && b > 0 ? r3(a / b) : -1);
  const result = {
    bench: 'fanout', date: new Date().toISOString(), client: CLIENT, channel_layout: LAYOUT ?? 'default', root: o.root ?? '', subscribers: S, gateways: G, workers: W, publishes: P, interval_ms: INTERVAL, bare_sockets: BARE,
    connect_s: Math.round(connectS * 10) / 10, phase_s: phaseS, router_health: routerHealth,
    gateway_idle_cpu_us_per_s: Math.round(idleUsPerS),
    channel: {
      ...channel, out_of_order: final.reduce((a, x) => a + x.disorder, 0),
      deliveries_per_s_while_publishing: Math.round(channel.delivered / ((P * INTERVAL) / 1000)),
      gateway_cpu_us_per_delivery: r3(perChannel), gateway_cpu_us_per_delivery_net_of_idle: r3(netChannel), perf_gateway0: perfChannel,
      // Gross (idle heartbeat sweeps included): with the gateways' figure, the CPU one publish to S subscribers needs on this box.
      client_cpu_us_per_receipt: channel.delivered > 0 ? r3(cpuClients / channel.delivered) : -1,
      // Pub frames the lean client could not scan and decoded in full (all phases): 0 unless the frame's shape changed.
      client_pubs_decoded_in_full: final.reduce((a, x) => a + (x.slowPubs ?? 0), 0),
    },
    ...(bare ? { bare_uws: { ...bare, cpu_us_per_delivery: r3(perBare), perf: perfBare } } : {}),
    push: {
      delivered: pushDelivered, expected: pushExpected, rounds: PUSH_ROUNDS, refused_calls: pushRefused,
      last_receipt_ms: { p50: pct(pushLastMs, 0.5), p99: pct(pushLastMs, 0.99), max: pct(pushLastMs, 1) },
      gateway_cpu_us_per_delivery: r3(perPush), gateway_cpu_us_per_delivery_net_of_idle: r3(netPush), perf_gateway0: perfPush,
    },
    ratio_gateway_cpu_channel_vs_push: ratio(perChannel, perPush),
    ratio_gateway_cpu_channel_vs_push_net_of_idle: ratio(netChannel, netPush),
    ratio_gateway_cpu_channel_vs_bare_uws: ratio(netChannel, perBare),
    ratio_bare_uws_vs_push: ratio(perBare, netPush),
    ...(sustained ? { sustained: { channels: NCH, channel_size: SIZE, ...sustained } } : {}),
    ...(latency ? { latency: { channels: LAT_CH, channel_size: LAT_SIZE, ...latency } } : {}),
    closed_unexpectedly: final.reduce((a, x) => a + x.closed, 0),
    closes_seen_by_clients: closesSeen, gateway_closes_by_reason: gatewayClosesTotal, client_health: clientHealth, gateway_closes: gatewayCloses,
  };
  log(`channel: ${channel.delivered}/${channel.expected} delivered, last receipt p50 ${channel.last_receipt_ms.p50} ms p99 ${channel.last_receipt_ms.p99} ms; `
    + `push: ${pushDelivered}/${pushExpected}; gateway CPU µs/delivery (net of idle ${Math.round(idleUsPerS)} µs/s) channel ${r3(netChannel)}, push ${r3(netPush)}`
    + `${bare ? `, bare uWS ${r3(perBare)}` : ''}; channel/push ${result.ratio_gateway_cpu_channel_vs_push_net_of_idle}, channel/bare ${result.ratio_gateway_cpu_channel_vs_bare_uws}`);
  if (sustained) log(`sustained: ${sustained.deliveries_per_s} deliveries/s received (${sustained.delivered}/${sustained.expected}), publish → last p99 ${sustained.publish_to_last_subscriber_ms.p99} ms`);
  if (latency) log(`latency: publish answer p50/p99 ${latency.api_answer_ms.p50}/${latency.api_answer_ms.p99} ms, → last subscriber p99 ${latency.publish_to_last_subscriber_ms.p99} ms`);
  console.log(JSON.stringify(result));
}

const watchdog = setTimeout(() => { log('watchdog: over 60 minutes, giving up'); process.exit(2); }, 60 * 60_000);
watchdog.unref();
main().then(async () => {
  // Let the workers exit on their own (a worker run with --cpu-prof writes its profile on exit), at most 10 s.
  await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
    if (!w.connected || w.exitCode !== null) { resolve(); return; }
    const t = setTimeout(resolve, 10_000);
    w.once('exit', () => { clearTimeout(t); resolve(); });
    w.send({ cmd: 'close' });
  })));
  bareProc?.kill('SIGKILL');
  // The router writes its --cpu-prof profile only on a clean exit.
  if (o['cpu-prof'] !== undefined) for (const r of cluster?.routers ?? []) { r.proc.kill('SIGTERM'); await r.proc.exited(30_000).catch(() => {}); }
  await cluster?.stop();
  process.exit(0);
}, async (err: unknown) => {
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  // What the router said last (store failures are logged with their operation), and its health so far.
  if (cluster !== undefined) log(`router output (last 4,000 chars):\n${cluster.routers[0]?.proc.output().slice(-4000) ?? ''}`);
  log(`router health per phase: ${JSON.stringify({ ...routerHealth, now: await readRouterHealth().catch(() => ({})) })}`);
  await readCloses('at failure').catch(() => {});
  log(`client health per phase: ${JSON.stringify(clientHealth)}; gateway closes per phase: ${JSON.stringify(gatewayCloses)}`);
  log(`results of the phases that finished: ${JSON.stringify({ phase_s: phaseS, ...partial })}`);
  for (const w of workers) w.kill('SIGKILL');
  bareProc?.kill('SIGKILL');
  await cluster?.stop().catch(() => {});
  process.exit(1);
});
