/** TimingWheel under stress: re-entrant callbacks, a random-operations model check, large jumps, 1M entries. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TimingWheel } from '../../services/gateway/core/timing-wheel.js';
import { rng } from '../../loadtest/lib/rand.js'; // deterministic, so failures reproduce
import { TNode, START, TICK, wheel, driveTicks } from '../helpers/wheel-harness.js';

describe('TimingWheel onExpire re-entrancy', () => {
  it('the callback may reschedule the expired node', () => {
    const w = wheel();
    const n = new TNode(0);
    w.schedule(n, START + 20);
    const at: number[] = [];
    let now = START;
    for (; now <= START + 1_000; now += TICK) {
      w.advance(now, (x) => {
        at.push(now);
        if (at.length < 4) w.schedule(x, now + 55);
      });
    }
    assert.deepEqual(at, [START + 20, START + 80, START + 140, START + 200]);
    assert.equal(w.size, 0);
  });

  // A small wheel and the largest one (each slot's bucket detached while walked): cover both.
  for (const wheelSize of [8, 2 ** 20]) {
    it(`the callback may cancel, touch and schedule nodes in the slot being walked (wheelSize ${wheelSize})`, () => {
      const w = wheel({ wheelSize });
      const same = Array.from({ length: 12 }, (_, i) => new TNode(i));
      for (const n of same) w.schedule(n, START + 30);
      const d = new TNode(100);
      w.schedule(d, START + 200);
      const fresh = new TNode(101);
      let first: TNode | undefined;
      let others: TNode[] = [];
      const fired: TNode[] = [];
      w.advance(START + 30, (x) => {
        fired.push(x);
        if (first) return;
        first = x;
        // Everything else in this slot is still pending (detached, not walked).
        others = same.filter((n) => n !== x);
        // Cancel from both ends and the middle of the pending bucket (swap-remove).
        for (const i of [0, 10, 5, 1, 9, 4]) w.cancel(others[i]!);
        for (const i of [2, 3, 6]) w.touch(others[i]!, START + 500); // later: re-slotted when reached
        w.touch(d, START + 30); // earlier, but this tick is being processed: due at the next one
        w.schedule(fresh, START + 25); // likewise
      });
      assert.ok(first);
      assert.deepEqual(new Set(fired), new Set([first, others[7], others[8]]));
      assert.equal(fired.length, 3);
      assert.equal(w.size, 5);
      const later = new Map<TNode, number[]>();
      driveTicks(w, START + 40, START + 600, later);
      assert.deepEqual(later.get(d), [START + 40]);
      assert.deepEqual(later.get(fresh), [START + 40]);
      for (const i of [2, 3, 6]) assert.deepEqual(later.get(others[i]!), [START + 500]);
      assert.equal(later.size, 5);
    });
  }

  it('random operations, also from inside onExpire, keep every contract (model check)', () => {
    for (const wheelSize of [2, 8, 64, 2 ** 20]) {
      const r = rng(wheelSize);
      const w = wheel({ wheelSize });
      const nodes = Array.from({ length: 300 }, (_, i) => new TNode(i));
      const model = new Map<TNode, number>(); // scheduled node -> deadline
      const randomOp = (minDeadline: number): void => {
        const n = nodes[Math.floor(r() * nodes.length)]!;
        const op = r();
        const d = minDeadline + r() * 40 * TICK;
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
      };
      let now = START;
      for (let step = 0; step < 2_000; step++) {
        for (let k = 0; k < 5; k++) randomOp(now - 3 * TICK); // includes past deadlines
        // Always cross at least one boundary; sometimes jump several rotations.
        now += r() < 0.02 ? 3 * wheelSize * TICK * r() + TICK : TICK * (1 + Math.floor(r() * 3)) + r() * TICK;
        let calls = 0;
        const expired = w.advance(now, (x) => {
          calls++;
          const d = model.get(x);
          assert.ok(d !== undefined, `node ${x.id} fired while not scheduled`);
          assert.equal(x.deadline, d);
          assert.ok(d <= now, `node ${x.id} fired early`);
          assert.equal(x.wheelId, -1);
          model.delete(x);
          // Deadlines set from inside the callback are in the future.
          if (r() < 0.5) randomOp(now + 0.001);
          if (r() < 0.3) randomOp(now + 0.001);
        });
        assert.equal(expired, calls);
        assert.equal(w.size, model.size);
        const target = Math.floor((now - START) / TICK);
        for (const n of nodes) {
          const d = model.get(n);
          assert.equal(n.wheelId !== -1, d !== undefined, `node ${n.id} membership`);
          if (d !== undefined) assert.ok(Math.ceil((d - START) / TICK) > target, `node ${n.id} overdue after advance`);
        }
      }
    }
  });

  it('advance() from inside onExpire throws', () => {
    const w = wheel();
    w.schedule(new TNode(0), START + 10);
    assert.throws(() => w.advance(START + 10, () => w.advance(START + 20, () => {})), /re-entrant/);
    // And the wheel is still usable afterwards.
    w.schedule(new TNode(1), START + 40);
    assert.equal(w.advance(START + 40, () => {}), 1);
  });

  it('stays consistent when onExpire throws', () => {
    const w = wheel();
    const nodes = Array.from({ length: 6 }, (_, i) => new TNode(i));
    for (const n of nodes) w.schedule(n, START + 20);
    let calls = 0;
    assert.throws(() =>
      w.advance(START + 20, () => {
        if (++calls === 2) throw new Error('boom');
      }),
    );
    assert.equal(w.size, 4);
    const rest: TNode[] = [];
    w.advance(START + 30, (n) => rest.push(n));
    assert.equal(rest.length, 4);
    assert.equal(w.size, 0);
  });

  it('a throw during a multi-rotation jump does not strand overdue entries', () => {
    const w = wheel();
    const nodes = Array.from({ length: 8 }, (_, i) => new TNode(i));
    nodes.forEach((n, i) => w.schedule(n, START + i * TICK));
    let calls = 0;
    assert.throws(() =>
      w.advance(START + 10_000, () => {
        if (++calls === 1) throw new Error('boom');
      }),
    );
    assert.equal(w.size, 7);
    assert.equal(w.advance(START + 10_000, () => {}), 7);
  });
});

describe('TimingWheel record storage', () => {
  it('grows while onExpire schedules new nodes mid-walk, and reuses released records', () => {
    const w = wheel({ wheelSize: 8 });
    // More than the initial record capacity, all due in one tick.
    const first = Array.from({ length: 1_500 }, (_, i) => new TNode(i));
    for (const n of first) w.schedule(n, START + 20);
    const later = Array.from({ length: 3_000 }, (_, i) => new TNode(10_000 + i));
    let next = 0;
    let fired = 0;
    w.advance(START + 20, () => {
      fired++;
      // Two new nodes per expiry: the record array doubles while the slot is walked.
      for (let k = 0; k < 2; k++) w.schedule(later[next++]!, START + 40 + (next % 3) * TICK);
    });
    assert.equal(fired, 1_500);
    assert.equal(w.size, 3_000);
    for (const n of first) assert.equal(n.wheelId, -1);
    const firedLater = new Map<TNode, number[]>();
    driveTicks(w, START + 30, START + 100, firedLater);
    assert.equal(firedLater.size, 3_000);
    for (const [n, at] of firedLater) assert.deepEqual(at, [START + Math.ceil((n.deadline - START) / TICK) * TICK]);
    // Released records are reused: ids stay below the peak population.
    const again = Array.from({ length: 4_000 }, (_, i) => new TNode(20_000 + i));
    for (const n of again) w.schedule(n, START + 500);
    assert.ok(again.every((n) => n.wheelId >= 0 && n.wheelId < 4_500));
    assert.equal(new Set(again.map((n) => n.wheelId)).size, 4_000);
  });
});

describe('TimingWheel large jumps', () => {
  it('a jump of many rotations expires exactly the due entries in bounded work', () => {
    const r = rng(3);
    const w = wheel({ wheelSize: 64 });
    const nodes: TNode[] = [];
    for (let i = 0; i < 10_000; i++) {
      const n = new TNode(i);
      w.schedule(n, START + r() * 100_000);
      nodes.push(n);
    }
    const jumpTo = START + 50_000;
    const fired = new Set<TNode>();
    const count = w.advance(jumpTo, (n) => {
      assert.ok(!fired.has(n), 'fired twice');
      fired.add(n);
    });
    for (const n of nodes) assert.equal(fired.has(n), n.deadline <= jumpTo, `node ${n.id} deadline ${n.deadline}`);
    assert.equal(count, fired.size);
    assert.ok(w.stats.visited <= 2 * nodes.length, `visited ${w.stats.visited}`);
    // Normal stepping resumes with the usual accuracy.
    const rest = new Map<TNode, number[]>();
    driveTicks(w, jumpTo + TICK, START + 101_000, rest);
    assert.equal(rest.size + fired.size, nodes.length);
    for (const [n, at] of rest) {
      assert.equal(at.length, 1);
      const t = at[0] ?? Number.NaN;
      assert.ok(t >= n.deadline && t < n.deadline + TICK, `node ${n.id}`);
    }
  });

  it('does not iterate empty ticks on an enormous jump', () => {
    const w = new TimingWheel<TNode>({ tickMs: 1, wheelSize: 1024, startMs: 0 });
    const n = new TNode(0);
    w.schedule(n, 5e11);
    const t0 = performance.now();
    assert.equal(w.advance(1e12, () => {}), 1); // 10^12 ticks
    assert.equal(w.advance(2e12, () => {}), 0);
    assert.ok(performance.now() - t0 < 100, 'jump took too long');
  });
});

describe('TimingWheel at scale', () => {
  it('1,000,000 entries each expire exactly once within one tick', () => {
    const N = 1_000_000;
    const r = rng(4);
    const w = wheel({ wheelSize: 1024 });
    const nodes: TNode[] = new Array<TNode>(N);
    for (let i = 0; i < N; i++) {
      const n = new TNode(i);
      nodes[i] = n;
      // ~3 rotations of spread: most nodes are also re-slotted on the way.
      w.schedule(n, START + r() * 30_000);
    }
    assert.equal(w.size, N);
    const firedAt = new Float64Array(N).fill(Number.NaN);
    const fireCount = new Uint8Array(N);
    let now = START;
    const onExpire = (n: TNode): void => {
      firedAt[n.id] = now;
      fireCount[n.id] = (fireCount[n.id] ?? 0) + 1;
    };
    for (; now <= START + 30_000 + TICK; now += TICK) w.advance(now, onExpire);
    assert.equal(w.size, 0);
    assert.equal(w.stats.expired, N);
    let bad = 0;
    for (let i = 0; i < N; i++) {
      const n = nodes[i]!;
      const t = firedAt[i]!;
      if (fireCount[i] !== 1 || !(t >= n.deadline) || !(t < n.deadline + TICK)) bad++;
    }
    assert.equal(bad, 0);
  });
});
