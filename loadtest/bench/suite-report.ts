/** Result type, ratios and table of the benchmark suite (suite.ts). Pure. */
import type { LoopDelay } from './loop-monitor.js';

/** `longlink` = cluster mode (gateway, router, NATS, Redis); `standalone*` = one process; `ws`, `socketio` = the baselines. */
export type SuiteServer = 'longlink' | 'standalone' | 'standalone-node' | 'standalone-uws' | 'ws' | 'socketio';
const isBaseline = (s: SuiteServer): boolean => s === 'ws' || s === 'socketio';

export interface SuiteResult {
  server: SuiteServer;
  connections: number;
  failed: number;
  unexpected_closes: number;
  connect_rate_per_s: number;
  cpu_us_per_connect: number;
  rss_bytes_per_conn: number;
  rss_avg_bytes_per_conn: number;
  rss_idle_mb: number;
  rss_loaded_mb: number;
  cpu_us_per_heartbeat: number;
  heartbeats_per_s: number;
  push: {
    offered_per_s: number; accepted: number; errors: number; received: number; achieved_per_s: number; p50_ms: number; p99_ms: number; max_ms: number;
    /** The server's own event-loop delay over the push window (one-process servers: loop-monitor.ts). */
    loop?: LoopDelay;
  };
}

export type Ratios = Record<string, Record<string, number>>;

/**
 * Longlink / baseline for each metric, for each Longlink row (`<row>_vs_<baseline>`).
 * For connect rate and push throughput, > 1 is better; for the rest, < 1 is better.
 */
export function suiteRatios(rs: SuiteResult[]): Ratios {
  const out: Ratios = {};
  const q = (a: number, b: number): number => (b > 0 && a >= 0 ? Math.round((a / b) * 100) / 100 : -1);
  for (const ll of rs) for (const b of rs) {
    if (isBaseline(ll.server) || !isBaseline(b.server)) continue;
    out[`${ll.server}_vs_${b.server}`] = {
      rss_per_conn: q(ll.rss_bytes_per_conn, b.rss_bytes_per_conn),
      connect_rate: q(ll.connect_rate_per_s, b.connect_rate_per_s),
      cpu_per_connect: q(ll.cpu_us_per_connect, b.cpu_us_per_connect),
      cpu_per_heartbeat: q(ll.cpu_us_per_heartbeat, b.cpu_us_per_heartbeat),
      push_p50: q(ll.push.p50_ms, b.push.p50_ms),
      push_p99: q(ll.push.p99_ms, b.push.p99_ms),
      push_throughput: q(ll.push.achieved_per_s, b.push.achieved_per_s),
    };
  }
  return out;
}

export function suiteTable(rs: SuiteResult[], ratios: Ratios): string {
  const rows: Array<[string, (r: SuiteResult) => string | number]> = [
    ['connections (failed, unexpected closes)', (r) => `${r.connections} (${r.failed}, ${r.unexpected_closes})`],
    ['connect rate, JWT verified (/s)', (r) => r.connect_rate_per_s],
    ['server CPU per connect (µs)', (r) => r.cpu_us_per_connect],
    ['RSS per idle connection, marginal (B)', (r) => r.rss_bytes_per_conn],
    ['RSS per connection, average (B)', (r) => r.rss_avg_bytes_per_conn],
    ['RSS idle → loaded (MB)', (r) => `${r.rss_idle_mb} → ${r.rss_loaded_mb}`],
    ['CPU per heartbeat (µs)', (r) => r.cpu_us_per_heartbeat],
    ['heartbeats/s in the window', (r) => r.heartbeats_per_s],
    ['push: achieved / offered (/s)', (r) => `${r.push.achieved_per_s} / ${r.push.offered_per_s}`],
    ['push: received / accepted (errors)', (r) => `${r.push.received} / ${r.push.accepted} (${r.push.errors})`],
    ['push latency p50 / p99 / max (ms)', (r) => `${r.push.p50_ms} / ${r.push.p99_ms} / ${r.push.max_ms}`],
    ['server loop delay p99 / max, own max (ms)', (r) => (r.push.loop ? `${r.push.loop.p99_ms} / ${r.push.loop.max_ms}, ${r.push.loop.max_own_ms}` : '-')],
  ];
  const wl = Math.max(...rows.map(([k]) => k.length));
  const cells = rs.map((r) => rows.map(([, f]) => String(f(r))));
  const wc = rs.map((r, i) => Math.max(r.server.length, ...cells[i]!.map((c) => c.length)));
  const line = (k: string, vs: string[]): string => `${k.padEnd(wl)}  ${vs.map((v, i) => v.padStart(wc[i]!)).join('  ')}`;
  const out = ['', line('', rs.map((r) => r.server)), ...rows.map(([k], j) => line(k, cells.map((c) => c[j]!)))];
  for (const [k, v] of Object.entries(ratios)) out.push('', `${k}: ${Object.entries(v).map(([m, x]) => `${m} ${x}`).join(', ')}`);
  out.push('(ratios = Longlink / baseline: connect rate and push throughput > 1 is better, the others < 1 is better; -1 = not measured)');
  return out.join('\n');
}
