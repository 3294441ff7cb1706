/**
 * Where a storm's time goes, per second (storm.ts samples every 250 ms):
 * session starts completed and 503s handed out by the survivors, what the
 * clients saw (503s, 1011s, the Retry-After values they were given), how
 * many clients were idle-waiting for their next attempt versus in a
 * handshake, and the CPU of the clients, the gateways, the router and the
 * whole machine. When the clients are at their CPU share and the gateways
 * are not, the tail is client-bound. Pure.
 */

/** One 250 ms sample: cumulative counters and CPU times (µs), gauges as read. */
export interface StormSample {
  t: number;
  /** Survivors' completed session starts and admission refusals, summed (cumulative). */
  started: number;
  refused: number;
  /** Client side: open (hello received), in a handshake, idle-waiting for the next attempt. */
  open: number; connecting: number; waiting: number;
  /** Client-seen 503s and 1011s (cumulative), and Retry-After values given (seconds → count, cumulative). */
  c503: number; c1011: number; retryAfter: Record<string, number>;
  /** CPU time (µs, cumulative): all client workers, each surviving gateway, the router; machine busy/total jiffies. */
  cpuClients: number; cpuGateways: number[]; cpuRouter: number; jiffies: [number, number];
  /** CPU (µs, cumulative) of the rest of the bench: this process (pusher, scrapes), nats-server, redis-server. */
  cpuOther: number;
  /** Worst client-worker event-loop delay in the step (ms). */
  clientLagMs: number;
}

export interface StormSecond {
  t: number;
  admitted_per_s: number; refused_per_s: number; client_503_per_s: number; client_1011_per_s: number;
  /** Retry-After values handed out in this second: count, mean and max (s). */
  retry_after: { n: number; mean: number; max: number };
  open: number; connecting: number; waiting: number;
  /** % of one core. */
  cpu_clients_pct: number; cpu_gateways_pct: number[]; cpu_router_pct: number;
  /** The bench process, NATS and Redis together. */
  cpu_bench_nats_redis_pct: number;
  /** Worst client-worker event-loop delay in the second (ms): high means the clients themselves were late. */
  client_lag_ms: number;
  /** % of the whole machine. */
  machine_busy_pct: number;
}

/** Per-second rows from samples (every `per`-th sample closes a row; the last partial row is kept). */
export function perSecond(samples: StormSample[], per = 4): StormSecond[] {
  const out: StormSecond[] = [];
  for (let i = per; i - per < samples.length - 1; i += per) {
    const a = samples[i - per]!, b = samples[Math.min(i, samples.length - 1)]!;
    const dt = Math.max(0.001, b.t - a.t);
    const rate = (x: number, y: number): number => Math.round(Math.max(0, y - x) / dt);
    const pct = (x: number, y: number): number => Math.round((Math.max(0, y - x) / (dt * 1e6)) * 100);
    let n = 0, sum = 0, max = 0;
    for (const [k, v] of Object.entries(b.retryAfter)) {
      const d = v - (a.retryAfter[k] ?? 0);
      if (d <= 0) continue;
      n += d; sum += d * Number(k); max = Math.max(max, Number(k));
    }
    out.push({
      t: Math.round(b.t * 100) / 100,
      admitted_per_s: rate(a.started, b.started), refused_per_s: rate(a.refused, b.refused),
      client_503_per_s: rate(a.c503, b.c503), client_1011_per_s: rate(a.c1011, b.c1011),
      retry_after: { n, mean: n > 0 ? Math.round((sum / n) * 10) / 10 : 0, max },
      open: b.open, connecting: b.connecting, waiting: b.waiting,
      cpu_clients_pct: pct(a.cpuClients, b.cpuClients), cpu_gateways_pct: b.cpuGateways.map((c, g) => pct(a.cpuGateways[g] ?? c, c)),
      cpu_router_pct: pct(a.cpuRouter, b.cpuRouter), cpu_bench_nats_redis_pct: pct(a.cpuOther, b.cpuOther),
      client_lag_ms: Math.max(...samples.slice(i - per + 1, Math.min(i, samples.length - 1) + 1).map((x) => x.clientLagMs)),
      machine_busy_pct: Math.round(((b.jiffies[0] - a.jiffies[0]) / Math.max(1, b.jiffies[1] - a.jiffies[1])) * 100),
    });
  }
  return out;
}

/** A compact text view of the per-second timeline (stderr of the bench). */
export function timelineText(rows: StormSecond[]): string {
  const head = '   t  admit/s  503/s  1011/s  RA n/mean/max   open  conn  wait  cpu cli/gw/rtr/rest %  busy %  cli lag ms';
  return [head, ...rows.map((r) => `${r.t.toFixed(1).padStart(5)}  ${String(r.admitted_per_s).padStart(6)}  ${String(r.refused_per_s).padStart(5)}  ${String(r.client_1011_per_s).padStart(6)}  ` +
    `${`${r.retry_after.n}/${r.retry_after.mean}/${r.retry_after.max}`.padStart(13)}  ${String(r.open).padStart(5)}  ${String(r.connecting).padStart(4)}  ${String(r.waiting).padStart(5)}  ` +
    `${`${r.cpu_clients_pct}/${r.cpu_gateways_pct.join('+')}/${r.cpu_router_pct}/${r.cpu_bench_nats_redis_pct}`.padStart(21)}  ${String(r.machine_busy_pct).padStart(6)}  ${String(r.client_lag_ms).padStart(10)}`)].join('\n');
}
