/**
 * `bench:push --hops DIR`: a push's latency taken apart into hops, from the
 * marks hop-probe.ts keeps in the router and the gateways, the driver's send
 * times and the clients' receive times (all CLOCK_MONOTONIC ms, joined by
 * the driver's `t`). For every hop: p50 / p99 over all pushes, and the mean
 * over the slowest 1 % end to end (the tail) against the rest. When a
 * `perf sched record -k CLOCK_MONOTONIC` file of the same window is given,
 * each tail push's hop also gets the time the hop's process (main thread)
 * spent runnable but waiting for a core inside the hop's interval, and GC
 * pauses overlapping it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

export interface Marks { keys: string[]; at: number[] }
interface Dump { role: string; pid: number; marks: Record<string, Marks>; gc: number[][] }

export const HOPS = ['send→accept', 'accept→stored', 'stored→published', 'published→received', 'received→written', 'written→client'] as const;
/** Whose main thread a hop waits on (besides the network between them): the process that must run to end it. */
const OWNER: Record<(typeof HOPS)[number], string> = {
  'send→accept': 'router', 'accept→stored': 'redis+router', 'stored→published': 'router',
  'published→received': 'nats+gateway', 'received→written': 'gateway', 'written→client': 'worker',
};

export interface HopRow { hop: string; owner: string; p50_ms: number; p99_ms: number; tail_mean_ms: number; rest_mean_ms: number;
  /** Inside the hop: the owner's main thread waiting for a core; any of its threads waiting (merged); its GC pauses. */
  tail_runq_ms?: number; rest_runq_ms?: number; tail_runq_any_ms?: number; rest_runq_any_ms?: number; tail_gc_ms?: number; rest_gc_ms?: number }
export interface HopReport { pushes: number; joined: number; total_p50_ms: number; total_p99_ms: number; tail_n: number; rows: HopRow[];
  /**
   * The perf sched window: its pushes' tail (p99 of those inside it), and per process (main thread) the time it
   * was runnable but waiting for a core, in ms per second of the window, with its longest single wait.
   */
  sched?: { window_s: number; tail_in_window: number; rest_in_window: number; runq: Record<string, { ms_per_s: number; max_ms: number; waits: number; any_ms_per_s: number }> };
  /** GC pauses per process over the whole phase: count, p50, p99 and longest (ms). */
  gc: Record<string, { n: number; p50_ms: number; p99_ms: number; max_ms: number }> }

const pct = (xs: number[], q: number): number => {
  if (xs.length === 0) return -1;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const r2 = (v: number): number => Math.round(v * 100) / 100;
const mean = (xs: number[]): number => (xs.length === 0 ? -1 : xs.reduce((a, b) => a + b, 0) / xs.length);

function index(m: Marks | undefined, into: Map<string, number>, tag?: Map<string, number>, pid?: number): void {
  if (!m) return;
  for (let i = 0; i < m.keys.length; i++) {
    if (into.has(m.keys[i]!)) continue; // the first mark (a push delivered twice counts once)
    into.set(m.keys[i]!, m.at[i]!);
    if (tag && pid !== undefined) tag.set(m.keys[i]!, pid);
  }
}

/**
 * Runnable-but-waiting intervals from `perf sched timehist` (start, end in ms): per thread id, and per process
 * (all its threads, merged: a GC pause waits for its helper threads as much as for the main thread).
 */
function runqueueWaits(file: string): { byTid: Map<number, Array<[number, number]>>; byPid: Map<number, Array<[number, number]>>; from: number; to: number } {
  const r = spawnSync('perf', ['sched', 'timehist', '-i', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const byTid = new Map<number, Array<[number, number]>>(), byPid = new Map<number, Array<[number, number]>>();
  let from = Infinity, to = -Infinity;
  for (const line of (r.stdout ?? '').split('\n')) {
    // time cpu task[tid/pid] wait sch_delay run
    const m = /^\s*([\d.]+)\s+\[\d+\]\s+.*?\[(\d+)(?:\/(\d+))?\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$/.exec(line);
    if (!m) continue;
    const end = Number(m[1]) * 1000, tid = Number(m[2]), pid = m[3] !== undefined ? Number(m[3]) : tid, delay = Number(m[5]), run = Number(m[6]);
    from = Math.min(from, end); to = Math.max(to, end);
    if (delay <= 0) continue;
    const runStart = end - run;
    for (const [map, id] of [[byTid, tid], [byPid, pid]] as const) {
      let l = map.get(id);
      if (!l) map.set(id, (l = []));
      l.push([runStart - delay, runStart]);
    }
  }
  for (const [pid, l] of byPid) {
    l.sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const iv of l) {
      const last = merged[merged.length - 1];
      if (last && iv[0] <= last[1]) last[1] = Math.max(last[1], iv[1]); else merged.push([iv[0], iv[1]]);
    }
    byPid.set(pid, merged);
  }
  return { byTid, byPid, from, to };
}

const overlap = (iv: Array<[number, number]> | undefined, a: number, b: number): number => {
  if (!iv) return 0;
  let s = 0;
  for (const [x, y] of iv) if (y > a && x < b) s += Math.min(y, b) - Math.max(x, a);
  return s;
};

/**
 * `sends`: the driver's; `clients`: per worker pid, its receive marks; `pids`: nats / redis pids;
 * `schedFile`: optional perf sched data of a window inside the phase.
 */
export function hopReport(dir: string, sends: Marks, clients: Array<{ pid: number; marks: Marks }>, pids: { nats: number; redis: number; driver: number }, schedFile?: string): HopReport {
  const dumps = readdirSync(dir).filter((f) => /^(router|gateway)-\d+\.json$/.test(f)).map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Dump);
  const at: Record<string, Map<string, number>> = {};
  const gwOf = new Map<string, number>(), wkOf = new Map<string, number>();
  let routerPid = 0;
  const gcOf = new Map<number, number[][]>();
  for (const k of ['send', 'accept', 'stored', 'published', 'received', 'written', 'client']) at[k] = new Map();
  index(sends, at.send!);
  for (const d of dumps) {
    gcOf.set(d.pid, d.gc);
    if (d.role === 'router') { routerPid = d.pid; for (const k of ['accept', 'stored', 'published']) index(d.marks[k], at[k]!); }
    else { index(d.marks.received, at.received!, gwOf, d.pid); index(d.marks.written, at.written!); }
  }
  for (const c of clients) index(c.marks, at.client!, wkOf, c.pid);
  const seq = ['send', 'accept', 'stored', 'published', 'received', 'written', 'client'];
  const rows: Array<{ key: string; t: number[]; total: number }> = [];
  for (const [key, s] of at.send!) {
    const t = seq.map((k) => at[k]!.get(key));
    if (t.some((x) => x === undefined)) continue;
    rows.push({ key, t: t as number[], total: (t[6] as number) - s });
  }
  const totals = rows.map((r) => r.total);
  const cut = pct(totals, 0.99);
  const tail = rows.filter((r) => r.total >= cut), rest = rows.filter((r) => r.total < cut);
  const sched = schedFile !== undefined ? runqueueWaits(schedFile) : undefined;
  const inWin = (r: { t: number[] }): boolean => sched !== undefined && r.t[0]! >= sched.from && r.t[6]! <= sched.to;
  // Inside the window, its own tail (the window may hold only part of the phase).
  const win = rows.filter(inWin);
  const wcut = pct(win.map((r) => r.total), 0.99);
  const wtail = win.filter((r) => r.total >= wcut), wrest = win.filter((r) => r.total < wcut);
  const ownerPids = (h: number, r: { key: string }): number[] => {
    switch (HOPS[h]) {
      case 'send→accept': case 'stored→published': return [routerPid];
      case 'accept→stored': return [pids.redis, routerPid];
      case 'published→received': return [pids.nats, gwOf.get(r.key)!];
      case 'received→written': return [gwOf.get(r.key)!];
      default: return [wkOf.get(r.key)!];
    }
  };
  const out: HopRow[] = HOPS.map((hop, h) => {
    const d = (r: { t: number[] }): number => r.t[h + 1]! - r.t[h]!;
    const row: HopRow = { hop, owner: OWNER[hop], p50_ms: r2(pct(rows.map(d), 0.5)), p99_ms: r2(pct(rows.map(d), 0.99)),
      tail_mean_ms: r2(mean(tail.map(d))), rest_mean_ms: r2(mean(rest.map(d))) };
    if (sched) {
      const runq = (r: { key: string; t: number[] }): number => ownerPids(h, r).reduce((a, p) => a + overlap(sched.byTid.get(p), r.t[h]!, r.t[h + 1]!), 0);
      const gcMs = (r: { key: string; t: number[] }): number => ownerPids(h, r).reduce((a, p) => a + overlap(gcOf.get(p)?.map(([x, dur]) => [x!, x! + dur!] as [number, number]), r.t[h]!, r.t[h + 1]!), 0);
      const runqAny = (r: { key: string; t: number[] }): number => ownerPids(h, r).reduce((a, p) => a + overlap(sched.byPid.get(p), r.t[h]!, r.t[h + 1]!), 0);
      row.tail_runq_ms = r2(mean(wtail.map(runq)));
      row.rest_runq_ms = r2(mean(wrest.map(runq)));
      row.tail_runq_any_ms = r2(mean(wtail.map(runqAny)));
      row.rest_runq_any_ms = r2(mean(wrest.map(runqAny)));
      row.tail_gc_ms = r2(mean(wtail.map(gcMs)));
      row.rest_gc_ms = r2(mean(wrest.map(gcMs)));
    }
    return row;
  });
  let runqSummary: Record<string, { ms_per_s: number; max_ms: number; waits: number; any_ms_per_s: number }> = {};
  if (sched) {
    const secs = Math.max(1e-3, (sched.to - sched.from) / 1000);
    const named: Array<[string, number]> = [['router', routerPid], ['nats', pids.nats], ['redis', pids.redis], ['driver', pids.driver],
      ...[...new Set(gwOf.values())].map((p, i): [string, number] => [`gateway ${i + 1}`, p]), ...clients.map((c, i): [string, number] => [`worker ${i + 1}`, c.pid])];
    runqSummary = Object.fromEntries(named.map(([n, p]) => {
      const iv = sched.byTid.get(p) ?? [];
      const any = sched.byPid.get(p) ?? [];
      return [n, { ms_per_s: r2(iv.reduce((a, [x, y]) => a + y - x, 0) / secs), max_ms: r2(iv.reduce((a, [x, y]) => Math.max(a, y - x), 0)), waits: iv.length,
        any_ms_per_s: r2(any.reduce((a, [x, y]) => a + y - x, 0) / secs) }];
    }));
  }
  const gcSummary = Object.fromEntries(dumps.map((d) => {
    const ds = d.gc.map((g) => g[1]!);
    return [`${d.role} ${d.pid}`, { n: ds.length, p50_ms: r2(pct(ds, 0.5)), p99_ms: r2(pct(ds, 0.99)), max_ms: r2(ds.reduce((a, b) => Math.max(a, b), 0)) }] as const;
  }));
  return {
    gc: gcSummary,
    pushes: at.send!.size, joined: rows.length, total_p50_ms: r2(pct(totals, 0.5)), total_p99_ms: r2(cut), tail_n: tail.length, rows: out,
    ...(sched ? { sched: { window_s: r2((sched.to - sched.from) / 1000), tail_in_window: wtail.length, rest_in_window: wrest.length, runq: runqSummary } } : {}),
  };
}

export function printHops(label: string, r: HopReport): void {
  const line = (cells: Array<string | number | undefined>): string => cells.map((c, i) => String(c ?? '').padStart(i === 0 ? 20 : 11)).join(' ');
  console.log(`\nHops, ${label}: ${r.joined} of ${r.pushes} pushes joined; end to end p50 ${r.total_p50_ms} ms, p99 ${r.total_p99_ms} ms; tail = the ${r.tail_n} pushes at or over p99` +
    (r.sched ? ` (perf sched window ${r.sched.window_s} s: runq and GC columns over its ${r.sched.tail_in_window} slowest 1 % and ${r.sched.rest_in_window} others)` : ''));
  console.log(line(['hop', 'owner', 'p50', 'p99', 'tail mean', 'rest mean', ...(r.sched ? ['tail runq', 'rest runq', 'tail rq any', 'rest rq any', 'tail GC', 'rest GC'] : [])]));
  for (const x of r.rows) {
    console.log(line([x.hop, x.owner, x.p50_ms, x.p99_ms, x.tail_mean_ms, x.rest_mean_ms,
      ...(r.sched ? [x.tail_runq_ms, x.rest_runq_ms, x.tail_runq_any_ms, x.rest_runq_any_ms, x.tail_gc_ms, x.rest_gc_ms] : [])]));
  }
  console.log('(ms; runq = the owner\'s main thread runnable but waiting for a core inside the hop, rq any = any of its threads, GC = its GC pauses inside the hop)');
  console.log(`GC pauses over the phase: ${Object.entries(r.gc).map(([k, g]) => `${k} ${g.n}× p50 ${g.p50_ms} p99 ${g.p99_ms} max ${g.max_ms}`).join('; ')}`);
  if (r.sched) {
    console.log('Waiting for a core over the window: main thread ms per s, its longest wait ms, its waits; any thread ms per s (merged):');
    for (const [n, x] of Object.entries(r.sched.runq)) console.log(`  ${n.padEnd(10)} ${String(x.ms_per_s).padStart(8)} ${String(x.max_ms).padStart(8)} ${String(x.waits).padStart(8)} ${String(x.any_ms_per_s).padStart(8)}`);
  }
}
