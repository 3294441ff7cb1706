/**
 * bench:fanout's per-phase health record (fanout.ts calls `phaseDone` after
 * every phase), so a failed or slow run explains itself:
 *  - the router's event-loop delay (loop-monitor.ts, preloaded into it), its
 *    store errors, re-announcements asked for (a lapsed lease) and its own
 *    /v1/publish durations (its histogram: the share within 10 ms and the
 *    bucket holding the p99, next to the answer time the bench's client saw);
 *  - the clients' health: every connection end they saw (close code and
 *    reason, HTTP status, error) and their event-loop delay;
 *  - the gateways' closes by reason (connections_closed_total), and a log
 *    line for every phase with a close.
 * State is the run's (one bench per process); `bindHealth` gives it the cluster and the workers.
 */
import type { ChildProcess } from 'node:child_process';
import { CLUSTER_API_KEY, type Cluster } from '../../infra/local/cluster-harness.js';
import { scrapeGateway } from '../lib/gateway-metrics.js';
import { ask } from '../lib/worker-ipc.js';

let cluster: () => Cluster | undefined = () => undefined;
let workers: readonly ChildProcess[] = [];
let log: (s: string) => void = () => {};
/** The router's loop-monitor.ts side server. */
let loopUrl: string | undefined;

export function bindHealth(b: { cluster: () => Cluster | undefined; workers: readonly ChildProcess[]; log: (s: string) => void; loopUrl?: string }): void {
  cluster = b.cluster; workers = b.workers; log = b.log;
  if (b.loopUrl !== undefined) loopUrl = b.loopUrl;
}

const r3 = (v: number): number => (Number.isFinite(v) ? Math.round(v * 1000) / 1000 : -1);

/** Starts the first phase's clock. */
export function startPhases(): void { phaseAt = performance.now(); }

/** Phase results so far, printed if the run fails later. */
export const partial: Record<string, unknown> = {};
/** Wall seconds per phase, so a full-size run can be planned from a smaller one. */
export const phaseS: Record<string, number> = {};
let phaseAt = performance.now();
export const phaseDone = async (name: string): Promise<void> => {
  const now = performance.now();
  phaseS[name] = Math.round((now - phaseAt) / 100) / 10;
  routerHealth[name] = await readRouterHealth();
  await readCloses(name);
  phaseAt = performance.now();
};

/** Per phase: what the clients saw end (close code and reason, HTTP status, error) and their event-loop delay. */
export const clientHealth: Record<string, object> = {};
/** Per phase: connections the gateways closed, by close-code name (their connections_closed_total), summed over gateways. */
export const gatewayCloses: Record<string, Record<string, number>> = {};
export const closesSeen: Record<string, number> = {}, gatewayClosesTotal: Record<string, number> = {};
let gatewayClosedBefore: Record<string, number> = {};
const addTo = (into: Record<string, number>, from: Record<string, number>): void => { for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v; };

interface WorkerHealth { lag_p50_ms: number; lag_p99_ms: number; lag_max_ms: number; closes: Record<string, number> }

/** Reads (and resets) every worker's health, and the gateways' close counters since the last phase; logs any close. */
export async function readCloses(name: string): Promise<void> {
  const hs = await Promise.all(workers.map((w) => ask<WorkerHealth>(w, { cmd: 'health' }, 'health', 120_000).catch(() => undefined)));
  const closes: Record<string, number> = {};
  for (const h of hs) if (h) addTo(closes, h.closes);
  addTo(closesSeen, closes);
  const ok = hs.filter((h): h is WorkerHealth => h !== undefined);
  clientHealth[name] = { loop_p50_ms: Math.max(...ok.map((h) => h.lag_p50_ms)), loop_p99_ms: Math.max(...ok.map((h) => h.lag_p99_ms)),
    loop_max_ms: Math.max(...ok.map((h) => h.lag_max_ms)), closes, ...(ok.length < hs.length ? { unanswered: hs.length - ok.length } : {}) };
  const now: Record<string, number> = {};
  const scrapes = await Promise.all((cluster()?.gateways ?? []).map((g) => scrapeGateway(g.httpUrl, 30_000)));
  for (const sc of scrapes) if (sc) { addTo(now, sc.closedByReason); now.heartbeat_timeouts_counter = (now.heartbeat_timeouts_counter ?? 0) + sc.heartbeatTimeouts; }
  const delta: Record<string, number> = {};
  for (const [k, v] of Object.entries(now)) if (v - (gatewayClosedBefore[k] ?? 0) > 0) delta[k] = v - (gatewayClosedBefore[k] ?? 0);
  if (scrapes.some((x) => x === undefined)) delta.unscraped_gateways = scrapes.filter((x) => x === undefined).length;
  gatewayClosedBefore = now;
  gatewayCloses[name] = delta;
  addTo(gatewayClosesTotal, delta);
  if (Object.keys(closes).length > 0 || Object.keys(delta).length > 0) log(`${name}: clients saw ends ${JSON.stringify(closes)}; gateways closed ${JSON.stringify(delta)}; client loop delay max ${JSON.stringify(clientHealth[name])}`);
}

/** Per phase: the router's event-loop delay (ms) and its counters so far (store errors, re-announcements asked for). */
export const routerHealth: Record<string, object> = {};
export async function readRouterHealth(): Promise<object> {
  const c = cluster();
  if (c === undefined || loopUrl === undefined) return {};
  const get = (u: string, h?: Record<string, string>): Promise<string> => fetch(u, { signal: AbortSignal.timeout(30_000), ...(h ? { headers: h } : {}) }).then((r) => r.text());
  const loop = JSON.parse(await get(`${loopUrl}/read`)) as { p99_ms: number; max_ms: number; max_own_ms: number };
  await get(`${loopUrl}/reset`);
  const text = await get(`${c.apiUrl}/metrics`, { authorization: `Bearer ${CLUSTER_API_KEY}` });
  const metric = (name: string): number => Number(new RegExp(`^longlink_router_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? -1);
  return { loop_p99_ms: loop.p99_ms, loop_max_ms: loop.max_ms, loop_max_own_ms: loop.max_own_ms, store_errors: metric('store_errors_total'), resyncs: metric('gateway_resyncs_total'),
    presence_shed: metric('presence_events_shed_total'), publish_in_router: publishInRouter(text) };
}

/** /v1/publish's duration histogram (cumulative bucket counts by `le`) at the last read. */
let publishBucketsBefore = new Map<string, number>();
/**
 * The router's own view of /v1/publish over the phase (body read → answer written, its
 * http_request_duration_seconds histogram): answers, the share within 10 ms, and the bucket
 * bound holding the p99. Next to the bench's answer time it says how much of a slow answer
 * was spent in the router and how much in the client or waiting for a core before the router read it.
 */
function publishInRouter(text: string): { answers: number; within_10ms: number; p99_le_ms: number } {
  const now = new Map<string, number>();
  for (const m of text.matchAll(/^longlink_router_http_request_duration_seconds_bucket\{([^}]*)\} (\S+)$/gm)) {
    if (!m[1]!.includes('route="/v1/publish"')) continue;
    const le = /le="([^"]+)"/.exec(m[1]!)?.[1];
    if (le !== undefined) now.set(le, Number(m[2]));
  }
  const d = [...now].map(([le, n]) => [le, n - (publishBucketsBefore.get(le) ?? 0)] as const).sort((a, b) => Number(a[0]) - Number(b[0]));
  publishBucketsBefore = now;
  const total = d.find(([le]) => le === '+Inf')?.[1] ?? 0;
  if (total <= 0) return { answers: 0, within_10ms: -1, p99_le_ms: -1 };
  const within = d.find(([le]) => le === '0.01')?.[1] ?? 0;
  const p99 = d.find(([, n]) => n >= total * 0.99)?.[0] ?? '+Inf';
  return { answers: total, within_10ms: r3(within / total), p99_le_ms: p99 === '+Inf' ? Infinity : Number(p99) * 1000 };
}

