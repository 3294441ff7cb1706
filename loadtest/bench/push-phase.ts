/**
 * One measured phase of `bench:push` against a BenchSystem: an open-loop
 * driver (sends scheduled at the offered rate whatever the completions, at
 * most `concurrency` requests in flight), CPU per process group from
 * /proc/<pid>/stat, end-to-end latency histograms gathered from the client
 * workers (push-worker.ts). Also the max-batch phase (issue: a maximum-size
 * batch must not freeze the process), which measures event-loop delay from
 * outside (/healthz answered by the process that handles the pushes,
 * requested every few ms while such batches are processed) and inside that
 * process (loop-monitor.ts).
 */
import type { SyscallsPerUnit } from './perf-phase.js';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { cpuMicros } from './proc-stats.js';
import { Histogram } from '../lib/histogram.js';
import { collectPhase } from './push-workers.js';
import type { BenchSystem } from './push-systems.js';
import type { LoopDelay, Stall } from './loop-monitor.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nowAbs = (): number => performance.timeOrigin + performance.now();

// ---- CPU accounting ---------------------------------------------------------------------

interface CpuSnap { wallUs: number; groups: Record<string, number>; machineBusy: number; machineTotal: number }

function safeCpu(pid: number | undefined): number { try { return pid === undefined ? 0 : cpuMicros(pid); } catch { return 0; } }
/** [busy, total] jiffies over all cores (busy excludes idle and iowait). */
export function machineStat(): [number, number] {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return [total - f[3]! - (f[4] ?? 0), total];
}
export function cpuSnap(s: BenchSystem, workers: ChildProcess[]): CpuSnap {
  const u = process.cpuUsage();
  const [busy, total] = machineStat();
  const groups: Record<string, number> = {};
  for (const [k, pids] of Object.entries(s.groups())) groups[k] = pids.reduce((a: number, p) => a + safeCpu(p), 0);
  groups.workers = workers.reduce((a, w) => a + safeCpu(w.pid), 0);
  groups.driver = u.user + u.system;
  return { wallUs: performance.now() * 1000, machineBusy: busy, machineTotal: total, groups };
}
/** % of one core per group over the interval, plus machine busy % (of all cores) and `other` (load outside this bench). */
export function cpuDelta(a: CpuSnap, b: CpuSnap): Record<string, number> {
  const wall = b.wallUs - a.wallUs;
  const out: Record<string, number> = {};
  for (const k of Object.keys(a.groups)) out[k] = Math.round(((b.groups[k]! - a.groups[k]!) / wall) * 100);
  const mine = Object.values(out).reduce((x, y) => x + y, 0);
  const busy = (b.machineBusy - a.machineBusy) / Math.max(1, b.machineTotal - a.machineTotal);
  out.machine_busy = Math.round(busy * 100);
  out.other = Math.max(0, Math.round(busy * availableParallelism() * 100 - mine));
  return out;
}
/** CPU µs each group spent per accepted push; `server` sums the system's own processes (not clients, not driver). */
function cpuPerMsg(a: CpuSnap, b: CpuSnap, msgs: number): Record<string, number> {
  const out: Record<string, number> = {};
  let server = 0;
  for (const k of Object.keys(a.groups)) {
    out[k] = Math.round((b.groups[k]! - a.groups[k]!) / Math.max(1, msgs));
    if (k !== 'workers' && k !== 'driver') server += out[k];
  }
  out.server = server;
  return out;
}

export const ms = (v: number): number => (Number.isFinite(v) ? Number(v.toFixed(2)) : -1);

// ---- one phase ----------------------------------------------------------------------------

export interface PhaseResult {
  name: string; mode: 'single' | 'batch'; offered_rate: number; duration_s: number; requests: number; msgs_sent: number; unsent: number;
  accepted: number; offline: number; errors: number; achieved_rate: number; expected: number; received: number;
  p50_ms: number; p90_ms: number; p99_ms: number; p999_ms: number; max_ms: number; mean_ms: number;
  http_p50_ms: number; http_p99_ms: number; max_backlog: number; cpu: Record<string, number>; cpu_us_per_msg: Record<string, number>;
  pass?: boolean; why?: string[];
  /** --syscalls (fixed phase only): the router's / standalone process's system calls per push, perf-phase.ts perUnit. */
  syscalls?: SyscallsPerUnit;
}

export interface PhaseSetup {
  users: number; batchSize: number; concurrency: number;
  log: (s: string) => void;
}

/** POST a body to /v1/push; resolves with status and text (never rejects). */
function post(agent: http.Agent, api: URL, key: string, body: string, timeoutMs: number): Promise<{ status: number; text: string; error?: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: { status: number; text: string; error?: string }): void => { if (!settled) { settled = true; resolve(r); } };
    const req = http.request({ host: api.hostname, port: api.port, path: '/v1/push', method: 'POST', agent, headers: {
      authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('error', (e) => done({ status: 0, text: '', error: e.message }));
      res.on('end', () => done({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('request timeout')));
    req.on('error', (e) => done({ status: 0, text: '', error: e.message }));
    req.on('close', () => done({ status: 0, text: '', error: 'closed without a complete response' }));
    req.end(body);
  });
}

/** `sends` (bench:push --hops): each push's `t` as text and its send time on CLOCK_MONOTONIC (ms). */
export async function runPhase(s: BenchSystem, workers: ChildProcess[], setup: PhaseSetup, id: number, name: string, rate: number, durationMs: number, mode: 'single' | 'batch',
  sends?: { keys: string[]; at: number[] }): Promise<PhaseResult> {
  const api = new URL(s.apiUrl);
  // A fresh keep-alive pool per phase: at most `concurrency` requests in flight and no queueing inside the agent.
  const agent = new http.Agent({ keepAlive: true, maxSockets: setup.concurrency, scheduling: 'fifo' });
  const per = mode === 'single' ? 1 : setup.batchSize;
  const intervalMs = (per * 1000) / rate;
  const total = Math.max(1, Math.round(durationMs / intervalMs));
  const httpHist = new Histogram();
  const errorSamples = new Map<string, number>();
  const noteError = (e: string): void => { errorSamples.set(e, (errorSamples.get(e) ?? 0) + 1); };
  let issued = 0, inFlight = 0, msgs = 0, accepted = 0, offline = 0, errors = 0, expected = 0, maxBacklog = 0, lastDone = 0;

  const fire = (): void => {
    issued++; inFlight++; msgs += per;
    const heads = Array.from({ length: per }, () => `{"users":["u${Math.floor(Math.random() * setup.users)}"],"data":`);
    const t = nowAbs(); // send time: taken just before the HTTP call
    const d = `{"t":${t},"p":${id}}`;
    if (sends) { sends.keys.push(String(t)); sends.at.push(Number(process.hrtime.bigint()) / 1e6); }
    const body = per === 1 ? heads[0]! + d + '}' : '{"messages":[' + heads.join(d + '},') + d + '}]}';
    void post(agent, api, s.apiKey, body, 10_000).then((r) => {
      inFlight--; lastDone = performance.now(); httpHist.recordMs(nowAbs() - t);
      if (r.error !== undefined) { errors += per; noteError(r.error); return; }
      if (r.status !== 200) { errors += per; noteError(`HTTP ${r.status} ${r.text.slice(0, 120)}`); return; }
      type Out = { results: Array<{ status: string; connections: number }> };
      try {
        const b = JSON.parse(r.text) as Out & { messages?: Out[] };
        for (const m of b.messages ?? [b]) for (const x of m.results) {
          if (x.status === 'sent') { accepted++; expected += x.connections; } else if (x.status === 'offline') offline++; else { errors++; noteError(`status ${x.status}`); }
        }
      } catch { errors += per; noteError(`unreadable 200 body: ${r.text.slice(0, 80)}`); }
    });
  };

  const cpu0 = cpuSnap(s, workers);
  const start = performance.now();
  // Send k is due at start + k·interval; whatever is still held back 10 % after the window counts as unsent.
  const giveUp = start + durationMs * 1.1;
  while (issued < total && performance.now() < giveUp) {
    const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
    while (issued < due && inFlight < setup.concurrency) fire();
    maxBacklog = Math.max(maxBacklog, due - issued);
    await sleep(Math.max(0, start + issued * intervalMs - performance.now()));
  }
  const unsent = total - issued;
  while (inFlight > 0) await sleep(2);
  const cpu1 = cpuSnap(s, workers);
  agent.destroy();
  const elapsedS = Math.max(durationMs, lastDone - start) / 1000;
  // Wait for every accepted push to reach its client (or give up after 3 s).
  const hist = await collectPhase(workers, id, expected, 3000, 100);
  const received = hist.n;
  if (errorSamples.size > 0) setup.log(`${s.label} ${name}: errors ${JSON.stringify(Object.fromEntries([...errorSamples].slice(0, 5)))}`);
  return {
    name, mode, offered_rate: rate, duration_s: durationMs / 1000, requests: issued, msgs_sent: msgs, unsent: unsent * per,
    accepted, offline, errors, achieved_rate: Math.round(accepted / elapsedS), expected, received,
    p50_ms: ms(hist.percentileMs(0.5)), p90_ms: ms(hist.percentileMs(0.9)), p99_ms: ms(hist.percentileMs(0.99)),
    p999_ms: ms(hist.percentileMs(0.999)), max_ms: ms(hist.maxUs / 1000), mean_ms: ms(hist.meanMs()),
    http_p50_ms: ms(httpHist.percentileMs(0.5)), http_p99_ms: ms(httpHist.percentileMs(0.99)), max_backlog: maxBacklog * per,
    cpu: cpuDelta(cpu0, cpu1), cpu_us_per_msg: cpuPerMsg(cpu0, cpu1, accepted),
  };
}

export function judge(r: PhaseResult, p99Limit: number): PhaseResult {
  const why: string[] = [];
  if (r.achieved_rate < 0.95 * r.offered_rate) why.push(`achieved ${r.achieved_rate}/s < 95% of offered`);
  if (r.accepted !== r.msgs_sent || r.unsent > 0) why.push(`accepted ${r.accepted}/${r.msgs_sent + r.unsent} (offline ${r.offline}, errors ${r.errors}, unsent ${r.unsent})`);
  if (r.received < r.expected) why.push(`received ${r.received}/${r.expected}`);
  if (!(r.p99_ms >= 0 && r.p99_ms < p99Limit)) why.push(`p99 ${r.p99_ms} ms ≥ ${p99Limit} ms`);
  return { ...r, pass: why.length === 0, why };
}

// ---- maximum-size batches ----------------------------------------------------------------

export interface MaxBatchResult {
  batches: number; ok: number; errors: number; bytes_per_batch: number; messages: number; users_per_message: number;
  batch_p50_ms: number; batch_max_ms: number;
  /** /healthz round trips sent every `probeMs` during the phase: event-loop delay as a client sees it. */
  probes: number; probe_p50_ms: number; probe_p99_ms: number; probe_max_ms: number;
  /**
   * Event-loop delay inside the process handling the batches (router or
   * standalone; loop-monitor.ts) over the same window: the server's own
   * figure, without the probe's wait for a core. -1 when not measured.
   */
  loop_samples: number; loop_p99_ms: number; loop_max_ms: number;
  /** The longest stall less the time the thread waited for a core (loop-monitor.ts); -1 when not measured. */
  loop_own_max_ms: number;
  /** Stalls over 15 ms: how many, the longest with their breakdown (on a core, waiting for one, GC), GC per kind. */
  loop_stall_count: number; loop_stalls: Stall[]; loop_gc: LoopDelay['gc'];
  /**
   * The machine's floor over the same window: an idle Node process running
   * only the same monitor (its delay is waiting to be woken and given a core).
   * -1 when not measured.
   */
  floor_p99_ms: number; floor_max_ms: number;
}

/** GETs the process's loop monitor (`/reset` at the window's start, `/read` at its end). */
export async function loopMonitor(url: string | undefined, what: 'reset' | 'read'): Promise<LoopDelay | undefined> {
  if (url === undefined) return undefined;
  const r = await fetch(`${url}/${what}`, { signal: AbortSignal.timeout(30_000) });
  if (!r.ok) throw new Error(`loop monitor /${what}: HTTP ${r.status}`);
  return (await r.json()) as LoopDelay;
}

/**
 * `parallel` streams of maximum-size batches (`messages` × `usersPer` users,
 * users nobody is connected as, so every push is stored offline: the work is
 * the router's) for `durationMs`, while /healthz on the same process is
 * requested every `probeMs`.
 */
export async function maxBatchPhase(s: BenchSystem, o: { messages: number; usersPer: number; parallel: number; durationMs: number; probeMs: number; floorUrl?: string }): Promise<MaxBatchResult> {
  const api = new URL(s.apiUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.parallel });
  let n = 0;
  const body = (): string => {
    const k = n++;
    const messages = Array.from({ length: o.messages }, (_, i) => ({
      users: Array.from({ length: o.usersPer }, (_u, j) => `o${((k * 7 + i * 13 + j) % 5000).toString(36)}`),
      data: { b: k, i },
    }));
    return JSON.stringify({ messages });
  };
  const sample = body();
  const batchHist = new Histogram(), probeHist = new Histogram();
  let ok = 0, errors = 0;
  await loopMonitor(s.loopUrl, 'reset');
  await loopMonitor(o.floorUrl, 'reset');
  const end = performance.now() + o.durationMs;
  let stop = false;
  const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const prober = (async () => {
    while (!stop) {
      const t = performance.now();
      await new Promise<void>((resolve) => {
        const req = http.get({ host: api.hostname, port: api.port, path: '/healthz', agent: probeAgent }, (res) => { res.resume(); res.on('end', resolve); res.on('error', () => resolve()); });
        req.setTimeout(30_000, () => req.destroy());
        req.on('error', () => resolve());
      });
      probeHist.recordMs(performance.now() - t);
      await sleep(Math.max(0, o.probeMs - (performance.now() - t)));
    }
  })();
  await Promise.all(Array.from({ length: o.parallel }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      const r = await post(agent, api, s.apiKey, body(), 60_000);
      batchHist.recordMs(performance.now() - t);
      if (r.status === 200) ok++; else errors++;
    }
  }));
  stop = true;
  const loop = await loopMonitor(s.loopUrl, 'read');
  const floor = await loopMonitor(o.floorUrl, 'read');
  await prober;
  agent.destroy(); probeAgent.destroy();
  return {
    batches: batchHist.n, ok, errors, bytes_per_batch: Buffer.byteLength(sample), messages: o.messages, users_per_message: o.usersPer,
    batch_p50_ms: ms(batchHist.percentileMs(0.5)), batch_max_ms: ms(batchHist.maxUs / 1000),
    probes: probeHist.n, probe_p50_ms: ms(probeHist.percentileMs(0.5)), probe_p99_ms: ms(probeHist.percentileMs(0.99)), probe_max_ms: ms(probeHist.maxUs / 1000),
    loop_samples: loop?.samples ?? 0, loop_p99_ms: loop?.p99_ms ?? -1, loop_max_ms: loop?.max_ms ?? -1,
    loop_own_max_ms: loop?.max_own_ms ?? -1, loop_stall_count: loop?.stall_count ?? 0, loop_stalls: loop?.stalls ?? [], loop_gc: loop?.gc ?? {},
    floor_p99_ms: floor?.p99_ms ?? -1, floor_max_ms: floor?.max_ms ?? -1,
  };
}
