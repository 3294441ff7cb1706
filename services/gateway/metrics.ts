/**
 * Gateway metrics (prom-client). Hot-path counts live as plain numbers in
 * `core.stats` and are read at scrape time, so a heartbeat costs an integer
 * increment, not a prom-client call. Names: `longlink_gateway_*`, base units,
 * `_total` on counters; labels are bounded (close-code names, error codes),
 * never user or connection ids. docs/metrics.md lists them all.
 *
 * The end-to-end push latency histogram lives here, not in the router: the
 * gateway observes `wall clock now - push.ts` (router accept time) when it
 * writes a push to a socket, so it spans router accept → gateway write.
 */
import { Gauge, Histogram, type Registry } from 'prom-client';
import { ScrapeMetrics, registerNatsMetrics, type NatsBusStats } from '../shared/metrics.js';
import { FastHistogram } from '../shared/fast-histogram.js';
import type { GatewayCore } from './core/gateway-core.js';
import type { CoreObserver } from './core/options.js';

export interface GatewayMetricsSources {
  /** The bus link's malformed-message count. */
  link?: { readonly badMessages: number };
  /** Cluster mode: the NATS bus (adds `longlink_nats_*`). */
  nats?: NatsBusStats;
  /** The admission limit, exported as a gauge so dashboards can show headroom. */
  maxConnections?: number;
}

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly observer: CoreObserver;
  /** Binds the scrape-time collectors to a running core (and its link and bus). Call once. */
  bind(core: GatewayCore, more?: GatewayMetricsSources): void;
}

const P = 'longlink_gateway_';

/**
 * Push latency buckets: live deliveries sit in the low ones; replays of
 * pushes stored while the user was offline (path="replay") can be hours old,
 * hence the long tail.
 */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400];

export function createGatewayMetrics(opts: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const m = new ScrapeMetrics<GatewayCore>(P, opts);
  const { registry } = m;

  m.gauge('connections', 'Live WebSocket connections.', (c) => c.connections);
  m.gauge('wheel_entries', 'Deadlines scheduled in the timing wheel.', (c) => c.wheelSize);
  m.gauge('sessions_starting', 'Connections waiting for the router\'s answer to their session start (admission: longlink_gateway_session_start_limit).', (c) => c.sessionsStarting);
  m.gauge('session_start_limit', 'Adaptive limit on sessions starting at once: connects over it get 503 LL_ADMISSION_STARTING (ceiling LONGLINK_MAX_STARTING_SESSIONS).', (c) => c.startLimit.limit);
  m.gauge('session_start_latency_seconds', 'Smoothed session-start latency (open to the router\'s resume answer) that drives the adaptive limit.', (c) => c.startLimit.latencyMs / 1000);
  m.gauge('session_start_target_seconds', 'Session-start latency the adaptive limit aims for (LONGLINK_SESSION_START_TARGET_MS).', (c) => c.startLimit.targetMs / 1000);
  m.gauge('resume_timeout_seconds', 'Resume timeout in use: 4 x the measured latency within [3 x target, LONGLINK_RESUME_TIMEOUT_MS].', (c) => c.startLimit.resumeTimeoutMs / 1000);
  m.gauge('admission_retry_window_seconds', 'Time until the last scheduled return of refused session starts: the longest Retry-After in force (each refusal gets the next slot of a schedule that brings the crowd back at 1.5 x the best recent admission rate).', (c) => c.startLimit.retryWindowS);
  m.gauge('admission_return_line', 'Refused session starts remembered with their return time (by user and device): back on time, admitted over a full limit by up to a quarter of it.', (c) => c.startLimit.returnLine);
  m.counter('admission_admitted_on_return_total', 'Session starts admitted above a full limit because the client came back at the time its refusal booked.', (c) => c.startLimit.admittedOnReturn);
  m.counter('session_start_limit_increases_total', 'Times the adaptive session-start limit grew.', (c) => c.startLimit.increases);
  m.counter('session_start_limit_decreases_total', 'Times the adaptive session-start limit shrank (starts over the target, failed or shed).', (c) => c.startLimit.decreases);
  m.counter('session_start_limit_reverts_total', 'Cuts of the adaptive session-start limit undone because the starts after them were not faster (latency not caused by the limit).', (c) => c.startLimit.reverts);
  m.counter('session_starts_shed_total', 'Session starts a router refused at once as overloaded: closed with 1013 and a retry delay.', (c) => c.stats.startsShedByRouter);
  m.counter('session_starts_timed_out_total', 'Session starts no router answered within the resume timeout: closed with 1013 and a retry delay, counted as overload by the adaptive limit.', (c) => c.stats.startsTimedOut);
  m.counter('session_starts_device_limit_total', 'Session starts refused because the user had the most devices connected at once: closed with 4011.', (c) => c.stats.startsDeviceLimit);
  m.gauge('admission_sources', 'Client addresses tracked by the per-source connect budget (LONGLINK_SOURCE_CONNECT_RATE).', (c) => c.sourcesTracked);
  m.gauge('draining', '1 while the gateway drains, else 0.', (c) => (c.isDraining ? 1 : 0));
  m.gauge('drain_sessions', 'Sessions to move when the current drain started (0 before any drain).', (c) => c.drainProgress.total);
  m.gauge('drain_remaining', 'Sessions not yet told to reconnect during a drain.', (c) => c.drainProgress.total - c.drainProgress.sent);
  m.gauge('delivery_gaps_pending', 'Connections holding out-of-order pushes while a seq gap is repaired.', (c) => c.orderingStats.pendingGaps);
  m.counter('connections_opened_total', 'Connections opened.', (c) => c.stats.opened);
  m.labeledCounter('connections_closed_total', 'Connections closed, by close-code name.', 'reason', (c) => c.stats.closedByReason);
  m.labeledCounter('auth_failures_total', 'Upgrades rejected by authentication, by error code.', 'reason', (c) => c.stats.authFailures);
  m.labeledCounter('admission_rejections_total', 'Upgrades rejected by admission control (503), by error code.', 'reason', (c) => c.stats.admissionRejections);
  m.labeledCounter('token_refreshes_total', 'In-band token refreshes by outcome: ok, refused (verification failed; the old expiry stands), mismatch (another user or device: closed 4001).', 'outcome', (c) => c.stats.refreshes, ['ok', 'refused', 'mismatch']);
  m.labeledCounter('resume_total', 'Session starts by outcome: fresh, resumed, rejected, failed.', 'outcome', (c) => c.stats.resumeOutcomes, ['fresh', 'resumed', 'rejected', 'failed']);
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
  m.labeledCounter('upstream_requests_total', 'Upstream requests (send with reply) answered, by outcome: ok or the LL_UPSTREAM_ error code.', 'outcome', (c) => c.stats.upstreamReplies);
  m.counter('delivery_gap_repairs_total', 'Out-of-order pushes repaired by fetching the gap from the inbox.', (c) => c.orderingStats.repairs);
  m.counter('delivery_gaps_skipped_total', 'Seq gaps the inbox could no longer fill (trimmed), skipped.', (c) => c.orderingStats.skippedGaps);
  m.counter('replay_pages_total', 'Replay pages fetched from the inbox after a session start\'s first page (large backlogs).', (c) => c.replayStats.pages);
  m.counter('replay_pauses_total', 'Times a replay paused on a send buffer at its bound, until the socket drained.', (c) => c.replayStats.pauses);
  // Channels (docs/protocol.md §13): scrape-time reads of the hub's counters; zero without a channel link.
  const ch = (c: GatewayCore) => c.channels;
  m.gauge('channels', 'Channels with local subscribers: each is one bus subscription (interest).', (c) => ch(c)?.channelCount ?? 0);
  m.gauge('channel_subscriptions', 'Connection-channel memberships (joined or joining).', (c) => ch(c)?.subscriptions ?? 0);
  m.gauge('channel_gaps_pending', 'Channels holding out-of-order messages while an offset gap is repaired.', (c) => ch(c)?.gapsPending ?? 0);
  m.counter('channel_messages_total', 'Channel messages fanned out by this gateway (one native topic publish each).', (c) => ch(c)?.stats.published ?? 0);
  m.counter('channel_deliveries_total', 'Channel frames the topic publishes reached (subscribers at the time of each message).', (c) => ch(c)?.stats.deliveries ?? 0);
  m.labeledCounter('channel_bus_messages_total', 'Channel messages taken from the bus, by layout (docs/protocol.md §13.6): record (decoded and encoded here) or frame (the client frame, fanned out as it came).', 'layout',
    (c) => new Map([['record', ch(c)?.stats.arrivedRecord ?? 0], ['frame', ch(c)?.stats.arrivedFrame ?? 0]]), ['record', 'frame']);
  m.counter('channel_duplicates_total', 'Channel messages dropped as already fanned out (offset at or below the last).', (c) => ch(c)?.stats.duplicates ?? 0);
  m.counter('channel_gap_repairs_total', 'Channel offset gaps filled from the history.', (c) => ch(c)?.stats.gapsRepaired ?? 0);
  m.counter('channel_gaps_skipped_total', 'Channel offset gaps the history could no longer fill, skipped.', (c) => ch(c)?.stats.gapsSkipped ?? 0);
  m.counter('channel_epoch_changes_total', 'Channel messages that arrived with a new epoch (the channel history was lost).', (c) => ch(c)?.stats.epochChanges ?? 0);
  m.counter('channel_history_reads_total', 'Channel history reads sent to a router (join positions, recoveries).', (c) => ch(c)?.stats.historyReads.started ?? 0);
  m.counter('channel_history_reads_shared_total', 'Joins that shared a history read already in flight for the same channel and offset.', (c) => ch(c)?.stats.historyReads.shared ?? 0);
  m.counter('channel_recovery_pages_total', 'History pages a join read after its first answer, to recover past the history reply bound or catch up with the live stream.', (c) => ch(c)?.stats.catchUp.pages ?? 0);
  m.counter('channel_recovery_pauses_total', 'Times a channel recovery paused on a full send buffer, until the socket drained.', (c) => ch(c)?.stats.catchUp.pauses ?? 0);
  m.counter('channel_recoveries_cut_total', 'Channel recoveries and joins whose catch-up could not reach the live stream (epoch changed, history trimmed while paging, reads failing): a recovering client was sent recovered:false; a plain join sees the gap.', (c) => ch(c)?.stats.catchUp.cut ?? 0);
  m.gauge('channel_recovery_reads_in_flight', 'Channel recovery reads in flight: recovering joins\' first reads and page reads (at most LONGLINK_CHANNEL_PAGE_READS).', (c) => ch(c)?.stats.catchUp.readsInFlight ?? 0);
  m.gauge('channel_recovery_reads_waiting', 'Channel recoveries (joins and catch-ups) waiting for a first or page read (LONGLINK_CHANNEL_PAGE_READS in flight).', (c) => ch(c)?.stats.catchUp.waiting ?? 0);
  m.counter('channel_interest_added_total', 'Bus subscriptions to a channel started (its first local subscriber).', (c) => ch(c)?.stats.interestAdded ?? 0);
  m.counter('channel_interest_dropped_total', 'Bus subscriptions to a channel ended (its last local subscriber left).', (c) => ch(c)?.stats.interestDropped ?? 0);
  m.labeledCounter('channel_joins_total', 'Channel joins by outcome: fresh, recovered, not_recovered, refused_limit, failed.', 'outcome', (c) => ch(c)?.stats.joins ?? new Map(),
    ['fresh', 'recovered', 'not_recovered', 'refused_limit', 'failed']);
  m.counter('acks_received_total', 'Cumulative ack frames received.', (c) => c.stats.acks);

  const sweep = new Histogram({
    name: P + 'sweep_duration_seconds', help: 'Time spent in one wheel tick (expiries, stuck writers, drain pacing).', registers: [registry],
    buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1],
  });
  const interval = new Histogram({
    name: P + 'heartbeat_interval_seconds', help: 'Negotiated heartbeat intervals (observed on open and on change): the fleet\'s learned NAT timeouts.', registers: [registry],
    buckets: [5, 15, 30, 60, 120, 180, 240, 300, 420, 600, 900],
  });
  const latency = new FastHistogram({
    name: P + 'push_latency_seconds',
    help: 'Router accept (push.ts) to write on this gateway\'s socket, wall clock. path="live": routed while the user was online; path="replay": sent on resume from the inbox.',
    labelNames: ['path'], registers: [registry], buckets: LATENCY_BUCKETS,
  });
  // Both series exist from the start (a series born with its first push counted shows no rate for it),
  // pre-bound: an observation per pushed frame is a bucket search and three increments (fast-histogram.ts).
  const live = latency.bind('live');
  const replay = latency.bind('replay');

  let bound = false;
  return {
    registry,
    observer: {
      sweepSeconds: (s) => sweep.observe(s),
      negotiatedIntervalMs: (ms) => interval.observe(ms / 1000),
      // Clocks of router and gateway hosts differ slightly: a negative age is clamped to 0.
      pushLatencySeconds: (s, path) => (path === 'live' ? live : replay)(s > 0 ? s : 0),
    },
    bind(core, more = {}) {
      if (bound) throw new Error('gateway metrics already bound');
      bound = true;
      m.bind(core);
      const { link, nats, maxConnections } = more;
      if (link) m.counter('bus_bad_messages_total', 'Malformed deliver/control messages dropped by the bus link.', () => link.badMessages);
      if (maxConnections !== undefined) {
        new Gauge({ name: P + 'max_connections', help: 'Admission limit on live connections (LONGLINK_MAX_CONNECTIONS).', registers: [registry] }).set(maxConnections);
      }
      if (nats) registerNatsMetrics(registry, nats);
    },
  };
}
