/**
 * prom-client helpers for metrics read at scrape time from plain counters a
 * core bumps on its hot paths (an integer increment instead of a prom-client
 * call per event). Counters keep their Prometheus type: `collect` resets and
 * re-sets them from the source, which only ever grows.
 *
 * Naming (docs/metrics.md): one prefix `longlink_`, then the component
 * (`gateway_`, `router_`, `nats_`); base units (seconds, bytes); `_total` on
 * counters; histograms, never summaries; labels only with bounded values
 * (close-code names, error codes, outcomes), never user or connection ids.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { NatsBusCounters, NatsBusStatus } from './bus/nats-bus.js';
import { systemClock, type Clock } from './clock.js';
import { OpenFdCount } from './open-fds.js';

/**
 * Sampling period (ms) of the event-loop delay monitor behind
 * `nodejs_eventloop_lag_*`. prom-client's default, 10 ms, is a libuv timer
 * waking the process 100 times a second whatever its load; at 100 ms a stall
 * is still caught by the sample that falls in it, with a tenth of the wake-ups.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

/** How often `process_open_fds` may list /proc/self/fd at most (open-fds.ts). */
const OPEN_FDS_MIN_INTERVAL_MS = 5000;

/** A scrape's text is served again for this many times as long as its collection took (at most SHARED_SCRAPE_MAX_MS). */
const SHARED_SCRAPE_FACTOR = 20;
export const SHARED_SCRAPE_MAX_MS = 1000;

/**
 * `collect` (a registry's `metrics()`), shared: requests that arrive while a
 * collection runs get its text, and so do those within 20 x its duration
 * after it (at most 1 s). /metrics needs no credential and the gateway serves
 * it on the client-facing port: one client looping on it made a collection
 * (~0.6 ms of the event loop, more with many series) per request, pinning the
 * loop that acks heartbeats (other requests' latency went from 1 to 85 ms).
 * Shared, collections take at most ~5 % of the loop whatever the request
 * rate; a Prometheus scraping every few seconds always gets a fresh one. The
 * router's /metrics (push API port, no credential either) is shared the same way.
 */
export function sharedScrape(collect: () => Promise<string>, clock: Clock = systemClock): () => Promise<string> {
  let last: { text: string; until: number } | undefined;
  let running: Promise<string> | undefined;
  return () => {
    if (running !== undefined) return running;
    if (last !== undefined && clock.now() < last.until) return Promise.resolve(last.text);
    const t0 = clock.now();
    const p = collect().then((text) => {
      const t1 = clock.now();
      last = { text, until: t1 + Math.min(SHARED_SCRAPE_MAX_MS, (t1 - t0) * SHARED_SCRAPE_FACTOR) };
      return text;
    }).finally(() => { if (running === p) running = undefined; });
    running = p;
    return p;
  };
}

/**
 * Swaps prom-client's `process_open_fds` (a readdirSync of /proc/self/fd per scrape, on the event loop) for the
 * same metric listed off the loop and at most every 5 s (open-fds.ts). Same name and help: dashboards and the
 * descriptor alert read it unchanged.
 */
export function replaceOpenFds(registry: Registry, clock: Clock = systemClock): void {
  const old = registry.getSingleMetric('process_open_fds');
  if (old === undefined) return; // not Linux: prom-client registers none
  registry.removeSingleMetric('process_open_fds');
  const fds = new OpenFdCount({ clock, minIntervalMs: OPEN_FDS_MIN_INTERVAL_MS });
  new Gauge({
    name: 'process_open_fds', help: 'Number of open file descriptors.', registers: [registry],
    async collect() {
      const n = await fds.value();
      if (n !== undefined) this.set(n);
    },
  });
}

export class ScrapeMetrics<S> {
  readonly registry: Registry;
  private source: S | undefined;

  /** `registry`: register on an existing registry instead of a new one (default metrics are then the caller's business). */
  constructor(private readonly prefix: string, opts: { defaultMetrics?: boolean; registry?: Registry } = {}) {
    this.registry = opts.registry ?? new Registry();
    if (opts.registry === undefined && (opts.defaultMetrics ?? true)) {
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
      replaceOpenFds(this.registry);
    }
  }

  /** Binds the collectors to the running component they read from. */
  bind(source: S): void {
    this.source = source;
  }

  counter(name: string, help: string, read: (s: S) => number): void {
    const src = (): S | undefined => this.source;
    new Counter({
      name: this.prefix + name, help, registers: [this.registry],
      collect() {
        this.reset();
        const v = src(); if (v !== undefined) this.inc(read(v));
      },
    });
  }

  /**
   * `known` label values are exported as 0 before their first event: a series
   * that appears with its first increment already counted shows no rate for it.
   */
  labeledCounter(name: string, help: string, label: string, read: (s: S) => ReadonlyMap<string, number>, known: readonly string[] = []): void {
    const src = (): S | undefined => this.source;
    new Counter({
      name: this.prefix + name, help, labelNames: [label], registers: [this.registry],
      collect() {
        this.reset();
        for (const k of known) this.inc({ [label]: k }, 0);
        const v = src(); if (v !== undefined) for (const [k, n] of read(v)) this.inc({ [label]: k }, n);
      },
    });
  }

  gauge(name: string, help: string, read: (s: S) => number): void {
    const src = (): S | undefined => this.source;
    new Gauge({ name: this.prefix + name, help, registers: [this.registry], collect() { const v = src(); if (v !== undefined) this.set(read(v)); } });
  }
}

/**
 * What the NATS metrics read from a bus. `NatsBus` satisfies it as is; the
 * services take this interface so standalone mode (MemoryBus) needs none.
 */
export interface NatsBusStats {
  readonly status: NatsBusStatus;
  counters(): Readonly<NatsBusCounters>;
  readonly pendingWhileDisconnected: { messages: number; bytes: number };
  traffic(): { inBytes: number; outBytes: number; inMsgs: number; outMsgs: number };
}

/**
 * `longlink_nats_*`: the bus connection as seen by one process (gateway or
 * router; the `job` label tells them apart), registered on `registry` and
 * read from `bus` at scrape time. Only processes with a NATS bus call this:
 * standalone mode exports no `longlink_nats_*` series at all.
 */
export function registerNatsMetrics(registry: Registry, bus: NatsBusStats): void {
  const m = new ScrapeMetrics<NatsBusStats>('longlink_nats_', { registry });
  m.bind(bus);
  m.gauge('connected', '1 while connected to a NATS server, 0 while reconnecting or closed.', (b) => (b.status === 'connected' ? 1 : 0));
  m.gauge('held_messages', 'Publishes held while disconnected, replayed on reconnect.', (b) => b.pendingWhileDisconnected.messages);
  m.gauge('held_bytes', 'Bytes held while disconnected.', (b) => b.pendingWhileDisconnected.bytes);
  m.counter('reconnects_total', 'Reconnects after a lost connection (the initial connect excluded).', (b) => b.counters().reconnects);
  m.counter('disconnects_total', 'Connections lost.', (b) => b.counters().disconnects);
  m.counter('reconnect_attempts_total', 'Dial attempts while reconnecting.', (b) => b.counters().reconnectAttempts);
  m.counter('lame_duck_notices_total', 'Servers that announced lame-duck mode (about to shut down).', (b) => b.counters().lameDuckNotices);
  m.counter('errors_total', 'Client and server errors (permissions, protocol, stale connection).', (b) => b.counters().errors);
  m.counter('handler_errors_total', 'Message handlers that threw or rejected.', (b) => b.counters().handlerErrors);
  m.counter('held_publishes_total', 'Publishes made while disconnected (held for replay).', (b) => b.counters().bufferedWhileDisconnected);
  m.counter('replayed_publishes_total', 'Held publishes replayed after a reconnect.', (b) => b.counters().replayedAfterReconnect);
  m.labeledCounter('dropped_publishes_total', 'Publishes lost: beyond the hold limits while disconnected (when="disconnected") or made while closing (when="closed").', 'when',
    (b) => { const c = b.counters(); return new Map([['disconnected', c.droppedWhileDisconnected], ['closed', c.droppedAfterClose]]); });
  m.counter('received_bytes_total', 'Payload bytes received from NATS.', (b) => b.traffic().inBytes);
  m.counter('sent_bytes_total', 'Payload bytes sent to NATS.', (b) => b.traffic().outBytes);
  m.counter('received_messages_total', 'Messages received from NATS.', (b) => b.traffic().inMsgs);
  m.counter('sent_messages_total', 'Messages sent to NATS.', (b) => b.traffic().outMsgs);
}
