/**
 * The gateway's event-loop delay comes from its wheel tick (shared/loop-delay.ts)
 * instead of prom-client's own 100 ms sampler timer: the sampler's arithmetic on
 * an injected clock, the core reporting each tick's start, and the metrics a
 * scrape shows (the same names as prom-client's defaults, read and reset).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { LoopDelaySampler } from '../../services/shared/loop-delay.js';
import { createGatewayMetrics } from '../../services/gateway/metrics.js';
import { GatewayCore } from '../../services/gateway/core/gateway-core.js';
import type { CoreObserver } from '../../services/gateway/core/options.js';
import { ManualClock } from '../../services/shared/clock.js';
import { FakeLink, coreOptions } from '../helpers/gateway-harness.js';
import { silent } from '../helpers/log.js';

const MS = 1e6; // ns

/** A metric's value in Prometheus text (no labels). */
function value(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} exported`);
  return Number(line.split(' ')[1]);
}

describe('LoopDelaySampler (tick lateness)', () => {
  it('records each fire\'s lateness past the period, from the second fire on', () => {
    const s = new LoopDelaySampler(500);
    s.sample(1000);
    assert.equal(s.histogram.count, 0, 'the first fire has nothing to compare with');
    s.sample(1500); // on time
    s.sample(2040); // 40 ms late
    s.sample(2540.25); // 0.25 ms late
    assert.equal(s.histogram.count, 3);
    assert.equal(s.histogram.min, 1, 'on time reads 1 ns (a histogram takes positive values only)');
    assert.ok(Math.abs(s.histogram.max - 40 * MS) <= 40 * MS * 0.001, `max ${s.histogram.max}`);
    assert.ok(Math.abs(s.histogram.percentile(50) - 0.25 * MS) <= 0.25 * MS * 0.001, `p50 ${s.histogram.percentile(50)}`);
  });

  it('a stall shows as its length; an early fire or a clock going back reads on time', () => {
    const s = new LoopDelaySampler(100);
    s.sample(0);
    s.sample(1100); // the loop was blocked for a second
    s.sample(1199); // setInterval rounds: 1 ms early
    s.sample(1150); // backwards
    assert.equal(s.histogram.count, 3);
    assert.ok(Math.abs(s.histogram.max - 1000 * MS) <= 1000 * MS * 0.001);
    assert.equal(s.histogram.min, 1);
  });
});

describe('gateway event-loop delay metrics', () => {
  it('exports every prom-client default metric name, with nodejs_eventloop_lag_* read from the wheel tick', async () => {
    const m = createGatewayMetrics({ tickMs: 500 });
    const ref = new Registry();
    collectDefaultMetrics({ register: ref });
    const names = (r: Registry): string[] => r.getMetricsAsArray().map((x) => x.name).filter((n) => n.startsWith('nodejs_') || n.startsWith('process_')).sort();
    assert.deepEqual(names(m.registry), names(ref));
    ref.clear();

    for (const t of [10_000, 10_500, 11_030, 11_530]) m.observer.tickStarted(t); // one tick 30 ms late
    const text = await m.registry.metrics();
    assert.ok(Math.abs(value(text, 'nodejs_eventloop_lag_max_seconds') - 0.03) < 0.03 * 0.001);
    assert.equal(value(text, 'nodejs_eventloop_lag_min_seconds'), 1e-9);
    assert.ok(Math.abs(value(text, 'nodejs_eventloop_lag_mean_seconds') - 0.01) < 0.0001);
    assert.ok(Math.abs(value(text, 'nodejs_eventloop_lag_p99_seconds') - 0.03) < 0.03 * 0.001);
    assert.equal(value(text, 'nodejs_eventloop_lag_p50_seconds'), 1e-9);

    // Read and reset per scrape, as prom-client's own: no tick since, no delay seen.
    const again = await m.registry.metrics();
    for (const n of ['min', 'max', 'mean', 'p50', 'p90', 'p99']) assert.equal(value(again, `nodejs_eventloop_lag_${n}_seconds`), 0, n);
    m.registry.clear();
  });

  it('the core reports each tick\'s start on its clock to the observer', () => {
    const clock = new ManualClock(1000);
    const starts: number[] = [];
    const observer: CoreObserver = { tickStarted: (ms) => starts.push(ms), sweepSeconds: () => {}, negotiatedIntervalMs: () => {}, pushLatencySeconds: () => {} };
    const core = new GatewayCore({ options: coreOptions(), clock, ids: { next: () => 'c' }, link: new FakeLink(), log: silent, random: () => 0.5, observer });
    core.tick();
    clock.advance(100);
    core.tick();
    assert.deepEqual(starts, [1000, 1100]);
  });
});
