/**
 * bench:storm's session-start throughput (the "ideal" recovery time is
 * clients ÷ this rate): the best 3 s of wall time, whatever the spacing of
 * the samples. The storm samples every 250 ms plus the scrape and its own
 * event-loop delay, so on a busy machine samples came 300-700 ms apart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bestRate } from '../../loadtest/bench/storm-report.js';

/** Cumulative starts at `rate(t)` per second, sampled at the given times (s). */
function series(times: number[], rate: (t: number) => number): Array<{ t: number; n: number }> {
  let n = 0, prev = 0;
  return times.map((t) => {
    for (let x = prev; x < t - 1e-9; x += 0.001) n += rate(x) * 0.001;
    prev = t;
    return { t, n: Math.round(n) };
  });
}

describe('bench:storm best 3 s rate', () => {
  it('samples 500 ms apart at 1,000/s: 1,000/s, not the 2,000/s that counting 12 samples as 3 s gives', () => {
    const s = series(Array.from({ length: 41 }, (_, i) => i * 0.5), () => 1000);
    const r = bestRate(s, 3);
    assert.ok(Math.abs(r - 1000) < 2, `got ${r}`);
  });

  it('finds a 3 s burst among uneven samples (250-700 ms apart), by interpolation', () => {
    const times: number[] = [0];
    const gaps = [0.25, 0.7, 0.3, 0.45, 0.6, 0.25];
    for (let i = 0; times.at(-1)! < 20; i++) times.push(Math.round((times.at(-1)! + gaps[i % gaps.length]!) * 1000) / 1000);
    // 500/s, except 2,000/s from 12 s to 15 s.
    const s = series(times, (t) => (t >= 12 && t < 15 ? 2000 : 500));
    const r = bestRate(s, 3);
    assert.ok(r > 1850 && r <= 2005, `the burst's rate, got ${r}`);
  });

  it('a run shorter than the window: its mean rate; fewer than two samples: 0', () => {
    assert.equal(bestRate([{ t: 0, n: 0 }, { t: 1, n: 300 }, { t: 2, n: 800 }], 3), 400);
    assert.equal(bestRate([{ t: 0, n: 0 }, { t: 0.1, n: 50 }], 3), 200, 'at least 0.25 s');
    assert.equal(bestRate([{ t: 0, n: 5 }], 3), 0);
  });
});
