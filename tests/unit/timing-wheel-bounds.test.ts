/**
 * touch() decides without dividing by comparing the deadline with exact tick
 * boundaries (tick-boundary.ts). These tests pin the boundaries to the ulp and
 * run the wheel's contract where rounding bites: fractional ticks, epoch-sized
 * start times, and deadlines on a boundary or one ulp either side.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { firstDeadlineOfTick } from '../../services/gateway/core/tick-boundary.js';
import { TNode, RecordingWheel } from '../helpers/wheel-harness.js';
import { rng } from '../../loadtest/lib/rand.js'; // deterministic, so failures reproduce

const CLOCKS: { startMs: number; tickMs: number }[] = [
  { startMs: 0, tickMs: 1000 },
  { startMs: 1_000, tickMs: 10 },
  { startMs: 123.456, tickMs: 0.1 },
  { startMs: -50, tickMs: 1 / 3 },
  { startMs: 1_765_000_000_123.25, tickMs: 500 },
  { startMs: 1_765_000_000_123.25, tickMs: 7.3 },
];
// The adjacent double below (up = false) or above x, through its bits (x finite and not 0).
const bits = new BigInt64Array(1);
const f64 = new Float64Array(bits.buffer);
function ulpStep(x: number, up: boolean): number {
  f64[0] = x;
  bits[0]! += x > 0 === up ? 1n : -1n;
  return f64[0]!;
}
const T = (d: number, c: { startMs: number; tickMs: number }): number => Math.ceil((d - c.startMs) / c.tickMs);

describe('firstDeadlineOfTick', () => {
  it('is the smallest double whose tick is k, to the ulp', () => {
    const r = rng(3);
    for (const c of CLOCKS) {
      for (let n = 0; n < 2000; n++) {
        const k = n < 20 ? n - 10 : Math.floor(r() * 2 ** (1 + Math.floor(r() * 40)));
        const d = firstDeadlineOfTick(k, c.startMs, c.tickMs);
        assert.ok(Number.isFinite(d), `k ${k}, ${JSON.stringify(c)}`);
        assert.ok(T(d, c) >= k, `T(d) = ${T(d, c)} < ${k}`);
        if (d !== 0) assert.ok(T(ulpStep(d, false), c) < k, `not the smallest for k ${k}`);
        else assert.ok(T(-Number.MIN_VALUE, c) < k, `not the smallest for k ${k}`);
      }
    }
  });
});

describe('TimingWheel touch at awkward boundaries (model check)', () => {
  for (const c of CLOCKS) {
    it(`expires every entry in the advance() that first reaches its tick: start ${c.startMs}, tick ${c.tickMs}`, () => {
      const r = rng(Math.round(c.tickMs * 1000));
      const wheelSize = 16;
      const w = new RecordingWheel({ ...c, wheelSize });
      const nodes = Array.from({ length: 200 }, (_, i) => new TNode(i));
      // node -> the tick it is due at: its deadline's, or the next unprocessed one if that had passed when set.
      const model = new Map<TNode, number>();
      let processed = -1;
      let now = c.startMs;
      // A deadline on a boundary, one ulp either side, or anywhere; up to 3 rotations out (far ones are recorded).
      const deadline = (): number => {
        const k = Math.floor((now - c.startMs) / c.tickMs) + Math.floor(r() * 3 * wheelSize) - 2;
        const b = firstDeadlineOfTick(k, c.startMs, c.tickMs);
        const p = r();
        return p < 0.3 || b === 0 ? b : p < 0.5 ? ulpStep(b, false) : p < 0.7 ? ulpStep(b, true) : b + r() * c.tickMs;
      };
      for (let step = 0; step < 1500; step++) {
        for (let k = 0; k < 6; k++) {
          const n = nodes[Math.floor(r() * nodes.length)]!;
          const d = deadline();
          const due = Math.max(T(d, c), processed + 1);
          if (r() < 0.25) {
            w.schedule(n, d);
            model.set(n, due);
          } else if (model.has(n)) {
            w.touch(n, d);
            model.set(n, due);
          }
        }
        now += c.tickMs * (r() < 0.05 ? 1 + r() * 3 * wheelSize : 0.3 + r() * 2);
        const target = Math.floor((now - c.startMs) / c.tickMs);
        w.advance(now, (x) => {
          const due = model.get(x);
          assert.ok(due !== undefined, `node ${x.id} fired while not scheduled`);
          assert.ok(due <= target, `node ${x.id} fired early: tick ${due} > ${target}`);
          model.delete(x);
        });
        processed = Math.max(processed, target);
        for (const [n, due] of model) assert.ok(due > target, `node ${n.id} overdue: tick ${due} <= ${target}`);
      }
      assert.ok(w.stats.expired > 500, `expired ${w.stats.expired}`);
    });
  }
});
