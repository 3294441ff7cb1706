/**
 * The Node load generator (`npm run loadtest`): option parsing and the split
 * over workers and source addresses, the report pieces (aggregation, chart,
 * progress line), and one short real run against a live standalone gateway
 * with a drop and pushes, checked through its JSON report and SVG.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MAX_PER_PROCESS, parseConfig, splitWork } from '../../loadtest/generator/options.js';
import { renderSvg, type Point } from '../../loadtest/generator/report.js';
import { Aggregator } from '../../loadtest/generator/aggregate.js';
import { Progress } from '../../loadtest/generator/progress.js';
import { zeroCounts, type Sample } from '../../loadtest/generator/worker.js';
import { Histogram } from '../../loadtest/lib/histogram.js';
import type { Standalone } from '../../services/standalone/app.js';
import { TEST_SECRET, start } from '../helpers/standalone.js';

describe('load generator: options and pieces', () => {
  it('spreads 100k connections over processes under the fd limit and over source addresses', () => {
    const c = parseConfig(['--cluster', '7', '--connections', '100000']);
    assert.ok(c.workers >= Math.ceil(100_000 / MAX_PER_PROCESS), `workers ${c.workers}`);
    const shares = splitWork(c);
    assert.equal(shares.reduce((a, s) => a + s.count, 0), 100_000);
    assert.ok(shares.every((s) => s.count <= MAX_PER_PROCESS && s.sources.length >= 1));
    assert.equal(new Set(shares.flatMap((s) => s.sources)).size, c.sources.length, 'every source address used, by one worker each');
    assert.ok(c.sources.every((a) => /^127\.0\.0\.\d+$/.test(a) && a !== '127.0.0.1'));
    assert.deepEqual(shares.map((s) => s.first), shares.map((_, i) => shares.slice(0, i).reduce((a, s) => a + s.count, 0)), 'contiguous user ranges');
  });

  it('rejects what cannot work, with a reason', () => {
    assert.throws(() => parseConfig([]), /--url .* or --cluster/);
    assert.throws(() => parseConfig(['--url', 'ws://h/ws', '--secret', 's', '--connections', '40000', '--workers', '2']), /sockets per process/);
    assert.throws(() => parseConfig(['--url', 'ws://h/ws', '--connections', '10']), /--secret/);
    assert.throws(() => parseConfig(['--url', 'ws://h/ws', '--secret', 's', '--push-rate', '5']), /--api/);
    assert.throws(() => parseConfig(['--url', 'http://h/ws', '--secret', 's']), /ws:\/\//);
  });

  it('aggregates worker samples into timeline points and phase totals', () => {
    const agg = new Aggregator(0);
    const h = new Histogram();
    for (const ms of [1, 2, 3, 4, 100]) h.recordMs(ms);
    const d = { ...zeroCounts(), opened: 10, hbSent: 5, hbAcks: 5 };
    const s = (open: number): Sample => ({ type: 'sample', t: 0, open, connecting: 0, waiting: 0, attempted: open, d, codes: { 4006: 1 }, statuses: {}, errors: {},
      hb: h.toSparse(), push: new Histogram().toSparse(), connect: new Histogram().toSparse(), reconnect: new Histogram().toSparse(), lagMaxMs: open === 7 ? 40 : 3 });
    agg.add(0, s(10));
    agg.add(1, s(7));
    const p = agg.point(2000);
    assert.equal(p.open, 17);
    assert.equal(p.openedPerS, 10, '20 opened over 2 s');
    assert.ok(p.hbP50 >= 2.9 && p.hbP50 <= 3.1 && p.hbP99 >= 98, JSON.stringify(p));
    assert.equal(p.pushP95, -1, 'no push samples: -1, not NaN');
    assert.equal(agg.codes['4006'], 2);
    assert.equal(p.workerLagMs, 40, 'worst worker lag of the interval');
    assert.equal(p.samples, 2);
    agg.phase = 'hold';
    agg.add(0, s(10));
    assert.equal(agg.merged(['hold']).counts.opened, 10);
    assert.equal(agg.merged(['ramp', 'hold']).hb.n, 15);
  });

  it('chart: an SVG with the three panels, lines for the data and a gap where there is none', () => {
    const pts: Point[] = [0, 1, 2, 3].map((t) => ({ t, open: t * 10, connecting: 0, waiting: 0, openedPerS: 10, hbPerS: 1, pushesPerS: 0,
      hbP50: 1, hbP95: 2, hbP99: t === 2 ? -1 : 3, pushP50: -1, pushP95: -1, pushP99: -1, unexpectedCloses: 0, failed: 0, workerLagMs: 0, samples: 2, sampleAgeMs: 1 }));
    const svg = renderSvg(pts, { title: 'a <b> & c', phases: [{ name: 'ramp', from: 0, to: 2 }], markers: [{ t: 1.5, label: 'drop' }] });
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /a &lt;b&gt; &amp; c/);
    for (const t of ['Open connections', 'Heartbeat ack round trip', 'Push latency']) assert.ok(svg.includes(t), t);
    const lines = svg.match(/<polyline /g)?.length ?? 0;
    // open + p50 + p95 + generator lag as lines; p99 split by its gap (a 2-point line and a lone point); no push lines.
    assert.equal(lines, 5, svg);
    assert.equal(svg.match(/<circle /g)?.length, 1);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
  });

  it('progress: redrawn in place on a TTY, plain throttled lines otherwise', () => {
    const tty: string[] = [], pipe: string[] = [];
    const pt = new Progress({ isTTY: true, columns: 80, write: (s) => { tty.push(s); return true; } });
    const pp = new Progress({ isTTY: false, write: (s) => { pipe.push(s); return true; } }, 10_000);
    for (let i = 0; i <= 10; i++) { pt.update(i / 10, `step ${i}`, i * 1000); pp.update(i / 10, `step ${i}`, i * 1000); }
    assert.equal(tty.length, 11);
    assert.ok(tty.every((s) => s.startsWith('\r') && !s.includes('\n')));
    assert.match(tty[10]!, /\[#+\] 100% step 10/);
    assert.deepEqual(pipe, ['[  0%] step 0\n', '[100%] step 10\n']);
  });
});

describe('load generator: a short real run', () => {
  let s: Standalone | undefined;
  after(async () => { await s?.shutdown(); });

  it('ramps, holds, drops half and resumes them, pushes; JSON report and SVG chart agree', async () => {
    s = await start({ LONGLINK_HB_MIN_MS: '100' });
    const out = mkdtempSync(path.join(os.tmpdir(), 'lg-test-'));
    const args = ['dist/loadtest/generator/main.js', '--url', s.gatewayUrl, '--secret', TEST_SECRET, '--api', s.apiUrl, '--api-key', s.apiKey,
      '--connections', '60', '--workers', '2', '--hb', '1500', '--ramp', '1', '--hold', '5', '--drop-at', '1', '--drop-fraction', '0.5',
      '--push-rate', '20', '--sample-ms', '500', '--out', out];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 0, stderr + stdout);
    const last = JSON.parse(stdout.trim().split('\n').at(-1)!) as { summary: Record<string, unknown> & {
      drop: { dropped: number; reconnects: number; resumed: number; recover_s: number };
      pushes: { sent: number; received: number; errors: number; gaps: number; latency_ms: { n: number; p50: number } };
      heartbeat_ack_ms_hold: { n: number; p95: number } } };
    const sm = last.summary;
    assert.equal(sm.peak_open, 60);
    assert.equal(sm.open_at_end_of_hold, 60);
    assert.equal(sm.unexpected_closes, 0);
    assert.equal(sm.spurious_timeouts, 0);
    assert.equal(sm.verdict, 'pass');
    assert.ok(sm.heartbeat_ack_ms_hold.n > 60, 'every connection heartbeat during the hold');
    assert.ok(sm.drop.dropped >= 25 && sm.drop.reconnects === sm.drop.dropped && sm.drop.resumed === sm.drop.dropped, JSON.stringify(sm.drop));
    assert.ok(sm.drop.recover_s >= 0, 'recovered within the hold');
    assert.ok(sm.pushes.sent > 10 && sm.pushes.errors === 0 && sm.pushes.gaps === 0, JSON.stringify(sm.pushes));
    assert.ok(sm.pushes.received >= sm.pushes.sent, `received ${sm.pushes.received} of ${sm.pushes.sent}`);
    assert.match(stdout, /heartbeat ack \(hold\)\s+p50 /, 'readable table');
    assert.match(stderr, /\[\s*\d+%\] (ramp|hold) /, 'plain progress lines when stderr is not a TTY');
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as { timeline: Point[] };
    assert.ok(report.timeline.length >= 8 && Math.max(...report.timeline.map((p) => p.open)) === 60);
    assert.ok((readFileSync(path.join(out, 'report.svg'), 'utf8').match(/<polyline /g)?.length ?? 0) >= 5);
  });
});
