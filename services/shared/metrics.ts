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
import { createRequire } from 'node:module';
import type { RecordableHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { NatsBusCounters, NatsBusStatus } from './bus/nats-bus.js';

/**
 * Sampling period (ms) of the event-loop delay monitor behind
 * `nodejs_eventloop_lag_*`. prom-client's default, 10 ms, is a libuv timer
 * waking the process 100 times a second whatever its load; at 100 ms a stall
 * is still caught by the sample that falls in it, with a tenth of the wake-ups.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

export class ScrapeMetrics<S> {
  readonly registry: Registry;
  private source: S | undefined;

  /**
   * `registry`: register on an existing registry instead of a new one (default metrics are then the caller's business).
   * `loopDelay`: the `nodejs_eventloop_lag_*` gauges read this histogram (ns, e.g. a LoopDelaySampler's, fed by a
   * timer the process runs anyway) instead of prom-client's own sampler and its timer (loop-delay.ts).
   */
  constructor(private readonly prefix: string, opts: { defaultMetrics?: boolean; registry?: Registry; loopDelay?: RecordableHistogram } = {}) {
    this.registry = opts.registry ?? new Registry();
    if (opts.registry !== undefined || !(opts.defaultMetrics ?? true)) return;
    if (opts.loopDelay === undefined) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    else defaultMetricsWithLoopDelay(this.registry, opts.loopDelay);
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

/** prom-client's default metric modules by name (`collectDefaultMetrics.metricsList`), each `(registry, config) => void`. */
type DefaultMetric = (registry: Registry, config: object) => void;
const promRequire = createRequire(import.meta.url);

/**
 * prom-client's default metrics, every one but its event-loop sampler
 * (`eventLoopLag`, which starts a timer), plus the same `nodejs_eventloop_lag_*`
 * gauges read from `hist` (ns) at scrape time and reset, as prom-client does
 * with its own. `nodejs_eventloop_lag_seconds` keeps prom-client's meaning: a
 * setImmediate's wait measured at scrape time.
 */
function defaultMetricsWithLoopDelay(registry: Registry, hist: RecordableHistogram): void {
  for (const name of collectDefaultMetrics.metricsList) {
    if (name === 'eventLoopLag') continue;
    (promRequire(`prom-client/lib/metrics/${name}`) as DefaultMetric)(registry, {});
  }
  const NS = 1e9;
  // The histogram's getters read NaN / sentinels before the first sample: 0 then, as no delay was seen.
  const read = (v: number): number => (hist.count > 0 && Number.isFinite(v) ? v / NS : 0);
  const gauge = (name: string, help: string, collect?: () => void): Gauge =>
    new Gauge({ name: `nodejs_eventloop_lag_${name}`, help, registers: [registry], ...(collect ? { collect } : {}) });
  // Registered first, its collect sets them all before the registry reads the others (as prom-client's own does).
  const lag: Gauge = gauge('seconds', 'Lag of event loop in seconds (a setImmediate\'s wait at scrape time).', () => {
    const start = process.hrtime.bigint();
    setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / NS));
    min.set(read(hist.min)); max.set(read(hist.max)); mean.set(read(hist.mean)); stddev.set(read(hist.stddev));
    p50.set(read(hist.percentile(50))); p90.set(read(hist.percentile(90))); p99.set(read(hist.percentile(99)));
    hist.reset();
  });
  const min = gauge('min_seconds', 'The minimum recorded event loop delay (lateness of the periodic tick).');
  const max = gauge('max_seconds', 'The maximum recorded event loop delay (lateness of the periodic tick).');
  const mean = gauge('mean_seconds', 'The mean of the recorded event loop delays (lateness of the periodic tick).');
  const stddev = gauge('stddev_seconds', 'The standard deviation of the recorded event loop delays.');
  const p50 = gauge('p50_seconds', 'The 50th percentile of the recorded event loop delays.');
  const p90 = gauge('p90_seconds', 'The 90th percentile of the recorded event loop delays.');
  const p99 = gauge('p99_seconds', 'The 99th percentile of the recorded event loop delays.');
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
