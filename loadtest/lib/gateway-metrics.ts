/**
 * Reads a gateway's own counters from its Prometheus endpoint (/metrics on
 * the WebSocket port), a router's resume counters (/metrics on the API port),
 * and a process's RSS and CPU from /proc, for the load generator and the
 * storm bench.
 */
import { cpuMicros, rssBytes } from '../bench/proc-stats.js';

export interface GatewayScrape {
  connections: number;
  opened: number;
  heartbeats: number;
  heartbeatTimeouts: number;
  /** admission_rejections_total by reason (LL_ADMISSION_RATE, LL_ADMISSION_MAX_CONNECTIONS, LL_DRAINING). */
  admissionRejections: Record<string, number>;
  closedByReason: Record<string, number>;
  /** Session starts that completed (resume_total without "failed"). */
  started: number;
  /** The adaptive session-start limit and its smoothed latency (ms). */
  startLimit: number;
  startLatencyMs: number;
  /** Starts admitted over a full limit because the client was back on its booked time (0 on builds without the return line). */
  admittedOnReturn: number;
  /** Session starts a router shed (closed 1013 with a retry delay). */
  shed: number;
}

/** Value of one unlabelled sample, or 0. */
function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

function labelled(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`^${name}\\{[^}]*${label}="([^"]*)"[^}]*\\} ([0-9.e+-]+)$`, 'gm');
  for (const m of text.matchAll(re)) out[m[1]!] = Number(m[2]);
  return out;
}

export function parseGatewayMetrics(text: string): GatewayScrape {
  const p = 'longlink_gateway_';
  return {
    connections: sample(text, p + 'connections'),
    opened: sample(text, p + 'connections_opened_total'),
    heartbeats: sample(text, p + 'heartbeats_total'),
    heartbeatTimeouts: sample(text, p + 'heartbeat_timeouts_total'),
    admissionRejections: labelled(text, p + 'admission_rejections_total', 'reason'),
    closedByReason: labelled(text, p + 'connections_closed_total', 'reason'),
    started: Object.entries(labelled(text, p + 'resume_total', 'outcome')).reduce((a, [k, v]) => (k === 'failed' ? a : a + v), 0),
    startLimit: sample(text, p + 'session_start_limit'),
    startLatencyMs: Math.round(sample(text, p + 'session_start_latency_seconds') * 1000),
    admittedOnReturn: sample(text, p + 'admission_admitted_on_return_total'),
    shed: sample(text, p + 'session_starts_shed_total'),
  };
}

/** The router's resume outcomes and overload counters (its /metrics on the API port). */
export interface RouterResumes { outcomes: Record<string, number>; expired: number; shed: number; /** Not started: read after too much of the gateway's budget passed (0 from routers before the counter). */ agedOut: number }

export async function scrapeRouterResumes(apiUrl: string, timeoutMs = 5000): Promise<RouterResumes | undefined> {
  try {
    const res = await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return undefined;
    const text = await res.text();
    const p = 'longlink_router_';
    return { outcomes: labelled(text, p + 'resumes_total', 'outcome'), expired: sample(text, p + 'resumes_expired_total'), shed: sample(text, p + 'resumes_shed_total'), agedOut: sample(text, p + 'resumes_aged_out_total') };
  } catch {
    return undefined;
  }
}

export async function scrapeGateway(httpUrl: string, timeoutMs = 5000): Promise<GatewayScrape | undefined> {
  try {
    const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? parseGatewayMetrics(await res.text()) : undefined;
  } catch {
    return undefined;
  }
}

export interface ProcSnap { rss: number; cpuUs: number; at: number }

/** RSS and CPU time of a live process, or undefined once it is gone. */
export function procSnap(pid: number | undefined): ProcSnap | undefined {
  if (pid === undefined) return undefined;
  try { return { rss: rssBytes(pid), cpuUs: cpuMicros(pid), at: performance.now() }; } catch { return undefined; }
}

/** % of one core between two snapshots. */
export const cpuPct = (a: ProcSnap, b: ProcSnap): number => ((b.cpuUs - a.cpuUs) / Math.max(1, (b.at - a.at) * 1000)) * 100;
