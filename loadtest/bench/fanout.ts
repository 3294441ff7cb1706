/**
 * `npm run bench:fanout`: channel fan-out on a real cluster (nats-server,
 * redis-server, 1 router, G gateway processes), with the per-user push path
 * to the same recipients measured in the same run as the baseline.
 *
 *  1. S subscribers of one channel, connected from W worker processes (each
 *     on its own loopback address) spread over the gateways.
 *  2. Channel phase: P publishes, one every --interval ms, each stamped with
 *     its send time. Per publish: time from the API call to the last
 *     subscriber's receipt (p50/p99), and whether every subscriber got it
 *     exactly once, in offset order.
 *  3. Push phase: the same recipients as users, one push per --push-batch
 *     users (POST /v1/push), P rounds: the per-recipient path.
 *  4. Gateway CPU (from /proc) per delivered message in each phase, and
 *     their ratio (channel / push: the target is ≤ 1/20).
 *
 * The full run is `--subscribers 100000 --gateways 7 --workers 6`
 * (on demand; minutes and most of the box). The defaults are a scaled-down
 * run. Flags: --subscribers 2000 --gateways 2 --workers 2 --publishes 20
 * --interval 200 --push-batch 1000 --concurrency 50. The last stdout line is
 * one JSON object.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from '../lib/cli-args.js';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { apiCall } from '../../infra/local/api-call.js';
import { cpuMicros } from './proc-stats.js';
import { ask, nextMessage } from '../lib/worker-ipc.js';
import { percentileOf } from '../lib/histogram.js';
import type { FanoutWorkerArgs } from './fanout-worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: o } = benchArgs('bench:fanout', { options: {
  subscribers: { type: 'string', default: '2000' }, gateways: { type: 'string', default: '2' }, workers: { type: 'string', default: '2' },
  publishes: { type: 'string', default: '20' }, interval: { type: 'string', default: '200' }, 'push-batch': { type: 'string', default: '1000' },
  concurrency: { type: 'string', default: '50' },
} });
const S = Number(o.subscribers), G = Number(o.gateways), W = Number(o.workers), P = Number(o.publishes), INTERVAL = Number(o.interval);
const CHANNEL = 'bench:fanout';
const log = (s: string): void => { process.stderr.write(`[bench:fanout] ${s}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let cluster: Cluster | undefined;
const workers: ChildProcess[] = [];
process.on('exit', () => { for (const w of workers) w.kill('SIGKILL'); });


/** Percentile of raw samples (-1 for none, as the JSON has always said). */
const pct = (xs: number[], q: number): number => (xs.length === 0 ? -1 : percentileOf([...xs].sort((a, b) => a - b), q));
const gatewayCpu = (c: Cluster): number => c.gateways.reduce((a, g) => a + cpuMicros(g.proc.child.pid!), 0);

interface Counts { pubs: Array<[number, [number, number]]>; pushes: Array<[string, [number, number]]>; disorder: number; closed: number; subscribed: number }

async function counts(): Promise<Counts[]> {
  return Promise.all(workers.map((w) => ask<Counts>(w, { cmd: 'counts' }, 'counts', 60_000)));
}

/** Per key: receipts summed over workers, and the latest receipt. */
function merge<K>(all: Counts[], pick: (c: Counts) => Array<[K, [number, number]]>): Map<K, [number, number]> {
  const m = new Map<K, [number, number]>();
  for (const c of all) for (const [k, [n, t]] of pick(c)) { const e = m.get(k) ?? [0, 0]; e[0] += n; e[1] = Math.max(e[1], t); m.set(k, e); }
  return m;
}

async function main(): Promise<void> {
  const c = (cluster = await startCluster({ gateways: G, gatewayEnv: { LONGLINK_MAX_CONNECTIONS: String(S + 1000), LONGLINK_LOG_LEVEL: 'error' },
    routerEnv: { LONGLINK_MAX_USERS_PER_PUSH: String(Math.max(1000, Number(o['push-batch']))), LONGLINK_LOG_LEVEL: 'error' } }));
  const urls = c.gateways.map((g) => g.url);
  const per = Math.ceil(S / W);
  log(`connecting ${S} subscribers over ${G} gateways from ${W} workers…`);
  const t0 = performance.now();
  const ready: Array<Promise<{ subscribed: number; failed: number }>> = [];
  for (let i = 0; i < W; i++) {
    const args: FanoutWorkerArgs = { urls, first: i * per, count: Math.max(0, Math.min(per, S - i * per)), channel: CHANNEL, secret: CLUSTER_SECRET,
      localAddress: `127.0.0.${2 + i}`, concurrency: Number(o.concurrency) };
    const w = fork(path.join(here, 'fanout-worker.js'), [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    workers.push(w);
    ready.push(nextMessage(w, 'ready', 300_000));
  }
  const r = await Promise.all(ready);
  const subscribed = r.reduce((a, x) => a + x.subscribed, 0);
  log(`${subscribed} subscribed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (subscribed < S) throw new Error(`only ${subscribed}/${S} subscribed`);
  await sleep(1000);
  const api = (p: string, body: unknown) => apiCall(c.apiUrl, CLUSTER_API_KEY, 'POST', p, body);

  // Channel phase.
  const sentAt = new Map<number, number>();
  const cpu0 = gatewayCpu(c);
  for (let i = 0; i < P; i++) {
    const t = Date.now();
    const res = await api('/v1/publish', { channel: CHANNEL, data: { t, i } });
    if (res.status !== 200) throw new Error(`publish ${res.status} ${JSON.stringify(res.body)}`);
    sentAt.set((res.body as { offset: number }).offset, t);
    await sleep(INTERVAL);
  }
  await sleep(2000);
  const cpuChannel = gatewayCpu(c) - cpu0;
  const afterChannel = await counts();
  const pubs = merge(afterChannel, (x) => x.pubs);
  const lastMs = [...sentAt].map(([off, t]) => (pubs.get(off)?.[1] ?? Infinity) - t);
  const channelDelivered = [...sentAt.keys()].reduce((a, off) => a + (pubs.get(off)?.[0] ?? 0), 0);
  const exactlyOnce = [...sentAt.keys()].every((off) => pubs.get(off)?.[0] === S);

  // Push phase: the same recipients as users, the per-recipient path.
  const users = Array.from({ length: S }, (_, i) => `fan${i}`);
  const batch = Number(o['push-batch']);
  const cpu1 = gatewayCpu(c);
  const pushSent = new Map<string, number>();
  for (let i = 0; i < P; i++) {
    for (let k = 0; k < users.length; k += batch) {
      const id = `p${i}-${k}`;
      const t = Date.now();
      const res = await api('/v1/push', { users: users.slice(k, k + batch), data: { t, i }, id });
      if (res.status !== 200) throw new Error(`push ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      pushSent.set(id, t);
    }
    await sleep(INTERVAL);
  }
  await sleep(2000);
  const cpuPush = gatewayCpu(c) - cpu1;
  const afterPush = await counts();
  const pushes = merge(afterPush, (x) => x.pushes);
  const pushDelivered = [...pushSent.keys()].reduce((a, id) => a + (pushes.get(id)?.[0] ?? 0), 0);
  const pushLastMs = [...pushSent].map(([id, t]) => (pushes.get(id)?.[1] ?? Infinity) - t);

  const perChannel = channelDelivered > 0 ? cpuChannel / channelDelivered : -1;
  const perPush = pushDelivered > 0 ? cpuPush / pushDelivered : -1;
  const result = {
    bench: 'fanout', date: new Date().toISOString(), subscribers: S, gateways: G, workers: W, publishes: P,
    channel: {
      delivered: channelDelivered, expected: S * P, exactly_once: exactlyOnce, out_of_order: afterChannel.reduce((a, x) => a + x.disorder, 0),
      last_receipt_ms: { p50: pct(lastMs, 0.5), p99: pct(lastMs, 0.99), max: pct(lastMs, 1) },
      deliveries_per_s_while_publishing: Math.round(channelDelivered / ((P * INTERVAL) / 1000)),
      gateway_cpu_us_per_delivery: Math.round(perChannel * 1000) / 1000,
    },
    push: {
      delivered: pushDelivered, expected: S * P,
      last_receipt_ms: { p50: pct(pushLastMs, 0.5), p99: pct(pushLastMs, 0.99), max: pct(pushLastMs, 1) },
      gateway_cpu_us_per_delivery: Math.round(perPush * 1000) / 1000,
    },
    ratio_gateway_cpu_channel_vs_push: perChannel > 0 && perPush > 0 ? Math.round((perChannel / perPush) * 1000) / 1000 : -1,
    closed_unexpectedly: afterPush.reduce((a, x) => a + x.closed, 0),
  };
  log(`channel: ${channelDelivered}/${S * P} delivered, last receipt p50 ${result.channel.last_receipt_ms.p50} ms p99 ${result.channel.last_receipt_ms.p99} ms; `
    + `push: ${pushDelivered}/${S * P}; gateway CPU per delivery channel/push = ${result.ratio_gateway_cpu_channel_vs_push}`);
  console.log(JSON.stringify(result));
}

const watchdog = setTimeout(() => { log('watchdog: over 30 minutes, giving up'); process.exit(2); }, 30 * 60_000);
watchdog.unref();
main().then(async () => {
  for (const w of workers) if (w.connected) w.send({ cmd: 'close' });
  await sleep(200);
  await cluster?.stop();
  process.exit(0);
}, async (err: unknown) => {
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  for (const w of workers) w.kill('SIGKILL');
  await cluster?.stop().catch(() => {});
  process.exit(1);
});
