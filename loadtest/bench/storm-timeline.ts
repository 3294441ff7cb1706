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
  /** The part of cpuOther that is this process (µs, cumulative): load generation and measurement, not the cluster. */
  cpuBench?: number;
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

/**
 * Where the seconds above the ideal went, by phase, and whose CPU ran then.
 * With the storm's best rate `R` (ideal = clients ÷ R), a step of `dt`
 * seconds that completed `a` starts per second lost `dt × (1 − a / R)`, and a
 * step above `R` gives some back (a scrape that stalls shows as a step with
 * none followed by one with twice as many: clipping would count the stall as
 * lost); summed over the storm this is recovery − ideal. Each 250 ms step
 * (sample b after sample a) is put in one phase:
 *
 * - `quiet`: no start completed and no 503 since the kill: the clients' own
 *   first delay (1 s for fixed retry, up to 1 s for the SDK's), their event
 *   loops after the kill's closes, the first starts' latency. Admission has
 *   nothing to do yet.
 * - `start`: starts completing, no 503 yet: the limits had room.
 * - `refusing`: 503s handed out in the step (by the gateways' count or the
 *   clients'): the limits were full.
 * - `booked`: after the first 503, none in the step, more clients asleep on a
 *   server-given wait than in a handshake: returns paced by the 503 timetable
 *   (or a router shed's delay) while the gateways had room.
 * - `handshake`: after the first 503, none in the step, most clients not back
 *   are mid-handshake (in the clients' own queues, the kernel or the gateway).
 *
 * Per phase also the CPU (% of one core, mean over the phase) of the load
 * clients, the bench process (it pushes and scrapes), the cluster (surviving
 * gateways + router + NATS + Redis) and the whole machine: on a shared machine
 * what the three leave of the machine's busy time went to other work. The
 * cluster's CPU per start is not given: its fixed costs (the bench's pushes
 * and scrapes, idle connections) make it higher in any slow phase by
 * construction. Pure.
 */
export type StormPhase = 'quiet' | 'start' | 'refusing' | 'booked' | 'handshake';
export const STORM_PHASES: readonly StormPhase[] = Object.freeze(['quiet', 'start', 'refusing', 'booked', 'handshake']);

export interface PhaseLoss {
  phase: StormPhase;
  seconds: number;
  lost_s: number;
  admitted_per_s: number;
  cpu_clients_pct: number;
  cpu_bench_pct: number;
  cpu_cluster_pct: number;
  /** Whole machine busy (% of one core; 200 = both cores of a 2-core machine): what neither the clients nor the cluster used went to other work. */
  machine_busy_pct: number;
}

const clusterCpu = (s: StormSample): number => s.cpuGateways.reduce((a, b) => a + b, 0) + s.cpuRouter + s.cpuOther - (s.cpuBench ?? 0);

/** The phase of the step from `a` to `b` (`first` is the sample at the kill; `refusedYet`: a 503 in an earlier step). */
export function phaseOf(first: StormSample, a: StormSample, b: StormSample, refusedYet: boolean): StormPhase {
  // The clients' own 503 count too: a gateway scrape that repeats its last values (the storm's busiest seconds) must
  // not turn a refusing step into a handshake one, or the step after it, which catches up, gives its time back elsewhere.
  if (b.refused > a.refused || b.c503 > a.c503) return 'refusing';
  if (!refusedYet) return b.started > first.started ? 'start' : 'quiet';
  return b.waiting > b.connecting ? 'booked' : 'handshake';
}

/**
 * Seconds lost per phase against the best rate `bestPerS` (the ideal's);
 * `cores`: the machine's, for its busy share. Phases that never occurred are
 * left out.
 */
export function lostByPhase(samples: StormSample[], bestPerS: number, cores = 2): PhaseLoss[] {
  if (samples.length < 2 || !(bestPerS > 0)) return [];
  const first = samples[0]!;
  const acc = new Map<StormPhase, { dt: number; lost: number; started: number; cli: number; bench: number; cluster: number; busy: number }>();
  let refusedYet = false;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!, b = samples[i]!;
    const dt = b.t - a.t;
    if (!(dt > 0)) continue;
    const phase = phaseOf(first, a, b, refusedYet);
    if (phase === 'refusing') refusedYet = true;
    const started = Math.max(0, b.started - a.started);
    const x = acc.get(phase) ?? { dt: 0, lost: 0, started: 0, cli: 0, bench: 0, cluster: 0, busy: 0 };
    x.dt += dt;
    x.lost += dt - started / bestPerS;
    x.started += started;
    x.cli += Math.max(0, b.cpuClients - a.cpuClients);
    x.cluster += Math.max(0, clusterCpu(b) - clusterCpu(a));
    x.bench += Math.max(0, (b.cpuBench ?? 0) - (a.cpuBench ?? 0));
    // Jiffies: busy share of the whole machine over the step, in cores (× dt × 1e6 µs, like the others).
    const jt = b.jiffies[1] - a.jiffies[1];
    x.busy += jt > 0 ? ((b.jiffies[0] - a.jiffies[0]) / jt) * cores * dt * 1e6 : 0;
    acc.set(phase, x);
  }
  const r2 = (v: number): number => Math.round(v * 100) / 100;
  return STORM_PHASES.filter((p) => acc.has(p)).map((p) => {
    const x = acc.get(p)!;
    const pct = (us: number): number => Math.round((us / (x.dt * 1e6)) * 100);
    return {
      phase: p, seconds: r2(x.dt), lost_s: r2(x.lost), admitted_per_s: Math.round(x.started / x.dt),
      cpu_clients_pct: pct(x.cli), cpu_bench_pct: pct(x.bench), cpu_cluster_pct: pct(x.cluster), machine_busy_pct: pct(x.busy),
    };
  });
}

/** One line per phase (stderr of the bench). */
export function phaseText(rows: PhaseLoss[]): string {
  const head = 'phase       s   lost s  admit/s  cpu clients/bench/cluster/machine (% of a core)';
  return [head, ...rows.map((r) => `${r.phase.padEnd(9)} ${r.seconds.toFixed(1).padStart(5)}  ${r.lost_s.toFixed(2).padStart(6)}  ${String(r.admitted_per_s).padStart(7)}  ` +
    `${`${r.cpu_clients_pct}/${r.cpu_bench_pct}/${r.cpu_cluster_pct}/${r.machine_busy_pct}`.padStart(35)}`)].join('\n');
}
