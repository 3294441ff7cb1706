/**
 * CPU pinning for benchmarks (`bench:storm --pin CLUSTER:LOAD`): the cluster's
 * processes (gateways, routers, NATS, Redis) on one set of CPUs, the load side
 * (the bench process and its load-generator workers) on another, so on a small
 * machine the clients no longer take CPU the server would have used and the
 * server's own share of a slow storm can be read.
 *
 * Affinity is set with `taskset -a -p -c LIST PID` (sched_setaffinity on every
 * thread the process has; threads it starts later inherit it from their
 * creator, and forked children from their parent). Reading it back uses
 * /proc/<pid>/status `Cpus_allowed_list`, what the kernel will schedule on.
 *
 * Contract: `parsePin` validates once, before anything is spawned, against the
 * CPUs this process may run on; a bad value or a machine without two usable
 * CPUs is a `PinError` (the bench turns it into a usage error, exit 2).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export class PinError extends Error {}

export interface PinPlan {
  /** CPUs for the cluster's processes. */
  readonly cluster: readonly number[];
  /** CPUs for the bench process and the load clients. */
  readonly load: readonly number[];
}

/** Parses a CPU list as taskset and the kernel write it: `0`, `0-3`, `0,2-3`. Throws PinError. */
export function parseCpuList(s: string): number[] {
  const out = new Set<number>();
  if (s.trim() === '') throw new PinError('empty CPU list');
  for (const part of s.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) throw new PinError(`'${part}' is not a CPU number or range`);
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new PinError(`range '${part}' runs backwards`);
    for (let c = a; c <= b; c++) out.add(c);
  }
  return [...out].sort((x, y) => x - y);
}

/** `0,2-3` form of a CPU set. */
export function cpuListText(cpus: readonly number[]): string {
  const xs = [...cpus].sort((a, b) => a - b), parts: string[] = [];
  for (let i = 0; i < xs.length;) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    parts.push(i === j ? `${xs[i]}` : `${xs[i]}-${xs[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The CPUs a process (or one of its threads: `pid/task/tid`) may run on, from /proc. */
export function allowedCpus(pid: number | string = 'self'): number[] {
  const m = /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no Cpus_allowed_list in /proc/${pid}/status`);
  return parseCpuList(m[1]!);
}

/**
 * `--pin CLUSTER:LOAD`, e.g. `0:1`: two disjoint, non-empty CPU lists, every CPU
 * one this process may run on (`allowed`, default: its own affinity).
 */
export function parsePin(spec: string, allowed: readonly number[] = allowedCpus()): PinPlan {
  const usage = `--pin takes CLUSTER:LOAD CPU lists, e.g. 0:1 (cluster on CPU 0, bench and load clients on CPU 1); this process may run on CPUs ${cpuListText(allowed)}`;
  if (allowed.length < 2) throw new PinError(`--pin needs at least 2 CPUs, one for the cluster and one for the load; this process may run on ${allowed.length} (CPU ${cpuListText(allowed)})`);
  const halves = spec.split(':');
  if (halves.length !== 2) throw new PinError(`${usage}; got '${spec}'`);
  let cluster: number[], load: number[];
  try {
    cluster = parseCpuList(halves[0]!);
    load = parseCpuList(halves[1]!);
  } catch (e) {
    throw new PinError(`${usage}; got '${spec}': ${(e as Error).message}`);
  }
  const missing = [...cluster, ...load].filter((c) => !allowed.includes(c));
  if (missing.length > 0) throw new PinError(`${usage}; got '${spec}': CPU ${cpuListText(missing)} not available`);
  const both = cluster.filter((c) => load.includes(c));
  if (both.length > 0) throw new PinError(`${usage}; got '${spec}': CPU ${cpuListText(both)} in both lists (the point is to keep them apart)`);
  return Object.freeze({ cluster: Object.freeze(cluster), load: Object.freeze(load) });
}

/** Pins every thread of `pid` to `cpus` (taskset -a -p -c). Throws if taskset fails or the process is gone. */
export function pinPid(pid: number, cpus: readonly number[]): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpuListText(cpus), String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Every thread's CPU list of `pid` (as text), for checking that a pin reached all of them. */
export function threadCpus(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => { try { return cpuListText(allowedCpus(`${pid}/task/${tid}`)); } catch { return ''; } }).filter((s) => s !== '');
}

/** The cluster harness's processes by role (the killed gateway's pid stays listed; pinning it is harmless). */
export interface PinnableCluster {
  readonly gateways: ReadonlyArray<{ readonly id: string; readonly proc: { readonly child: { readonly pid?: number | undefined } } }>;
  readonly routers: ReadonlyArray<{ readonly proc: { readonly child: { readonly pid?: number | undefined } } }>;
  readonly nats: { readonly nodes: readonly unknown[]; pid(i: number): number | undefined };
  readonly redis: { readonly pid: number | undefined };
}

export function clusterPids(c: PinnableCluster): Record<string, number> {
  const out: Record<string, number> = {};
  c.gateways.forEach((g) => { if (g.proc.child.pid !== undefined) out[g.id] = g.proc.child.pid; });
  c.routers.forEach((r, i) => { if (r.proc.child.pid !== undefined) out[`router${i}`] = r.proc.child.pid; });
  c.nats.nodes.forEach((_, i) => { const p = c.nats.pid(i); if (p !== undefined) out[`nats${i}`] = p; });
  if (c.redis.pid !== undefined) out.redis = c.redis.pid;
  return out;
}

/**
 * Pins each named process to `cpus` and reads every thread back: role → its
 * threads' CPU list. Throws if any thread is left allowed elsewhere, so a
 * bench never reports a pinned run that was not.
 */
export function pinAll(pids: Record<string, number>, cpus: readonly number[]): Record<string, string> {
  const out: Record<string, string> = {}, want = cpuListText(cpus);
  for (const [role, pid] of Object.entries(pids)) {
    pinPid(pid, cpus);
    const got = [...new Set(threadCpus(pid))].join(' | ');
    if (got !== want) throw new Error(`pinning ${role} (pid ${pid}) to CPU ${want} left its threads on ${got}`);
    out[role] = got;
  }
  return out;
}
