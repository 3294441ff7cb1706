/**
 * `bench:webhooks` numbers: latency percentiles of one phase, the modes
 * merged over the rounds, their ratios against webhooks off, and the table.
 */
import { percentileOf } from '../lib/histogram.js';

export type Mode = 'off' | 'on' | 'on-slow';

export interface PhaseStats {
  mode: Mode;
  requests: number;
  errors: number;
  /** Completed push calls per second. */
  throughput: number;
  p50_ms: number;
  p99_ms: number;
  /** CPU of the router process that took the pushes (all its threads: the dispatcher's included), µs per push. */
  router_cpu_us_per_push: number;
}

export { percentileOf };

export function phaseStats(mode: Mode, latenciesMs: number[], errors: number, seconds: number, routerCpuUs = 0): PhaseStats {
  const s = [...latenciesMs].sort((a, b) => a - b);
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return {
    mode, requests: s.length, errors, throughput: Math.round(s.length / seconds), p50_ms: r2(percentileOf(s, 0.5)), p99_ms: r2(percentileOf(s, 0.99)),
    router_cpu_us_per_push: Math.round(routerCpuUs / Math.max(1, s.length)),
  };
}

/** Per mode: medians over the rounds (rounds alternate the modes, so drift hits them alike). */
export function mergeRounds(phases: readonly PhaseStats[]): Record<Mode, PhaseStats> {
  const med = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!; };
  const out = {} as Record<Mode, PhaseStats>;
  for (const mode of ['off', 'on', 'on-slow'] as const) {
    const ps = phases.filter((p) => p.mode === mode);
    if (ps.length === 0) continue;
    out[mode] = {
      mode, requests: ps.reduce((a, p) => a + p.requests, 0), errors: ps.reduce((a, p) => a + p.errors, 0),
      throughput: med(ps.map((p) => p.throughput)), p50_ms: med(ps.map((p) => p.p50_ms)), p99_ms: med(ps.map((p) => p.p99_ms)),
      router_cpu_us_per_push: med(ps.map((p) => p.router_cpu_us_per_push)),
    };
  }
  return out;
}

/** on / off for p99 and throughput: p99 ratio ≤ 1.10 and throughput ratio ≥ 0.90 meet the ≤ 10 % target. */
export function ratios(m: Record<Mode, PhaseStats>): Record<string, { p99: number; throughput: number; within_10pct: boolean }> {
  const off = m.off;
  const out: Record<string, { p99: number; throughput: number; within_10pct: boolean }> = {};
  if (!off) return out;
  for (const mode of ['on', 'on-slow'] as const) {
    const x = m[mode];
    if (!x) continue;
    const p99 = Math.round((x.p99_ms / off.p99_ms) * 1000) / 1000;
    const throughput = Math.round((x.throughput / off.throughput) * 1000) / 1000;
    out[`${mode}_vs_off`] = { p99, throughput, within_10pct: p99 <= 1.1 && throughput >= 0.9 };
  }
  return out;
}

function section(title: string, m: Record<Mode, PhaseStats>, r: ReturnType<typeof ratios>): string[] {
  const pad = (x: string, n: number): string => x.padEnd(n);
  const lines = [title, pad('mode', 28) + pad('pushes/s', 10) + pad('p50 ms', 9) + pad('p99 ms', 9) + pad('p99 ×off', 10) + pad('pushes/s ×off', 15) + 'router CPU µs/push'];
  const name: Record<Mode, string> = { off: 'webhooks off', on: 'on (every push → event)', 'on-slow': 'on, slow receiver' };
  for (const mode of ['off', 'on', 'on-slow'] as const) {
    const x = m[mode];
    if (!x) continue;
    const rr = r[`${mode}_vs_off`];
    lines.push(pad(name[mode], 28) + pad(String(x.throughput), 10) + pad(String(x.p50_ms), 9) + pad(String(x.p99_ms), 9) + pad(rr ? String(rr.p99) : '1', 10)
      + pad(rr ? String(rr.throughput) : '1', 15) + String(x.router_cpu_us_per_push));
  }
  return lines;
}

export function table(saturated: Record<Mode, PhaseStats>, rs: ReturnType<typeof ratios>, fixed: Record<Mode, PhaseStats> | undefined, rf: ReturnType<typeof ratios> | undefined,
  delivery: { events: number; seconds: number; rate: number }, fixedRate: number): string {
  const lines = section('closed loop (saturation): as many pushes as the routers answer', saturated, rs);
  if (fixed && rf) lines.push('', ...section(`open loop at ${fixedRate} pushes/s`, fixed, rf));
  lines.push('', `webhook delivery rate, one router: ${delivery.rate} events/s (${delivery.events} events in ${delivery.seconds} s)`);
  return lines.join('\n');
}
