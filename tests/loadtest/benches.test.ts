/**
 * The benchmark suite (`npm run bench`), the reconnect-storm bench
 * (`npm run bench:storm`), push latency and maximum batches (`bench:push`), CPU per heartbeat vs bare uWS
 * (`bench:heartbeat-cpu`), the gateway's delivery path alone (`bench:gateway-deliver`) and the timing wheel (`bench:wheel`), run end to end
 * at toy sizes: every server and
 * every retry policy produces numbers, the baselines verify JWTs, nothing is
 * lost in the storm. Plus the pure report pieces (ratios, comparison).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { verifyHs256 } from '../../loadtest/bench/baseline-auth.js';
import { allReconnected, compareStorms, idealOf, stormTable, type StormResult } from '../../loadtest/bench/storm-report.js';
import { Aggregator } from '../../loadtest/generator/aggregate.js';
import { zeroCounts, type Sample } from '../../loadtest/generator/worker.js';
import { Histogram } from '../../loadtest/lib/histogram.js';
import { suiteRatios, type SuiteResult } from '../../loadtest/bench/suite-report.js';
import { mintToken } from '../../services/standalone/dev-token.js';

async function run(script: string, args: string[]): Promise<{ json: Record<string, unknown>; out: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0, `${script} exited ${code}:\n${err}\n${out}`);
  return { json: JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>, out };
}

describe('bench pieces', () => {
  it('baseline JWT check: accepts a good HS256 token, rejects wrong secret, expiry and alg', async () => {
    const secret = 'baseline-secret-0123456789-0123456789';
    assert.equal(verifyHs256(await mintToken(secret, 'alice', { ttlSeconds: 60 }), secret), 'alice');
    await assert.rejects(async () => verifyHs256(await mintToken(secret + 'x', 'alice'), secret), /signature/);
    await assert.rejects(async () => verifyHs256(await mintToken(secret, 'alice', { ttlSeconds: 60 }), secret, Date.now() / 1000 + 120), /expired/);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"a","exp":9999999999}').toString('base64url')}.`;
    assert.throws(() => verifyHs256(none, secret), /algorithm/);
  });

  it('suite ratios are Longlink / baseline per metric', () => {
    const r = (server: SuiteResult['server'], k: number): SuiteResult => ({ server, connections: 10, failed: 0, unexpected_closes: 0, connect_rate_per_s: 100 * k,
      cpu_us_per_connect: 10 * k, rss_bytes_per_conn: 1000 * k, rss_avg_bytes_per_conn: 0, rss_idle_mb: 0, rss_loaded_mb: 0, cpu_us_per_heartbeat: 2 * k, heartbeats_per_s: 1,
      push: { offered_per_s: 1, accepted: 1, errors: 0, received: 1, achieved_per_s: 50, p50_ms: k, p99_ms: 0, max_ms: 0 } });
    const x = suiteRatios([r('longlink', 1), r('standalone-uws', 2), r('ws', 2), r('socketio', 4)]);
    assert.deepEqual(Object.keys(x), ['longlink_vs_ws', 'longlink_vs_socketio', 'standalone-uws_vs_ws', 'standalone-uws_vs_socketio']);
    assert.equal(x['standalone-uws_vs_socketio']!.cpu_per_connect, 0.5);
    assert.equal(x.longlink_vs_ws!.rss_per_conn, 0.5);
    assert.equal(x.longlink_vs_socketio!.connect_rate, 0.25);
    assert.equal(x.longlink_vs_ws!.push_p99, -1, 'a zero denominator is reported as not measured');
    assert.equal(x.longlink_vs_ws!.push_throughput, 1);
  });

  it('storm recovery: samples taken before the kill do not count as every client back', () => {
    // Two workers of 50 clients; their samples come every 250 ms from event loops the kill stalls.
    const agg = new Aggregator(0, 'storm');
    const sample = (open: number, reconnectedNow: number): Sample => {
      const r = new Histogram();
      for (let i = 0; i < reconnectedNow; i++) r.recordMs(500);
      return { type: 'sample', t: 0, open, connecting: 50 - open, waiting: 0, attempted: 50, d: zeroCounts(), codes: {}, statuses: {}, errors: {},
        hb: new Histogram().toSparse(), push: new Histogram().toSparse(), connect: new Histogram().toSparse(), reconnect: r.toSparse(), lagMaxMs: 0 };
    };
    const back = (): boolean => allReconnected(agg.gauge().open, agg.reconnect.n, 100);
    // Before the kill (and for as long as no worker has sampled since): everyone looks open, nobody has reconnected.
    agg.add(0, sample(50, 0)); agg.add(1, sample(50, 0));
    assert.equal(agg.gauge().open, 100);
    assert.equal(back(), false, 'stale gauges: the killed connections still count as open');
    agg.add(0, sample(10, 10)); agg.add(1, sample(50, 0));
    assert.equal(back(), false, 'one worker has seen the kill, the other has not sampled since');
    agg.add(0, sample(50, 40)); agg.add(1, sample(50, 49));
    assert.equal(back(), false, 'one client has not had a hello since the mark');
    agg.add(1, sample(49, 1));
    assert.equal(back(), false, 'every client had a hello, but one is out again');
    agg.add(1, sample(50, 0));
    assert.equal(back(), true);
    // No session start measured: no ideal, rather than clients ÷ 1/s.
    assert.deepEqual(idealOf(100, 0, 0.62), {});
    assert.deepEqual(idealOf(100, 50, 3), { ideal_s: 2, recover_vs_ideal: 1.5 });
    assert.deepEqual(idealOf(100, 50, undefined), { ideal_s: 2, recover_vs_ideal: -1 });
  });

  it('storm comparison: fixed / jitter ratios and a table with both columns', () => {
    const base: StormResult = { mode: 'sdk', connections: 100, recover_s: 2, reconnect_ms: { n: 100, p50: 1, p95: 2, p99: 3, p999: 3, max: 4, mean: 1 }, reconnected: 100, resumed: 100,
      peak_connect_rate_per_gateway: { gw1: 100, gw2: 80 }, admission_rejections_503: 10, client_seen_503: 10, failed_attempts: 10, failed_by_error: {},
      connections_after: { gw1: 50, gw2: 50 }, pushes: { requests: 5, sent: 5, offline: 0, errors: 0, checked: 5, lost: 0, lost_samples: [] }, unexpected_closes: 100, machine_busy_pct_storm: 50 };
    const fixed: StormResult = { ...base, mode: 'fixed', recover_s: 5, peak_connect_rate_per_gateway: { gw1: 300, gw2: 250 }, admission_rejections_503: 40 };
    const c = compareStorms([base, fixed])!;
    assert.deepEqual(c.ratios, { peak_connect_rate: 3, admission_rejections: 4, recover_time: 2.5, reconnect_p99: 1 });
    const t = stormTable([base, fixed]);
    assert.match(t, /SDK backoff, full jitter\s+fixed 1 s, no jitter/);
    assert.match(t, /pushes lost after resume\s+0 of 5\s+0 of 5/);
    assert.equal(compareStorms([base]), undefined);
  });
});

describe('benches end to end (toy sizes)', () => {
  it('bench:fanout: every subscriber on both gateways gets every publish once, in order; the push, bare-uWS, sustained and latency phases deliver too; CPU ratios computed', async () => {
    const { json } = await run('dist/loadtest/bench/fanout.js', ['--subscribers', '40', '--gateways', '2', '--workers', '1', '--publishes', '4', '--interval', '50',
      '--channel-size', '10', '--sustain-rate', '1000', '--sustain-seconds', '1', '--lat-size', '20', '--lat-rate', '100', '--lat-seconds', '1']);
    const ch = json.channel as { delivered: number; expected: number; exactly_once: boolean; out_of_order: number; last_receipt_ms: { p99: number } };
    const push = json.push as { delivered: number; expected: number };
    const bare = json.bare_uws as { delivered: number; expected: number; exactly_once: boolean; cpu_us_per_delivery: number };
    assert.deepEqual([ch.delivered, ch.expected, ch.exactly_once, ch.out_of_order], [160, 160, true, 0]);
    assert.ok(ch.last_receipt_ms.p99 >= 0 && ch.last_receipt_ms.p99 < 10_000, JSON.stringify(ch));
    assert.deepEqual([push.delivered, push.expected], [160, 160]);
    assert.deepEqual([bare.delivered, bare.expected, bare.exactly_once], [160, 160, true]);
    assert.ok(bare.cpu_us_per_delivery > 0, JSON.stringify(bare));
    // 4 channels of 10 at 100 publishes/s for 1 s; 2 channels of 20 at 100/s for 1 s: every message to every member once.
    const sus = json.sustained as { channels: number; publishes: number; accepted: number; delivered: number; exactly_once: boolean; deliveries_per_s: number };
    assert.deepEqual([sus.channels, sus.publishes, sus.accepted, sus.delivered, sus.exactly_once], [4, 100, 100, 1000, true]);
    assert.ok(sus.deliveries_per_s > 0, JSON.stringify(sus));
    const lat = json.latency as { channels: number; publishes: number; delivered: number; exactly_once: boolean; api_answer_ms: { p99: number } };
    assert.deepEqual([lat.channels, lat.publishes, lat.delivered, lat.exactly_once], [2, 100, 2000, true]);
    assert.ok(lat.api_answer_ms.p99 >= 0, JSON.stringify(lat));
    assert.equal(json.closed_unexpectedly, 0);
    // Every end the clients saw and every close the gateways counted, per phase and in all: none here, but every phase read.
    assert.deepEqual([json.closes_seen_by_clients, json.gateway_closes_by_reason], [{}, {}]);
    const phases = ['connect', 'idle', 'channel', 'bare', 'push', 'sustained', 'latency'];
    const clients = json.client_health as Record<string, { loop_p99_ms: number; loop_max_ms: number; closes: object }>;
    assert.deepEqual(Object.keys(clients), phases);
    for (const p of phases) assert.ok(clients[p]!.loop_max_ms > 0 && clients[p]!.loop_max_ms >= clients[p]!.loop_p99_ms, JSON.stringify(clients[p]));
    assert.deepEqual(Object.keys(json.gateway_closes as object), phases);
    // The router's own view of the latency phase's publishes (its duration histogram): all 100 answered, a p99 bound.
    const inRouter = (json.router_health as Record<string, { publish_in_router: { answers: number; within_10ms: number; p99_le_ms: number } }>).latency!.publish_in_router;
    assert.ok(inRouter.answers === 100 && inRouter.within_10ms >= 0 && inRouter.p99_le_ms > 0, JSON.stringify(inRouter));
    for (const k of ['ratio_gateway_cpu_channel_vs_push', 'ratio_gateway_cpu_channel_vs_push_net_of_idle', 'ratio_gateway_cpu_channel_vs_bare_uws']) assert.equal(typeof json[k], 'number', k);
    // The lean client (default) counted every pub frame from its bytes: none needed the full decoder.
    assert.equal(json.client, 'lean');
    assert.equal((json.channel as { client_pubs_decoded_in_full: number }).client_pubs_decoded_in_full, 0);
    // The answer time split into the wait in the bench's client and the round trip.
    const split = lat as unknown as { api_queued_in_client_ms: { p99: number }; api_round_trip_ms: { p99: number } };
    assert.ok(split.api_queued_in_client_ms.p99 >= 0 && split.api_round_trip_ms.p99 >= 0, JSON.stringify(lat));
  });

  it('bench:fanout --client ws (every frame decoded, the client before the lean one): the same receipts', async () => {
    const { json } = await run('dist/loadtest/bench/fanout.js', ['--subscribers', '30', '--gateways', '1', '--workers', '1', '--publishes', '3', '--interval', '50',
      '--bare', '10', '--channels', '0', '--lat-rate', '0', '--client', 'ws']);
    const ch = json.channel as { delivered: number; exactly_once: boolean; out_of_order: number; client_pubs_decoded_in_full: number };
    assert.equal(json.client, 'ws');
    assert.deepEqual([ch.delivered, ch.exactly_once, ch.out_of_order, ch.client_pubs_decoded_in_full], [90, true, 0, 0]);
    assert.deepEqual([(json.bare_uws as { delivered: number }).delivered, (json.push as { delivered: number }).delivered], [30, 90]);
  });

  it('bench:push: standalone at a fixed rate, then maximum-size batches with the bystander probe and the server\'s own event-loop delay', async () => {
    const { json, out } = await run('dist/loadtest/bench/push.js', ['--systems', 'standalone', '--baseline', 'none', '--users', '20', '--workers', '1',
      '--rate', '50', '--duration', '600', '--warmup', '400', '--single-steps', '', '--batch-steps', '', '--max-batch', '10', '--max-batch-users', '200',
      '--max-batch-parallel', '2', '--max-batch-ms', '800']);
    const [sys] = json.systems as Array<{ label: string; fixed: { accepted: number; received: number }; max_batch: Record<string, number> }>;
    assert.equal(sys!.label, 'standalone new');
    assert.ok(sys!.fixed.accepted > 0 && sys!.fixed.received === sys!.fixed.accepted, JSON.stringify(sys!.fixed));
    const m = sys!.max_batch;
    assert.ok(m.ok! >= 1 && m.errors === 0 && m.probes! > 0, JSON.stringify(m));
    // Sampled inside the standalone process over the window: present, numbers, and measured (not the -1 of "no monitor").
    for (const k of ['loop_p99_ms', 'loop_max_ms', 'loop_samples']) assert.equal(typeof m[k], 'number', k);
    assert.ok(m.loop_samples! > 0 && m.loop_max_ms! >= 0 && m.loop_max_ms! >= m.loop_p99_ms!, JSON.stringify(m));
    // The longest stall less the wait for a core, and the machine's floor (an idle process) over the same window.
    // (own is -1 where /proc has no per-thread schedstat.)
    assert.ok(typeof m.loop_own_max_ms === 'number' && m.loop_own_max_ms >= -1 && m.floor_max_ms! >= 0, JSON.stringify(m));
    assert.match(out, /server event-loop delay p99\/max \(own max\) ms/);
    assert.match(out, /floor \(an idle Node process, same window\)/);
  });

  it('bench:push --hops: every push of the fixed phase joined across driver, router, gateway and client, its hops adding up to its latency', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'longlink-hops-'));
    try {
      const { json, out } = await run('dist/loadtest/bench/push.js', ['--systems', 'cluster', '--baseline', 'none', '--users', '20', '--workers', '1',
        '--rate', '50', '--duration', '600', '--warmup', '400', '--single-steps', '', '--batch-steps', '', '--max-batch', '0', '--hops', dir]);
      const [sys] = json.systems as Array<{ fixed: { accepted: number }; hops: { pushes: number; joined: number; total_p50_ms: number;
        rows: Array<{ hop: string; p50_ms: number; rest_mean_ms: number; tail_mean_ms: number }>; gc: Record<string, unknown> } }>;
      const h = sys!.hops;
      assert.ok(h.pushes === sys!.fixed.accepted && h.joined === h.pushes && h.pushes > 0, JSON.stringify(h));
      assert.deepEqual(h.rows.map((r) => r.hop), ['send→accept', 'accept→stored', 'stored→published', 'published→received', 'received→written', 'written→client']);
      // Marks on one monotonic clock, taken in path order: no hop is negative.
      for (const r of h.rows) assert.ok(r.p50_ms >= 0 && r.rest_mean_ms >= 0 && r.tail_mean_ms >= 0, JSON.stringify(r));
      assert.ok(Object.keys(h.gc).some((k) => k.startsWith('router ')) && Object.keys(h.gc).filter((k) => k.startsWith('gateway ')).length === 2, JSON.stringify(h.gc));
      assert.match(out, /Hops, cluster new: \d+ of \d+ pushes joined/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bench:gateway-deliver: deliveries published straight to the gateway reach every client, at 1 and 4 pushes per bus message; the gateway\'s own counts and CPU', async () => {
    // Clients hold their acks past the run (--ack-batch): the router then has nothing to do while pushes flow, so a
    // bench timing any process but the gateway sees no more CPU than idle.
    const { json, out } = await run('dist/loadtest/bench/gateway-deliver.js', ['--baseline', 'none', '--users', '20', '--workers', '1',
      '--rate', '2000', '--duration', '1000', '--warmup', '200', '--per-msg', '1,4', '--ack-batch', '600000', '--rounds', '1']);
    type W = { per_msg: number; pushes: number; msgs: number; gw_pushes: number; gw_msgs: number; received: number; complete: boolean;
      gateway_cpu_us: number; idle_cpu_us: number; gateway_us_per_push: number; gateway_us_per_msg: number; msgs_per_write: number; max_msgs_per_write: number };
    const [r] = json.results as Array<{ label: string; windows: W[] }>;
    assert.equal(r!.label, 'new');
    assert.deepEqual(r!.windows.map((w) => w.per_msg), [1, 4]);
    for (const w of r!.windows) {
      assert.ok(w.pushes > 0 && w.received === w.pushes && w.complete, JSON.stringify(w));
      // Counted by the gateway (pushes written) and by NATS (messages on its deliver subscription), not by the publisher.
      assert.deepEqual([w.gw_pushes, w.gw_msgs], [w.pushes, w.msgs], JSON.stringify(w));
      // The gateway worked for them: ≥ 3 µs a push above its idle CPU over as long (a push costs it tens of µs).
      assert.ok(w.gateway_cpu_us - w.idle_cpu_us >= 3 * w.pushes && w.gateway_us_per_push >= 3, JSON.stringify(w));
      // Each bus message left in its own write, though at 1/msg they fall due every 0.5 ms, under the timers' 1 ms.
      assert.deepEqual([w.msgs_per_write, w.max_msgs_per_write], [1, 1], JSON.stringify(w));
    }
    assert.deepEqual(json.incomplete, []);
    assert.deepEqual(Object.keys(json.means as object), ['new']);
    assert.match(out, /gateway CPU per push \(deliveries published straight to the gateway; idle CPU subtracted\)/);
  });

  it('bench:push-store: both store paths find every user online, CPU per call and the lean ÷ ioredis ratio computed', async () => {
    const { json, out } = await run('dist/loadtest/bench/push-store.js', ['--calls', '300', '--per-turn', '4', '--users', '50', '--rounds', '2']);
    const results = json.results as Record<'lean' | 'ioredis', Array<{ us: number; rate: number; offline: number }>>;
    for (const k of ['lean', 'ioredis'] as const) {
      assert.equal(results[k].length, 2, k);
      for (const r of results[k]) assert.ok(r.us > 0 && r.rate > 0 && r.offline === 0, `${k}: ${JSON.stringify(r)}`);
    }
    assert.ok(typeof json.ratio === 'number' && (json.ratio as number) > 0);
    assert.match(out, /"bench":"push-store"/);
  });

  it('bench:heartbeat-cpu: gateway and bare uWS heartbeat at once, every client acked, CPU per heartbeat and the ratio computed', async () => {
    const { json } = await run('dist/loadtest/bench/heartbeat-cpu.js', ['--connections', '100', '--workers', '1', '--interval', '2500', '--window', '2500', '--windows', '3', '--idle', '1000']);
    const servers = json.servers as Record<string, { cpu_us_per_heartbeat: number; heartbeats_per_s: number; heartbeats_per_wakeup: number; open: number; unexpected_closes: number; failed: number;
      idle_cpu_ms_per_s: number; idle_main_wakeups_per_s: number; idle_wakeups_per_s: number }>;
    assert.deepEqual(Object.keys(servers), ['longlink', 'uws']);
    for (const [name, r] of Object.entries(servers)) {
      assert.ok(r.idle_cpu_ms_per_s >= 0 && r.idle_main_wakeups_per_s >= 0 && r.idle_wakeups_per_s >= r.idle_main_wakeups_per_s, `${name}: idle cost measured: ${JSON.stringify(r)}`);
      assert.equal(r.open, 100, `${name}: all connected`);
      assert.equal(r.failed + r.unexpected_closes, 0, name);
      assert.ok(r.heartbeats_per_s > 20 && r.cpu_us_per_heartbeat > 0 && r.heartbeats_per_wakeup > 0, `${name}: ${JSON.stringify(r)}`);
    }
    const ratio = json.ratio_longlink_vs_uws as number;
    assert.ok(Number.isFinite(ratio) && ratio > 0, String(ratio));
  });

  it('bench:heartbeat-cpu: shared clients (the default) load every server from the same workers, each server its own count; per-server clients still reachable', async () => {
    type Row = { cpu_us_per_heartbeat: number; heartbeats_per_s: number; heartbeats_per_wakeup: number; preemptions_per_1000_heartbeats: number; open: number; unexpected_closes: number; failed: number };
    const common = ['--connections', '60', '--workers', '1', '--interval', '2500', '--window', '2500', '--windows', '2', '--idle', '0', '--before', 'dist'];
    for (const [layout, extra, order] of [
      ['shared', ['--before-first'], ['before', 'longlink', 'uws']],
      ['per-server', ['--clients', 'per-server'], ['longlink', 'uws', 'before']],
    ] as const) {
      const { json } = await run('dist/loadtest/bench/heartbeat-cpu.js', [...common, ...extra]);
      assert.equal(json.clients, layout);
      assert.deepEqual(json.order, order);
      const servers = json.servers as Record<string, Row>;
      for (const name of order) {
        const r = servers[name]!;
        // Each server's own 60, not the workers' total over all three (shared workers report per target).
        assert.equal(r.open, 60, `${layout} ${name}: ${JSON.stringify(r)}`);
        assert.equal(r.failed + r.unexpected_closes, 0, `${layout} ${name}`);
        // Acks counted per window (a stale stats reply would read 0 heartbeats); rate ≈ 60 / 2.5 s.
        assert.ok(r.heartbeats_per_s > 12 && r.heartbeats_per_s < 40 && r.cpu_us_per_heartbeat > 0, `${layout} ${name}: ${JSON.stringify(r)}`);
        assert.ok(r.preemptions_per_1000_heartbeats >= 0, `${layout} ${name}: preemptions reported`);
      }
      assert.ok((json.ratio_before_vs_uws as number) > 0);
    }
    const bad = spawnSync(process.execPath, ['dist/loadtest/bench/heartbeat-cpu.js', '--clients', 'both'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--clients must be shared or per-server/);
  });

  it('bench:wheel: wheel, naive scan and f64 scan detect exactly the silent connections; ratios computed', async () => {
    const { json } = await run('dist/loadtest/bench/wheel.js', ['--sizes', '2000']);
    const rows = json.results as Array<{ profile: string; n: number; wheel_cpu_ms_per_s: number; naive_cpu_ms_per_s: number; ratio: number; naive_f64_cpu_ms_per_s: number; ns_per_touch: number; ns_per_touch_replay: number }>;
    assert.deepEqual(rows.map((r) => `${r.profile} ${r.n}`), ['web 2000', 'smart 2000']);
    // The bench throws if any side misses or over-detects a silent connection, so reaching here means all agreed.
    for (const r of rows) assert.ok(r.wheel_cpu_ms_per_s > 0 && r.naive_cpu_ms_per_s > 0 && r.naive_f64_cpu_ms_per_s > 0 && r.ratio > 0 && r.ns_per_touch > 0 && r.ns_per_touch_replay > 0, JSON.stringify(r));
  });

  it('bench: Longlink (cluster and standalone), ws and Socket.IO all connect with JWTs, heartbeat and deliver pushes; ratios computed', async () => {
    const { json } = await run('dist/loadtest/bench/suite.js', ['--connections', '150', '--workers', '2', '--interval', '2000', '--window', '2500', '--push-rate', '40', '--push-s', '1']);
    const results = json.results as SuiteResult[];
    assert.deepEqual(results.map((r) => r.server), ['longlink', 'standalone', 'ws', 'socketio']);
    for (const r of results) {
      assert.equal(r.connections, 150, `${r.server}: all connected`);
      assert.equal(r.failed + r.unexpected_closes, 0, r.server);
      // 150 connections are too few for memory (the gateway's start-up garbage can outweigh them): only that it was read.
      assert.ok(r.connect_rate_per_s > 0 && r.heartbeats_per_s > 0 && Number.isFinite(r.rss_avg_bytes_per_conn) && r.rss_loaded_mb > 0, JSON.stringify(r));
      assert.ok(r.push.accepted > 10 && r.push.received === r.push.accepted && r.push.p50_ms >= 0, `${r.server} push ${JSON.stringify(r.push)}`);
      // One-process servers run the event-loop monitor over the push window (what a push's tail is made of).
      if (r.server !== 'longlink') assert.ok((r.push.loop?.samples ?? 0) > 0 && Array.isArray(r.push.loop?.stalls), `${r.server} loop ${JSON.stringify(r.push.loop)}`);
    }
    const ratios = json.ratios as Record<string, Record<string, number>>;
    assert.ok(ratios.longlink_vs_ws!.cpu_per_heartbeat! > 0 && ratios.longlink_vs_socketio!.rss_per_conn! !== undefined);
    assert.ok(ratios.standalone_vs_ws!.push_throughput! > 0, JSON.stringify(ratios.standalone_vs_ws));
  });

  it('bench:storm: every client reconnects with resume after the gateway dies, with both retry policies, and no push is lost', async () => {
    const { json, out } = await run('dist/loadtest/bench/storm.js', ['--connections', '300', '--workers', '1', '--push-rate', '40',
      '--connect-rate', '100', '--connect-burst', '100', '--ramp-rate', '300', '--timeout', '60']);
    const results = json.results as StormResult[];
    assert.deepEqual(results.map((r) => r.mode), ['sdk', 'fixed']);
    for (const r of results) {
      assert.ok(r.recover_s > 0, `${r.mode} recovered: ${r.recover_s}`);
      assert.ok(r.start_throughput_per_s! > 0 && r.recover_vs_ideal! > 0, `${r.mode}: sessions started during the recovery: ${r.start_throughput_per_s}/s`);
      assert.equal(r.reconnected, 300);
      // A failed resume is legal (a fresh session replays the inbox); nearly all should resume.
      assert.ok(r.resumed >= 285, `${r.mode}: ${r.resumed} of 300 sessions resumed`);
      assert.equal(Object.values(r.connections_after).reduce((a, b) => a + b, 0), 300, 'all on the surviving gateways');
      assert.ok(r.pushes.checked > 0, 'pushes were sent during the storm');
      assert.equal(r.pushes.lost, 0, `${r.mode}: lost ${r.pushes.lost_samples.join(' ')}`);
      assert.ok(Object.values(r.peak_connect_rate_per_gateway).every((v) => v > 0));
    }
    assert.match(out, /Fixed-delay retry vs SDK jitter: /);
  });

  it('bench:storm with Redis frozen during the storm: store errors, yet no client is displaced (4003) or left out', async () => {
    // Each 1.2 s stall outlasts the routers' 1 s command timeout: resumes fail (1011) while their late calls still run once
    // Redis resumes, the order in which an abandoned start used to displace its client's newer connection. Stalls kept
    // under the harness's 2 s gateway lease: longer ones (1.5 s × 3 at 15,000 clients) can lapse a lease, and pushes to
    // clients whose entries the re-announce did not restore then wait in the inbox (docs/benchmarks.md, an open problem).
    const { json } = await run('dist/loadtest/bench/storm.js', ['--connections', '300', '--workers', '1', '--push-rate', '40', '--modes', 'sdk',
      '--connect-rate', '100', '--connect-burst', '100', '--ramp-rate', '300', '--timeout', '60', '--redis-stall', '1200', '--redis-stalls', '2', '--redis-stall-at', '300']);
    const [r] = json.results as StormResult[];
    // The second stall (2.8 s after the kill) only happens if the storm is not over by then.
    assert.ok(r!.store_stalls!.count >= 1 && r!.store_stalls!.ms === 1200, `stalls: ${JSON.stringify(r!.store_stalls)}`);
    assert.equal(r!.closed_4003, 0, `closed 4003: ${JSON.stringify(r!.closes_by_code)}`);
    assert.equal(r!.left_out, 0);
    assert.ok(r!.recover_s > 0);
    assert.equal(r!.reconnected, 300);
  });
});
