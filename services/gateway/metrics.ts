/**
 * Gateway metrics (prom-client). Hot-path counts live as plain numbers in
 * `core.stats` and are read at scrape time, so a heartbeat costs an integer
 * increment, not a prom-client call. Names: `longlink_gateway_*`, base units,
 * `_total` on counters; labels are bounded (close-code names, error codes),
 * never user or connection ids. docs/metrics.md lists them all.
 */
import { Histogram, type Registry } from 'prom-client';
import { ScrapeMetrics } from '../shared/metrics.js';
import type { GatewayCore } from './core/gateway-core.js';
import type { CoreObserver } from './core/options.js';

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly observer: CoreObserver;
  /** Binds the scrape-time collectors to a running core. */
  bind(core: GatewayCore): void;
}

const P = 'longlink_gateway_';

export function createGatewayMetrics(opts: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const m = new ScrapeMetrics<GatewayCore>(P, opts);
  const { registry } = m;

  m.gauge('connections', 'Live WebSocket connections.', (c) => c.connections);
  m.gauge('wheel_entries', 'Deadlines scheduled in the timing wheel.', (c) => c.wheelSize);
  m.gauge('draining', '1 while the gateway drains, else 0.', (c) => (c.isDraining ? 1 : 0));
  m.gauge('drain_remaining', 'Sessions not yet told to reconnect during a drain.', (c) => c.stats.drainTotal - c.stats.drainSent);
  m.counter('connections_opened_total', 'Connections opened.', (c) => c.stats.opened);
  m.labeledCounter('connections_closed_total', 'Connections closed, by close-code name.', 'reason', (c) => c.stats.closedByReason);
  m.labeledCounter('auth_failures_total', 'Upgrades rejected by authentication, by error code.', 'reason', (c) => c.stats.authFailures);
  m.labeledCounter('admission_rejections_total', 'Upgrades rejected by admission control (503), by error code.', 'reason', (c) => c.stats.admissionRejections);
  m.labeledCounter('resume_total', 'Session starts by outcome: fresh, resumed, rejected, failed.', 'outcome', (c) => c.stats.resumeOutcomes);
  m.counter('heartbeats_total', 'Heartbeats received.', (c) => c.stats.heartbeats);
  m.counter('heartbeat_timeouts_total', 'Connections closed for missing their heartbeat deadline.', (c) => c.stats.heartbeatTimeouts);
  m.counter('frames_received_total', 'WebSocket frames received.', (c) => c.stats.framesIn);
  m.counter('frames_sent_total', 'WebSocket frames sent.', (c) => c.stats.framesOut);
  m.counter('received_bytes_total', 'Payload bytes received.', (c) => c.stats.bytesIn);
  m.counter('sent_bytes_total', 'Payload bytes sent.', (c) => c.stats.bytesOut);
  m.counter('pushes_delivered_total', 'Push frames written to sockets.', (c) => c.stats.pushesDelivered);
  m.counter('backpressure_drops_total', 'Frames dropped because a send buffer was full.', (c) => c.stats.backpressureDrops);
  m.counter('slow_consumer_closes_total', 'Connections closed as slow consumers.', (c) => c.stats.slowConsumerCloses);
  m.counter('upstream_messages_total', 'Upstream send frames received.', (c) => c.stats.upstream);
  m.counter('delivery_gap_repairs_total', 'Out-of-order pushes repaired by fetching the gap from the inbox.', (c) => c.orderingStats.repairs);
  m.counter('delivery_gaps_skipped_total', 'Seq gaps the inbox could no longer fill (trimmed), skipped.', (c) => c.orderingStats.skippedGaps);
  m.counter('acks_received_total', 'Cumulative ack frames received.', (c) => c.stats.acks);

  const sweep = new Histogram({
    name: P + 'sweep_duration_seconds', help: 'Time spent in one wheel tick (expiries, stuck writers, drain pacing).', registers: [registry],
    buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1],
  });
  const interval = new Histogram({
    name: P + 'heartbeat_interval_seconds', help: 'Negotiated heartbeat intervals (observed on open and on change): the fleet\'s learned NAT timeouts.', registers: [registry],
    buckets: [5, 15, 30, 60, 120, 180, 240, 300, 420, 600, 900],
  });

  return {
    registry,
    observer: {
      sweepSeconds: (s) => sweep.observe(s),
      negotiatedIntervalMs: (ms) => interval.observe(ms / 1000),
    },
    bind: (c) => m.bind(c),
  };
}
