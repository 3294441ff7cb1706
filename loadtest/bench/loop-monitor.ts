/**
 * Event-loop delay sampled inside a process under test, preloaded with
 * `node --import <this file>` (the bench adds it to the router's and the
 * standalone process's node options, for this build and the baseline alike,
 * so both are measured the same way without touching the code under test).
 *
 * A perf_hooks histogram with a RESOLUTION_MS timer; a side HTTP server on
 * 127.0.0.1 (port printed as `loop-monitor: http://…`) answers
 * `GET /reset` (start of a measured window) and `GET /read` (the window's
 * figures). Node records each timer interval whole, so the delay is the
 * recorded value minus the resolution: how late the loop ran a timer that was
 * due. The server is unref'd: it never keeps the process alive. Starts on
 * import: the bench imports nothing from here but the type.
 *
 * Stalls: a second timer at the same resolution notes every delay over
 * STALL_MS with what the main thread did meanwhile, from the kernel's
 * per-thread schedstat (time on a core vs time runnable but waiting for one)
 * and the garbage collections (perf_hooks 'gc' entries) that overlap it. On
 * a machine shared with other work a timer can be late only because the
 * thread waited for a core; `own_ms` (delay less that wait) is the stall the
 * process caused itself, which is what code can change.
 */
import http from 'node:http';
import { openSync, readSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

const LOOP_MONITOR_RESOLUTION_MS = 5;
/** Delays past this are kept as stalls with their breakdown. */
const STALL_MS = 15;
/** Stalls kept per window (the longest), and GC entries kept to match them against. */
const MAX_STALLS = 12;
const MAX_GC = 20_000;

export interface Stall {
  /** Delay past the due time (ms). */
  delay_ms: number;
  /** Of the stall's wall time: main thread on a core, and runnable but waiting for one (ms; -1 if unknown). */
  oncpu_ms: number; runqueue_ms: number;
  /** delay_ms less runqueue_ms: the part the process caused. */
  own_ms: number;
  /** GC time overlapping the stall, and the kinds seen (e.g. "scavenge", "mark-compact"). */
  gc_ms: number; gc: string[];
}

export interface LoopDelay {
  /** Timer samples in the window. */
  samples: number;
  p50_ms: number; p99_ms: number; max_ms: number;
  resolution_ms: number;
  /** Longest own stall (delay less waiting for a core), -1 if schedstat is unreadable; 0 when no stall over STALL_MS. */
  max_own_ms: number;
  /** Stalls over STALL_MS in the window, and the longest MAX_STALLS of them, longest first. */
  stall_count: number;
  stalls: Stall[];
  /** GC in the window: count, total and longest pause (ms) per kind. */
  gc: Record<string, { n: number; total_ms: number; max_ms: number }>;
}

/** Nanosecond histogram value → delay past the due time, ms (2 decimals, never negative). */
const delayMs = (ns: number, resolutionMs: number): number => Math.max(0, Math.round((ns / 1e6 - resolutionMs) * 100) / 100);
const r2 = (x: number): number => Math.round(x * 100) / 100;

/** perf_hooks.constants.NODE_PERFORMANCE_GC_*: MINOR 1, MAJOR 4, INCREMENTAL 8, WEAKCB 16. */
const GC_KINDS: Record<number, string> = { 1: 'scavenge', 4: 'mark-compact', 8: 'incremental-marking', 16: 'weak-callbacks' };
const gcKind = (e: PerformanceEntry): string => {
  const d = (e as PerformanceEntry & { detail?: { kind?: number } }).detail;
  return GC_KINDS[d?.kind ?? 0] ?? `kind${d?.kind ?? '?'}`;
};

/**
 * Main thread's [on-CPU, run-queue wait] in ms since boot, or undefined where /proc has no schedstat.
 * The file stays open and is re-read from offset 0 (one pread, ~4 µs): opening it on every
 * sample (open, fstat, read, close: ~37 µs, 200 times a second) was a few per cent of the
 * measured process's busy time at 2,000 pushes/s, in every build alike (docs/benchmarks.md).
 */
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
let schedFd: number | undefined;
try { schedFd = openSync(SCHEDSTAT, 'r'); } catch { schedFd = undefined; }
const schedBuf = Buffer.alloc(128);
function schedstat(): [number, number] | undefined {
  if (schedFd === undefined) return undefined;
  try {
    const n = readSync(schedFd, schedBuf, 0, schedBuf.length, 0);
    const f = schedBuf.toString('latin1', 0, n).split(' ');
    return [Number(f[0]) / 1e6, Number(f[1]) / 1e6];
  } catch {
    return undefined;
  }
}

{
  const h = monitorEventLoopDelay({ resolution: LOOP_MONITOR_RESOLUTION_MS });
  h.enable();

  interface RawStall { start: number; end: number; delay: number; oncpu: number; runq: number }
  let raw: RawStall[] = [];
  let stallCount = 0;
  let gcs: Array<{ start: number; end: number; kind: string }> = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (gcs.length < MAX_GC) gcs.push({ start: e.startTime, end: e.startTime + e.duration, kind: gcKind(e) });
  }).observe({ entryTypes: ['gc'] });

  let last = performance.now();
  let lastSched = schedstat();
  setInterval(() => {
    const t = performance.now(), s = schedstat();
    const delay = t - last - LOOP_MONITOR_RESOLUTION_MS;
    if (delay > STALL_MS) {
      stallCount++;
      const oncpu = s && lastSched ? s[0] - lastSched[0] : -1, runq = s && lastSched ? s[1] - lastSched[1] : -1;
      raw.push({ start: last, end: t, delay, oncpu, runq });
      // Keep the longest (sorted lazily when the list doubles).
      if (raw.length > 4 * MAX_STALLS) raw = raw.sort((a, b) => b.delay - a.delay).slice(0, MAX_STALLS);
    }
    last = t; lastSched = s;
  }, LOOP_MONITOR_RESOLUTION_MS).unref();

  const read = (): LoopDelay => {
    const r = LOOP_MONITOR_RESOLUTION_MS;
    const gcSum: LoopDelay['gc'] = {};
    for (const g of gcs) {
      const x = (gcSum[g.kind] ??= { n: 0, total_ms: 0, max_ms: 0 });
      x.n++; x.total_ms += g.end - g.start; x.max_ms = Math.max(x.max_ms, g.end - g.start);
    }
    for (const x of Object.values(gcSum)) { x.total_ms = r2(x.total_ms); x.max_ms = r2(x.max_ms); }
    const stalls = raw.sort((a, b) => b.delay - a.delay).slice(0, MAX_STALLS).map((x): Stall => {
      let gcMs = 0;
      const kinds = new Set<string>();
      for (const g of gcs) {
        const o = Math.min(g.end, x.end) - Math.max(g.start, x.start);
        if (o > 0) { gcMs += o; kinds.add(g.kind); }
      }
      return {
        delay_ms: r2(x.delay), oncpu_ms: r2(x.oncpu), runqueue_ms: r2(x.runq), own_ms: x.runq < 0 ? -1 : r2(Math.max(0, x.delay - x.runq)),
        gc_ms: r2(gcMs), gc: [...kinds],
      };
    });
    const maxOwn = lastSched === undefined ? -1 : stalls.reduce((a, x) => Math.max(a, x.own_ms), 0);
    return h.count === 0
      ? { samples: 0, p50_ms: -1, p99_ms: -1, max_ms: -1, resolution_ms: r, max_own_ms: -1, stall_count: 0, stalls: [], gc: gcSum }
      : { samples: h.count, p50_ms: delayMs(h.percentile(50), r), p99_ms: delayMs(h.percentile(99), r), max_ms: delayMs(h.max, r), resolution_ms: r,
        max_own_ms: maxOwn, stall_count: stallCount, stalls, gc: gcSum };
  };

  const server = http.createServer((req, res) => {
    if (req.url === '/reset') { h.reset(); raw = []; stallCount = 0; gcs = []; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(read()));
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    if (a && typeof a === 'object') process.stderr.write(`loop-monitor: http://127.0.0.1:${a.port}\n`);
  });
  server.unref();
}
