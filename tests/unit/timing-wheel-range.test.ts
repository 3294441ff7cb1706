/** TimingWheel past 2^31 ticks: cells hold 32-bit ticks relative to an epoch that advance() re-bases; far deadlines wait outside the slots. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../../loadtest/lib/rand.js'; // deterministic, so failures reproduce
import { TNode, START, wheel } from '../helpers/wheel-harness.js';
import type { TimingWheel } from '../../services/gateway/core/timing-wheel.js';

const T = 1; // tick (ms): boundaries at START + k
/** First boundary at or after d. */
const due = (d: number): number => START + Math.max(0, Math.ceil((d - START) / T)) * T;
/** Advance boundary by boundary (tick T) from `from` to `to`, recording when each node fired. */
function driveTicks(w: TimingWheel<TNode>, from: number, to: number, fired: Map<TNode, number[]>): void {
  for (let now = from; now <= to; now += T) w.advance(now, (n) => fire(fired, n, now));
}
/** Jump (2^28 ticks at a time: each a full pass) to `to`, recording as driveTicks does; returns `to`. */
function jumpTo(w: TimingWheel<TNode>, from: number, to: number, fired: Map<TNode, number[]>): number {
  for (let now = Math.min(from + 2 ** 28, to); ; now = Math.min(now + 2 ** 28, to)) {
    w.advance(now, (n) => fire(fired, n, now));
    if (now === to) return to;
  }
}
const fire = (fired: Map<TNode, number[]>, n: TNode, now: number): void => {
  const at = fired.get(n);
  if (at) at.push(now);
  else fired.set(n, [now]);
};

describe('TimingWheel past 2^31 ticks', () => {
  // Tick counts where the epoch moves (2^30, its multiples) and where 32 bits wrap.
  for (const edge of [2 ** 30, 2 ** 31, 2 ** 32, 3 * 2 ** 31 + 2 ** 20, 2 ** 45]) {
    it(`stepping across tick ${edge} fires every deadline on its boundary`, () => {
      const w = wheel({ tickMs: T, wheelSize: 64 });
      const fired = new Map<TNode, number[]>();
      // Reach the edge by a jump (a full pass), then step.
      const from = START + edge - 40;
      w.advance(from, () => assert.fail('nothing scheduled'));
      const nodes: TNode[] = [];
      for (let k = -45; k <= 300; k += 3) {
        const n = new TNode(nodes.length);
        w.schedule(n, START + edge + k + (k % 2 === 0 ? 0 : -0.5));
        nodes.push(n);
      }
      // Some are touched later (lazy) and some earlier (eager), across the edge.
      for (let j = 0; j < nodes.length; j += 4) w.touch(nodes[j]!, nodes[j]!.deadline + 70);
      for (let j = 1; j < nodes.length; j += 4) w.touch(nodes[j]!, nodes[j]!.deadline - 30);
      driveTicks(w, from + 1, START + edge + 400, fired);
      for (const n of nodes) {
        assert.deepEqual(fired.get(n), [Math.max(due(n.deadline), from + 1)], `node ${n.id} deadline ${n.deadline - START - edge} past the edge`);
      }
      assert.equal(w.size, 0);
    });
  }

  it('far deadlines wait unvisited, come into range, and fire on their boundary; +Infinity never does', () => {
    const w = wheel({ tickMs: T, wheelSize: 8 });
    const far = [3 * 2 ** 31 + 5, 2 ** 33 + 0.5, 2 ** 31 + 7].map((k, i) => {
      const n = new TNode(i);
      w.schedule(n, START + k);
      return n;
    });
    const inf = new TNode(9);
    w.schedule(inf, Infinity);
    const fired = new Map<TNode, number[]>();
    // Jumps, each a full pass, up to just before the first deadline; then boundary by boundary.
    const now = jumpTo(w, START, START + 2 ** 31 - 10, fired);
    assert.equal(fired.size, 0);
    // Far entries cost no visits while far; the first came into range at a re-base, ~2^30 ticks ago.
    assert.ok(w.stats.visited <= 8, `visited ${w.stats.visited}`);
    driveTicks(w, now + 1, START + 2 ** 31 + 20, fired);
    assert.deepEqual(fired.get(far[2]!), [START + 2 ** 31 + 7]);
    const visited = w.stats.visited;
    driveTicks(w, jumpTo(w, START + 2 ** 31 + 20, START + 3 * 2 ** 31 - 10, fired) + 1, START + 3 * 2 ** 31 + 20, fired);
    assert.deepEqual(fired.get(far[0]!), [START + 3 * 2 ** 31 + 5]);
    assert.ok(w.stats.visited - visited <= 2 ** 30 / 8 + 8, `visited ${w.stats.visited - visited}`);
    // A jump straight past a far deadline expires it in that pass.
    let at = 0;
    w.advance(START + 2 ** 34, (n) => {
      assert.equal(n, far[1]);
      at++;
    });
    assert.equal(at, 1);
    assert.equal(w.size, 1);
    assert.equal(w.advance(START + 2 ** 50, () => assert.fail('+Infinity fired')), 0);
    assert.equal(w.advance(Infinity, () => assert.fail('advance(Infinity) fired')), 0);
    assert.equal(w.size, 1);
  });

  it('touch, schedule and cancel move entries into and out of the far bucket', () => {
    const w = wheel({ tickMs: T, wheelSize: 16 });
    const nodes = Array.from({ length: 6 }, (_, i) => new TNode(i));
    for (const n of nodes) w.schedule(n, START + 2 ** 40 + n.id);
    w.cancel(nodes[1]!); // middle of the far bucket: the last cell is swapped in
    w.cancel(nodes[5]!); // its last cell
    w.touch(nodes[0]!, START + 50); // far -> near (earlier)
    w.touch(nodes[2]!, START + 2 ** 41); // far -> farther
    w.touch(nodes[3]!, Infinity);
    w.schedule(nodes[4]!, START + 60); // far -> near
    const near = new TNode(7);
    w.schedule(near, START + 30);
    w.touch(near, START + 2 ** 35); // near -> far (later: stays in its slot until visited)
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 100, fired);
    assert.deepEqual(fired.get(nodes[0]!), [START + 50]);
    assert.deepEqual(fired.get(nodes[4]!), [START + 60]);
    assert.equal(fired.size, 2);
    assert.equal(w.size, 3);
    w.touch(nodes[3]!, START + 2 ** 36); // from +Infinity to a finite far deadline
    const now = jumpTo(w, START + 100, START + 2 ** 41 - 10, fired);
    // Each fired on the first pass at or after its deadline (jumps: within one jump of it).
    assert.ok(fired.get(near)![0]! >= START + 2 ** 35 && fired.get(near)![0]! < START + 2 ** 35 + 2 ** 28);
    assert.ok(fired.get(nodes[3]!)![0]! >= START + 2 ** 36 && fired.get(nodes[3]!)![0]! < START + 2 ** 36 + 2 ** 28);
    assert.equal(w.size, 1);
    driveTicks(w, now + 1, START + 2 ** 41 + 5, fired);
    assert.deepEqual(fired.get(nodes[2]!), [START + 2 ** 41]);
    for (const n of [nodes[1]!, nodes[5]!]) assert.equal(fired.has(n), false);
  });

  it('random operations around far and wrapping ticks keep every contract (model check)', () => {
    // Each run steps across a re-base: from the start, and after a jump that re-based at 2^31 and at 2^33.
    for (const [jump, rebase] of [[0, 2 ** 30], [2 ** 31 + 5, 2 ** 31 + 2 ** 30], [2 ** 33 + 5, 2 ** 33 + 2 ** 30]] as const) {
      const r = rng(rebase);
      const w = wheel({ tickMs: T, wheelSize: 32 });
      w.advance(START + jump, () => {});
      let now = START + rebase - 3_000;
      w.advance(now, () => {});
      const nodes = Array.from({ length: 200 }, (_, i) => new TNode(i));
      const model = new Map<TNode, number>();
      const pick = (): number => {
        const x = r();
        // Near (incl. past), a few rotations out, far beyond 2^31 ticks, or +Infinity.
        if (x < 0.6) return now - 5 + r() * 200;
        if (x < 0.85) return now + r() * 3_000;
        return x < 0.95 ? now + 2 ** 31 + r() * 2 ** 32 : Infinity;
      };
      for (let step = 0; step < 3_000; step++) {
        for (let k = 0; k < 3; k++) {
          const n = nodes[Math.floor(r() * nodes.length)]!;
          const op = r();
          const d = pick();
          if (op < 0.4) {
            w.schedule(n, d);
            model.set(n, d);
          } else if (op < 0.8) {
            w.touch(n, d);
            if (model.has(n)) model.set(n, d);
          } else {
            w.cancel(n);
            model.delete(n);
          }
        }
        now += 1 + Math.floor(r() * 3);
        w.advance(now, (x) => {
          const d = model.get(x);
          assert.ok(d !== undefined && d <= now, `node ${x.id} fired early or unscheduled`);
          model.delete(x);
        });
        assert.equal(w.size, model.size);
        for (const [n, d] of model) assert.ok(due(d) > now, `node ${n.id} overdue (deadline ${d}, now ${now})`);
      }
    }
  });
});
