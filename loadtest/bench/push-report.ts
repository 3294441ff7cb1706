/**
 * Tables and ratios of `bench:push`: every system's phases, CPU µs per push
 * per process group, and new ÷ old per deployment (both measured in the same
 * run, so the machine's background load affects both).
 */
import type { HopReport } from './hop-report.js';
import type { HotFunction } from '../lib/cpuprofile.js';
import type { MaxBatchResult, PhaseResult } from './push-phase.js';

export interface SystemResult {
  label: string; kind: 'cluster' | 'standalone';
  fixed: PhaseResult; single: PhaseResult[]; batch: PhaseResult[]; maxBatch: MaxBatchResult | undefined;
  idleCpu: Record<string, number>; maxSingle: number; maxBatched: number;
  clients: Record<string, number>;
  /** --hops: the fixed phase's hop breakdown (hop-report.ts). */
  hops?: HopReport;
}

type Profile = { totalMs: number; idlePct: number; gcPct: number; top: HotFunction[] };

const f = (v: number | undefined, w: number): string => String(v ?? '-').padStart(w);
const ratio = (a: number | undefined, b: number | undefined): number => (a !== undefined && b !== undefined && b > 0 && a >= 0 ? Math.round((a / b) * 100) / 100 : -1);

export function printReport(results: SystemResult[], o: { rate: number; p99Limit: number; profiles: Record<string, Profile[]> }): Record<string, unknown> {
  console.log('\nsystem            phase             mode    offered achieved  accepted  received   p50    p90    p99  p99.9    max  http p50/p99 | machine busy% other  result');
  for (const r of results) {
    for (const x of [r.fixed, ...r.single, ...r.batch]) {
      console.log(`${r.label.padEnd(17)} ${x.name.padEnd(17)} ${x.mode.padEnd(6)} ${f(x.offered_rate, 8)} ${f(x.achieved_rate, 8)} ${f(x.accepted, 9)} ${f(x.received, 9)} ` +
        `${f(x.p50_ms, 6)} ${f(x.p90_ms, 6)} ${f(x.p99_ms, 6)} ${f(x.p999_ms, 6)} ${f(x.max_ms, 6)} ${f(x.http_p50_ms, 6)}/${String(x.http_p99_ms).padEnd(6)} | ` +
        `${f(x.cpu.machine_busy, 12)} ${f(x.cpu.other, 5)}  ${x.pass ? 'pass' : 'FAIL'}`);
    }
  }
  console.log('(latencies in ms, HTTP call → client receive; machine busy = % of all cores; other = busy core-% outside this benchmark\'s processes)');

  console.log('\nCPU µs per push at the fixed rate   router    gw  nats redis standalone | server total | workers driver');
  for (const r of results) {
    const u = r.fixed.cpu_us_per_msg;
    console.log(`${r.label.padEnd(35)} ${f(u.router, 6)} ${f(u.gateways, 5)} ${f(u.nats, 5)} ${f(u.redis, 5)} ${f(u.standalone, 10)} | ${f(u.server, 12)} | ${f(u.workers, 7)} ${f(u.driver, 6)}`);
  }

  if (results.some((r) => r.fixed.syscalls !== undefined)) {
    console.log('\nper push at the fixed rate (perf stat)  syscalls  writes  reads  epoll_pwait  futex  ctx switches  task clock µs  (pushes counted)');
    for (const r of results) {
      const y = r.fixed.syscalls;
      if (y) console.log(`${r.label.padEnd(38)} ${f(y.syscalls, 9)} ${f(y.writes, 7)} ${f(y.reads, 6)} ${f(y.epoll_pwait, 12)} ${f(y.futex, 6)} ${f(y.context_switches, 13)} ${f(y.task_clock_us, 14)}  (${y.units})`);
    }
    console.log('(the router or standalone process, all threads; writes = write, writev, sendto, sendmsg; reads = read, recvfrom)');
  }

  console.log('\nsustained (p99 < ' + o.p99Limit + ' ms)   single/s  batched/s | max-size batches: batches ok  batch p50/max ms  bystander /healthz p50/p99/max ms  server event-loop delay p99/max (own max) ms');
  for (const r of results) {
    const m = r.maxBatch;
    console.log(`${r.label.padEnd(28)} ${f(r.maxSingle, 9)} ${f(r.maxBatched, 10)} | ${m ? `${f(m.ok, 10)}/${m.batches}  ${f(m.batch_p50_ms, 8)}/${m.batch_max_ms}  ${f(m.probe_p50_ms, 14)}/${m.probe_p99_ms}/${m.probe_max_ms}  ${f(m.loop_p99_ms, 22)}/${m.loop_max_ms} (${m.loop_own_max_ms})` : '-'}`);
  }
  console.log('(server event-loop delay: sampled inside the router / standalone process every 5 ms over the max-batch window; how late a due timer ran; own = the longest stall less the time the thread waited for a core)');
  for (const r of results) {
    const m = r.maxBatch;
    if (!m) continue;
    if (m.floor_max_ms >= 0) console.log(`  ${r.label}: floor (an idle Node process, same window) p99/max ${m.floor_p99_ms}/${m.floor_max_ms} ms`);
    if (m.loop_stalls.length === 0) continue;
    const top = m.loop_stalls.slice(0, 5).map((x) => `${x.delay_ms} (cpu ${x.oncpu_ms}, waiting ${x.runqueue_ms}, gc ${x.gc_ms}${x.gc.length > 0 ? ' ' + x.gc.join('+') : ''})`);
    console.log(`  ${r.label}: ${m.loop_stall_count} stalls > 15 ms; longest ms: ${top.join('; ')}`);
  }

  const ratios: Record<string, Record<string, number>> = {};
  for (const kind of ['cluster', 'standalone'] as const) {
    const n = results.find((r) => r.label === `${kind} new`);
    if (!n) continue;
    // "old" gives the ratios under the deployment's name; any further baseline ("base <commit>") under its own.
    for (const b of results.filter((r) => r.kind === kind && r.label !== `${kind} new` && (r.label === `${kind} old` || r.label.startsWith(`${kind} base `)))) {
      const key = b.label === `${kind} old` ? kind : `${kind} ÷ ${b.label.slice(kind.length + 6)}`;
      const nu = n.fixed.cpu_us_per_msg, bu = b.fixed.cpu_us_per_msg;
      ratios[key] = {
        ...(kind === 'cluster' ? { router_cpu: ratio(nu.router, bu.router), gateways_cpu: ratio(nu.gateways, bu.gateways), nats_cpu: ratio(nu.nats, bu.nats), redis_cpu: ratio(nu.redis, bu.redis) } : {}),
        server_cpu: ratio(nu.server, bu.server), p99: ratio(n.fixed.p99_ms, b.fixed.p99_ms), p50: ratio(n.fixed.p50_ms, b.fixed.p50_ms),
        max_single: ratio(n.maxSingle, b.maxSingle), max_batched: ratio(n.maxBatched, b.maxBatched),
        ...(n.maxBatch && b.maxBatch ? { bystander_max_delay: ratio(n.maxBatch.probe_max_ms, b.maxBatch.probe_max_ms), loop_max_delay: ratio(n.maxBatch.loop_max_ms, b.maxBatch.loop_max_ms), loop_own_max_delay: ratio(n.maxBatch.loop_own_max_ms, b.maxBatch.loop_own_max_ms) } : {}),
      };
    }
  }
  if (Object.keys(ratios).length > 0) {
    console.log('\nnew ÷ old (same run)');
    for (const [k, v] of Object.entries(ratios)) console.log(`  ${k.padEnd(11)} ${Object.entries(v).map(([a, b]) => `${a} ${b}`).join(', ')}`);
  }
  for (const [k, list] of Object.entries(o.profiles)) {
    for (const p of list) {
      console.log(`\nCPU profile, ${k} (new build, whole process life: ${p.totalMs} ms sampled, idle ${p.idlePct} %, GC ${p.gcPct} %): top self time`);
      for (const h of p.top) console.log(`  ${f(h.pct, 5)} %  ${f(h.selfMs, 6)} ms  ${h.fn}`);
    }
  }
  return {
    systems: results.map((r) => ({
      label: r.label, fixed: r.fixed, single_steps: r.single, batch_steps: r.batch, max_batch: r.maxBatch, idle_cpu: r.idleCpu,
      max_sustained_single: r.maxSingle, max_sustained_batched: r.maxBatched, clients: r.clients, ...(r.hops ? { hops: r.hops } : {}),
    })),
    ratios_new_over_old: ratios,
    profiles: o.profiles,
  };
}
