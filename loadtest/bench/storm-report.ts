/** Result type, table and jitter-vs-fixed comparison of the reconnect-storm bench (storm.ts). Pure. */
import type { LatencySummary as Lat } from '../lib/histogram.js';
import type { RouterResumes } from '../lib/gateway-metrics.js';
import type { PhaseLoss, StormSecond } from './storm-timeline.js';
import { RETRY_MODES, type RetryModeName } from '../lib/retry-policy.js';

/** Failed attempts: refused before the upgrade (503) and session starts failed after it (1011; 1013: shed by a router with a retry delay). */
export interface FailureSplit { c503: number; c1011: number; c1013: number; other: number; share503: number }

export interface StormResult {
  mode: RetryModeName;
  /** With --baseline: which build ran ('baseline' or 'this'). */
  build?: string;
  connections: number;
  /** Kill → every client connected again (s); -1 if it never happened within the timeout. */
  recover_s: number;
  /** Best 3 s rate of completed session starts on the survivors, the ideal recovery time it gives (clients ÷ it), and recover_s ÷ ideal. */
  start_throughput_per_s?: number;
  ideal_s?: number;
  recover_vs_ideal?: number;
  failures?: FailureSplit;
  push_api_timeouts?: number;
  reconnect_ms: Lat;
  reconnected: number;
  resumed: number;
  peak_connect_rate_per_gateway: Record<string, number>;
  admission_rejections_503: number;
  /** Starts admitted over a full limit, the client back on its booked time (the gateways' return line). */
  admitted_on_return?: number;
  client_seen_503: number;
  failed_attempts: number;
  failed_by_error: Record<string, number>;
  connections_after: Record<string, number>;
  pushes: { requests: number; sent: number; offline: number; errors: number; checked: number; lost: number; lost_samples: string[]; lost_diagnosis?: string[] };
  unexpected_closes: number;
  /** The router's resume outcomes, and resumes it dropped (expired in its queue) or refused (queue full). */
  router_resumes?: RouterResumes | undefined;
  closes_by_code?: Record<string, number>;
  /** --redis-stall: Redis frozen `count` times for `ms` each during the storm; clients closed 4003 (a newer connection displaced); clients never back. */
  store_stalls?: { count: number; ms: number };
  closed_4003?: number;
  left_out?: number;
  /** Each attempt during the storm: start → hello (queueing in the client, upgrade, resume, replay). */
  attempt_to_hello_ms?: Lat;
  push_error_samples?: Record<string, number>;
  machine_busy_pct_storm: number;
  /** Per second after the kill: admissions, refusals, Retry-After given, clients waiting vs connecting, CPU (storm-timeline.ts). */
  timeline_1s?: StormSecond[];
  /** Seconds above the ideal by phase, with the clients' and the cluster's CPU in each (storm-timeline.ts lostByPhase). */
  lost_by_phase?: PhaseLoss[];
  /** Where the best 3 s (the ideal's rate) lay, s after the kill. */
  best_window_s?: [number, number];
  timeline?: Array<{ t: number; opened: number[]; rejected: number[]; started?: number[]; limit?: number[]; latency_ms?: number[]; shed?: number[] }>;
}

/** --scenario connect: every client connecting at once, no kill. */
export interface ConnectResult {
  scenario: 'connect';
  mode: RetryModeName;
  build?: string;
  connections: number;
  gateways: number;
  /** Start → every client in (s); -1 if not within the timeout. */
  all_in_s: number;
  connected: number;
  start_throughput_per_s: number;
  ideal_s: number;
  all_in_vs_ideal: number;
  per_client_ms: Lat;
  failures: FailureSplit;
  failed_by_error: Record<string, number>;
  admission_rejections: Record<string, number>;
  gateway_closes: Record<string, number>;
  router_resumes: RouterResumes | undefined;
  machine_busy_pct: number;
  timeline: Array<{ t: number; started: number[]; rejected: number[]; limit: number[]; latency_ms: number[] }>;
}

/**
 * Whether every client is back after the kill. The gauges are each worker's
 * last sample (every 250 ms, from an event loop that the kill's 15,000
 * closes stall for a second or more), so for a while after the kill they
 * still count the killed connections as open: judged on them alone, a storm
 * "recovered" in 0.6 s with no session started and a sixth of the clients
 * still out. A client counts only once it has had a hello after the mark
 * (the per-client reconnect histogram, `reconnected`), and the gauges must
 * agree (a client back and lost again is not back).
 */
export function allReconnected(open: number, reconnected: number, clients: number): boolean {
  return reconnected >= clients && open >= clients;
}

/**
 * The best rate of a cumulative counter over any `windowS` seconds of
 * samples `{ t (s), n }` (n never decreasing), each window's end read off
 * the series by linear interpolation. Why by time and not by sample count:
 * the storm samples every 250 ms *plus* the scrape and the bench's own
 * event-loop delay, so on a busy machine 12 samples spanned 4–8 s, and
 * counting them as 3 s overstated the session-start rate (and so
 * understated the ideal recovery time) by up to 1.4 × in the same run.
 * Shorter than a window: the whole span's mean rate.
 */
export function bestRate(samples: ReadonlyArray<{ t: number; n: number }>, windowS = 3): number {
  return bestWindow(samples, windowS).rate;
}

/** bestRate, with where its window lies (`from`, `to`: s, as the samples' t). */
export function bestWindow(samples: ReadonlyArray<{ t: number; n: number }>, windowS = 3): { rate: number; from: number; to: number } {
  if (samples.length < 2) return { rate: 0, from: 0, to: 0 };
  const first = samples[0]!, last = samples.at(-1)!;
  if (last.t - first.t <= windowS) return { rate: (last.n - first.n) / Math.max(0.25, last.t - first.t), from: first.t, to: last.t };
  let best = { rate: 0, from: first.t, to: first.t + windowS };
  for (let i = 0, j = 1; i < samples.length && samples[i]!.t + windowS <= last.t; i++) {
    const a = samples[i]!, end = a.t + windowS;
    while (samples[j]!.t < end) j++; // samples[j - 1].t < end <= samples[j].t
    const p = samples[j - 1]!, q = samples[j]!;
    const nEnd = q.t === p.t ? q.n : p.n + ((q.n - p.n) * (end - p.t)) / (q.t - p.t);
    const rate = (nEnd - a.n) / windowS;
    if (rate > best.rate) best = { rate, from: a.t, to: end };
  }
  return best;
}

/** Clients ÷ the session-start rate, and recovery ÷ that; undefined when no start was measured (no ideal to compare with). */
export function idealOf(clients: number, startsPerS: number, recoverS: number | undefined): { ideal_s?: number; recover_vs_ideal?: number } {
  if (!(startsPerS > 0)) return {};
  const ideal = clients / startsPerS;
  return { ideal_s: Math.round(ideal * 100) / 100, recover_vs_ideal: recoverS === undefined ? -1 : Math.round((recoverS / ideal) * 100) / 100 };
}

/** The connect scenario's table: one column per retry policy. */
export function connectTable(rs: ConnectResult[]): string {
  const rows: Array<[string, (r: ConnectResult) => string]> = [
    ['clients, gateways', (r) => `${r.connections}, ${r.gateways}`],
    ['all in after (s)', (r) => `${r.all_in_s} (${r.connected} connected)`],
    ['session-start throughput (best 3 s, /s) → ideal (s)', (r) => `${r.start_throughput_per_s} → ${r.ideal_s}`],
    ['all in ÷ ideal', (r) => String(r.all_in_vs_ideal)],
    ['per-client connect p50 / p99 / max (ms)', (r) => `${r.per_client_ms.p50} / ${r.per_client_ms.p99} / ${r.per_client_ms.max}`],
    ['failed attempts: 503 / 1011 / 1013 / other', (r) => `${r.failures.c503} / ${r.failures.c1011} / ${r.failures.c1013} / ${r.failures.other}`],
    ['admission rejections (gateway)', (r) => JSON.stringify(r.admission_rejections)],
    ['router resumes: expired / shed / aged out', (r) => (r.router_resumes ? `${r.router_resumes.expired} / ${r.router_resumes.shed} / ${r.router_resumes.agedOut ?? 0}` : '-')],
    ['machine busy', (r) => `${r.machine_busy_pct}%`],
  ];
  return table(rows, rs.map(colLabel), rs);
}

function table<R>(rows: Array<[string, (r: R) => string]>, cols: string[], rs: R[]): string {
  const wl = Math.max(...rows.map(([k]) => k.length));
  const wc = rs.map((r, i) => Math.max(cols[i]!.length, ...rows.map(([, f]) => f(r).length)));
  const line = (k: string, vs: string[]): string => `${k.padEnd(wl)}  ${vs.map((v, i) => v.padEnd(wc[i]!)).join('  ')}`.trimEnd();
  return ['', line('', cols), line('-'.repeat(wl), wc.map((w) => '-'.repeat(w))), ...rows.map(([k, f]) => line(k, rs.map(f)))].join('\n');
}

const lostText = (ps: PhaseLoss[]): string => ['quiet', 'start', 'refusing', 'booked', 'handshake'].map((p) => ps.find((x) => x.phase === p)?.lost_s ?? 0).join(' / ');
const label = (m: StormResult['mode']): string => (m === 'sdk' ? 'SDK backoff, full jitter' : m === 'deaf' ? '1 s, ignoring Retry-After' : 'fixed 1 s, no jitter');
const short = (m: StormResult['mode']): string => (m === 'sdk' ? 'SDK' : m === 'deaf' ? 'deaf 1 s' : 'fixed 1 s');
const colLabel = (r: { mode: StormResult['mode']; build?: string }): string => (r.build ? `${short(r.mode)}, ${r.build}` : label(r.mode));
const peakMax = (r: StormResult): number => Math.max(...Object.values(r.peak_connect_rate_per_gateway));

export function stormTable(rs: StormResult[]): string {
  const rows: Array<[string, (r: StormResult) => string]> = [
    ['clients moved', (r) => String(r.connections)],
    ['all reconnected after (s)', (r) => String(r.recover_s)],
    ['session-start throughput (best 3 s, /s) → ideal (s)', (r) => (r.start_throughput_per_s !== undefined ? `${r.start_throughput_per_s} → ${r.ideal_s}` : '-')],
    ['recovery ÷ ideal (target ≤ 1.5)', (r) => (r.recover_vs_ideal !== undefined ? String(r.recover_vs_ideal) : '-')],
    ['lost s: quiet / start / refusing / booked / handshake', (r) => (r.lost_by_phase ? lostText(r.lost_by_phase) : '-')],
    ['failed attempts: 503 / 1011 / 1013 / other (503 share)', (r) => (r.failures ? `${r.failures.c503} / ${r.failures.c1011} / ${r.failures.c1013} / ${r.failures.other} (${Math.round(r.failures.share503 * 100)}%)` : '-')],
    ['push API timeouts', (r) => (r.push_api_timeouts !== undefined ? String(r.push_api_timeouts) : '-')],
    ['per-client reconnect p50 / p99 / max (ms)', (r) => `${r.reconnect_ms.p50} / ${r.reconnect_ms.p99} / ${r.reconnect_ms.max}`],
    ['resumed sessions', (r) => `${r.resumed} of ${r.reconnected}`],
    ['peak connect rate per gateway (/s, 1 s window)', (r) => Object.entries(r.peak_connect_rate_per_gateway).map(([g, v]) => `${g} ${v}`).join(', ')],
    ['admission rejections (503, gateways)', (r) => String(r.admission_rejections_503)],
    ['503s seen by clients', (r) => String(r.client_seen_503)],
    ['admitted over a full limit, back on time', (r) => String(r.admitted_on_return ?? '-')],
    ['failed attempts (all causes)', (r) => `${r.failed_attempts} ${JSON.stringify(r.failed_by_error)}`],
    ['attempt → hello p50 / p99 (ms)', (r) => (r.attempt_to_hello_ms ? `${r.attempt_to_hello_ms.p50} / ${r.attempt_to_hello_ms.p99}` : '-')],
    ['router resumes: expired / shed / aged out', (r) => (r.router_resumes ? `${r.router_resumes.expired} / ${r.router_resumes.shed} / ${r.router_resumes.agedOut ?? 0}` : '-')],
    ['unexpected closes (by code)', (r) => `${r.unexpected_closes} ${JSON.stringify(r.closes_by_code ?? {})}`],
    ['connections after (per gateway)', (r) => Object.entries(r.connections_after).map(([g, v]) => `${g} ${v}`).join(', ')],
    ['pushes accepted during storm (sent + stored)', (r) => `${r.pushes.sent + r.pushes.offline} (${r.pushes.errors} API errors${r.pushes.errors ? ' ' + JSON.stringify(r.push_error_samples ?? {}) : ''})`],
    ['pushes lost after resume', (r) => `${r.pushes.lost} of ${r.pushes.checked}${r.pushes.lost ? ' e.g. ' + r.pushes.lost_samples.slice(0, 4).join(' ') : ''}`],
    ['machine busy during storm', (r) => `${r.machine_busy_pct_storm}%`],
  ];
  if (rs.some((r) => r.store_stalls)) {
    const o = (r: StormResult, k: string): number => r.router_resumes?.outcomes[k] ?? 0;
    rows.push(['Redis stalls / closed 4003 / clients left out', (r) => (r.store_stalls ? `${r.store_stalls.count} × ${r.store_stalls.ms} ms / ${r.closed_4003} / ${r.left_out}` : '-')]);
    rows.push(['router resumes failed / abandoned / stale', (r) => `${o(r, 'failed')} / ${o(r, 'abandoned')} / ${o(r, 'stale')}`]);
  }
  return table(rows, rs.map(colLabel), rs);
}

/** What jitter buys: fixed / jitter ratios (> 1: the fixed retry is worse). */
export function compareStorms(rs: StormResult[]): { ratios: Record<string, number>; text: string } | undefined {
  const mine = rs.filter((r) => r.build === undefined || r.build === 'this');
  const j = mine.find((r) => r.mode === 'sdk'), f = mine.find((r) => r.mode === 'fixed');
  if (!j || !f) return undefined;
  const ratio = (a: number, b: number): number => (b > 0 ? Math.round((a / b) * 100) / 100 : a > 0 ? Infinity : 1);
  const ratios = {
    peak_connect_rate: ratio(peakMax(f), peakMax(j)),
    admission_rejections: ratio(f.admission_rejections_503, j.admission_rejections_503),
    recover_time: ratio(f.recover_s, j.recover_s),
    reconnect_p99: ratio(f.reconnect_ms.p99, j.reconnect_ms.p99),
  };
  const text = `Fixed-delay retry vs SDK jitter: peak connect rate ×${ratios.peak_connect_rate} (${peakMax(f)} vs ${peakMax(j)}/s per gateway), ` +
    `503s ×${ratios.admission_rejections} (${f.admission_rejections_503} vs ${j.admission_rejections_503}), ` +
    `time to recover ×${ratios.recover_time} (${f.recover_s} vs ${j.recover_s} s).`;
  return { ratios, text };
}

/**
 * --modes: a comma list of client policies, each run on a fresh cluster: sdk (the SDK's backoff), fixed (1 s,
 * honouring the server's waits), deaf (1 s on its own clock, ignoring Retry-After and reconnect delays).
 */
export function parseModes(text: string): RetryModeName[] {
  const modes = text.split(',').map((m) => m.trim());
  const bad = modes.filter((m) => !(RETRY_MODES as readonly string[]).includes(m));
  if (modes.length === 0 || bad.length > 0) throw new Error(`--modes must be a comma list of ${RETRY_MODES.join(', ')} (got ${text})`);
  return modes as RetryModeName[];
}
