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
 */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const LOOP_MONITOR_RESOLUTION_MS = 5;

export interface LoopDelay {
  /** Timer samples in the window. */
  samples: number;
  p50_ms: number; p99_ms: number; max_ms: number;
  resolution_ms: number;
}

/** Nanosecond histogram value → delay past the due time, ms (2 decimals, never negative). */
const delayMs = (ns: number, resolutionMs: number): number => Math.max(0, Math.round((ns / 1e6 - resolutionMs) * 100) / 100);

{
  const h = monitorEventLoopDelay({ resolution: LOOP_MONITOR_RESOLUTION_MS });
  h.enable();
  const server = http.createServer((req, res) => {
    if (req.url === '/reset') h.reset();
    const r = LOOP_MONITOR_RESOLUTION_MS;
    const body: LoopDelay = h.count === 0
      ? { samples: 0, p50_ms: -1, p99_ms: -1, max_ms: -1, resolution_ms: r }
      : { samples: h.count, p50_ms: delayMs(h.percentile(50), r), p99_ms: delayMs(h.percentile(99), r), max_ms: delayMs(h.max, r), resolution_ms: r };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    if (a && typeof a === 'object') process.stderr.write(`loop-monitor: http://127.0.0.1:${a.port}\n`);
  });
  server.unref();
}
