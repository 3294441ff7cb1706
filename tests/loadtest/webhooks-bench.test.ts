/**
 * `npm run bench:webhooks` end to end at a toy size (real cluster, JetStream,
 * receiver process), plus its report arithmetic.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mergeRounds, percentileOf, phaseStats, ratios, table } from '../../loadtest/bench/webhooks-report.js';

describe('bench:webhooks', () => {
  it('report: percentiles, medians over rounds, ratios against off and the ≤ 10 % verdict', () => {
    assert.equal(percentileOf([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5), 5);
    assert.equal(percentileOf([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99), 10);
    const p = phaseStats('off', [4, 1, 3, 2], 1, 2, 400);
    assert.deepEqual(p, { mode: 'off', requests: 4, errors: 1, throughput: 2, p50_ms: 2, p99_ms: 4, router_cpu_us_per_push: 100 });
    const m = mergeRounds([
      { ...p, throughput: 100, p99_ms: 10 }, { ...p, throughput: 120, p99_ms: 12 }, { ...p, throughput: 110, p99_ms: 30 },
      { ...p, mode: 'on', throughput: 105, p99_ms: 10.5 }, { ...p, mode: 'on-slow', throughput: 80, p99_ms: 12 },
    ]);
    assert.equal(m.off.throughput, 110);
    assert.equal(m.off.p99_ms, 12);
    assert.equal(m.off.requests, 12);
    const r = ratios(m);
    assert.deepEqual(r.on_vs_off, { p99: 0.875, throughput: 0.955, within_10pct: true });
    assert.deepEqual(r['on-slow_vs_off'], { p99: 1, throughput: 0.727, within_10pct: false });
    assert.match(table(m, r, undefined, undefined, { events: 10, seconds: 1, rate: 10 }, 0), /on, slow receiver\s+80\s/);
  });

  for (const receiver of ['node', 'raw']) it(`runs end to end at a toy size (${receiver} receiver): every mode measured, every event delivered`, async () => {
    const child = spawn(process.execPath, ['dist/loadtest/bench/webhooks.js', '--rounds', '1', '--duration', '600', '--concurrency', '2', '--slow-ms', '300', '--events', '300', '--users', '10', '--receiver', receiver],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 0, err);
    const json = JSON.parse(out.trim().split('\n').at(-1)!) as {
      saturated: { modes: Record<string, { requests: number; errors: number }>; ratios: Record<string, unknown> };
      fixed: { rate: number; modes: Record<string, { requests: number }> };
      delivery_per_router: { events: number; rate: number };
      receiver: string; sustained: { on: number; ratio: number; drain_ms: number }; cpu_us_per_push: Record<string, Record<string, number>>;
      batching: { messages: number; events: number; events_per_message: number };
    };
    assert.equal(json.receiver, receiver);
    assert.ok(json.sustained.on > 0 && json.sustained.ratio > 0 && json.sustained.drain_ms >= 0, JSON.stringify(json.sustained));
    assert.deepEqual(Object.keys(json.cpu_us_per_push.on!).sort(), ['driver', 'gateway', 'nats', 'receiver', 'redis', 'router']);
    assert.ok(json.cpu_us_per_push.on!.receiver! > 0, 'the receiver did work in the on phases');
    assert.ok(json.batching.messages > 0 && json.batching.events_per_message >= 1 && json.batching.events_per_message <= 64, JSON.stringify(json.batching));
    for (const mode of ['off', 'on', 'on-slow']) {
      assert.ok(json.saturated.modes[mode]!.requests > 0, `${mode} measured`);
      assert.equal(json.saturated.modes[mode]!.errors, 0);
      assert.ok(json.fixed.modes[mode]!.requests > 0, `${mode} measured at a fixed rate`);
    }
    assert.deepEqual(Object.keys(json.saturated.ratios).sort(), ['on-slow_vs_off', 'on_vs_off']);
    assert.equal(json.delivery_per_router.events, 300);
    assert.ok(json.delivery_per_router.rate > 0);
    assert.match(out, /webhook delivery rate, one router: \d+ events\/s/);
  });
});
