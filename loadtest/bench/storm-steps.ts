/**
 * bench:storm's per-step bookkeeping: one sample of every gateway's counters,
 * the best 3 s of completed session starts (the storm's ideal rate), and the
 * split of failed attempts into refusals before the upgrade and closes after.
 */
import type { GatewayScrape } from '../lib/gateway-metrics.js';
import { bestRate } from './storm-report.js';

export interface Step { t: number; opened: number[]; started: number[]; rejected: number[]; limit: number[]; latencyMs: number[]; shed: number[] }

export function step(t: number, now: Array<GatewayScrape | undefined>): Step {
  return {
    t, opened: now.map((m) => m?.opened ?? NaN), started: now.map((m) => m?.started ?? NaN),
    rejected: now.map((m) => Object.values(m?.admissionRejections ?? {}).reduce((a, b) => a + b, 0)),
    limit: now.map((m) => m?.startLimit ?? NaN), latencyMs: now.map((m) => m?.startLatencyMs ?? NaN), shed: now.map((m) => m?.shed ?? NaN),
  };
}

/** Best rate of completed session starts over any 3 s of wall time (bestRate), summed over gateways (a failed scrape carries the last value). */
export function bestRate3s(start: number[], steps: Step[]): number {
  const series = [{ t: 0, n: start.reduce((a, b) => a + b, 0) }];
  for (const s of steps) series.push({ t: s.t, n: Math.max(series.at(-1)!.n, s.started.reduce((a, b) => a + (Number.isNaN(b) ? 0 : b), 0)) });
  return bestRate(series, 3);
}

/** Failed attempts by kind: refused before the upgrade (by HTTP status), and closes before hello or after it (by close code). */
export function failureSplit(statuses: Record<string, number>, codes: Record<string, number>): { c503: number; c1011: number; c1013: number; other: number; share503: number } {
  const c503 = statuses['503'] ?? 0, c1011 = codes['1011'] ?? 0, c1013 = codes['1013'] ?? 0;
  const all = Object.values(statuses).reduce((a, b) => a + b, 0) + Object.values(codes).reduce((a, b) => a + b, 0);
  return { c503, c1011, c1013, other: all - c503 - c1011 - c1013, share503: all > 0 ? Math.round((c503 / all) * 1000) / 1000 : 1 };
}

export const diff = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
