import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TimingWheel } from '../../services/gateway/core/timing-wheel.js';
import type { WheelNode, TimingWheelOptions } from '../../services/gateway/core/timing-wheel.js';

class TNode implements WheelNode {
  deadline = 0;
  wheelPrev: WheelNode | null = null;
  wheelNext: WheelNode | null = null;
  wheelSlot = -1;
  constructor(readonly id: number) {}
}

/** Deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const START = 1_000;
const TICK = 10;

function wheel(opts: Partial<TimingWheelOptions> = {}): TimingWheel<TNode> {
  return new TimingWheel<TNode>({ tickMs: TICK, wheelSize: 8, startMs: START, ...opts });
}

/** Advance boundary by boundary from `from` to `to`, recording when each node fired. */
function driveTicks(w: TimingWheel<TNode>, from: number, to: number, fired: Map<TNode, number[]>): void {
  for (let now = from; now <= to; now += TICK) {
    w.advance(now, (n) => {
      const list = fired.get(n);
      if (list) list.push(now);
      else fired.set(n, [now]);
    });
  }
}

describe('TimingWheel options', () => {
  it('rejects bad tickMs, wheelSize, startMs with RangeError', () => {
    for (const tickMs of [0, -1, Number.NaN, Infinity, -Infinity]) {
      assert.throws(() => wheel({ tickMs }), { name: 'RangeError', message: /tickMs/ });
    }
    for (const wheelSize of [0, 1, 3, 6, 1.5, -4, 2 ** 21, Number.NaN, Infinity]) {
      assert.throws(() => wheel({ wheelSize }), { name: 'RangeError', message: /wheelSize/ });
    }
    for (const startMs of [Number.NaN, Infinity]) {
      assert.throws(() => wheel({ startMs }), { name: 'RangeError', message: /startMs/ });
    }
    assert.doesNotThrow(() => wheel({ wheelSize: 2 }));
    assert.doesNotThrow(() => wheel({ wheelSize: 2 ** 20, tickMs: 0.5 }));
  });

  it('rejects a NaN deadline', () => {
    const w = wheel();
    const n = new TNode(0);
    assert.throws(() => w.schedule(n, Number.NaN), RangeError);
    assert.equal(w.size, 0);
    w.schedule(n, START + 50);
    assert.throws(() => w.touch(n, Number.NaN), RangeError);
  });
});

describe('TimingWheel expiry accuracy', () => {
  it('fires every random deadline once, never early, less than one tick late', () => {
    const r = rng(1);
    const w = wheel({ wheelSize: 64 });
    const nodes: TNode[] = [];
    for (let i = 0; i < 5_000; i++) {
      const n = new TNode(i);
      // Fractional deadlines, spanning ~30 rotations of 640 ms.
      w.schedule(n, START + r() * 20_000);
      nodes.push(n);
    }
    assert.equal(w.size, 5_000);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 21_000, fired);
    assert.equal(w.size, 0);
    for (const n of nodes) {
      const at = fired.get(n);
      assert.ok(at && at.length === 1, `node ${n.id} fired ${at?.length ?? 0} times`);
      const t = at[0] ?? Number.NaN;
      assert.ok(t >= n.deadline, `node ${n.id} early: ${t} < ${n.deadline}`);
      assert.ok(t < n.deadline + TICK, `node ${n.id} late: ${t} >= ${n.deadline} + ${TICK}`);
      assert.equal(n.wheelSlot, -1);
    }
    assert.equal(w.stats.expired, 5_000);
  });

  it('with irregular advance() calls, fires at the first call at or after the deadline boundary', () => {
    const r = rng(2);
    const w = wheel({ wheelSize: 16 });
    const nodes: TNode[] = [];
    for (let i = 0; i < 2_000; i++) {
      const n = new TNode(i);
      w.schedule(n, START + r() * 5_000);
      nodes.push(n);
    }
    const firedAt = new Map<TNode, { now: number; prev: number }>();
    let prev = START;
    for (let now = START; now < START + 6_000; now += r() * 25) {
      const p = prev;
      w.advance(now, (n) => firedAt.set(n, { now, prev: p }));
      prev = now;
    }
    for (const n of nodes) {
      const f = firedAt.get(n);
      assert.ok(f, `node ${n.id} never fired`);
      assert.ok(f.now >= n.deadline, `node ${n.id} early`);
      // The previous call was not yet obliged to fire it.
      assert.ok(f.prev < n.deadline + TICK, `node ${n.id} skipped a call that was due`);
    }
  });

  it('expires past deadlines on the next advance that crosses a boundary', () => {
    const w = wheel();
    w.advance(START + 100, () => {});
    const n = new TNode(0);
    w.schedule(n, START - 5_000);
    let fired = 0;
    assert.equal(w.advance(START + 105, () => fired++), 0, 'no boundary crossed yet');
    assert.equal(w.advance(START + 110, () => fired++), 1);
    assert.equal(fired, 1);
  });

  it('a deadline at startMs is due on advance(startMs)', () => {
    const w = wheel();
    const n = new TNode(0);
    w.schedule(n, START);
    assert.equal(w.advance(START, () => {}), 1);
  });

  it('+Infinity never expires; advance with a backwards or NaN now is a no-op', () => {
    const w = wheel();
    const n = new TNode(0);
    w.schedule(n, Infinity);
    assert.equal(w.advance(START + 1_000_000, () => {}), 0);
    assert.equal(w.advance(START, () => {}), 0);
    assert.equal(w.advance(Number.NaN, () => {}), 0);
    assert.equal(w.size, 1);
    w.touch(n, START + 1_000_020);
    assert.equal(w.advance(START + 1_000_020, () => {}), 1);
  });
});

describe('TimingWheel touch', () => {
  it('extends lazily: slot unchanged, not expired at the old deadline, re-slotted only when visited', () => {
    const w = wheel({ wheelSize: 64 }); // one rotation covers both deadlines
    const n = new TNode(0);
    w.schedule(n, START + 100);
    const slot = n.wheelSlot;
    w.touch(n, START + 500);
    assert.equal(n.deadline, START + 500);
    assert.equal(n.wheelSlot, slot, 'touch to a later deadline must not move the node');
    assert.equal(w.stats.reslotted, 0);
    // Boundaries before the old slot's visit: no work on n at all.
    w.advance(START + 90, () => assert.fail('fired early'));
    assert.equal(w.stats.reslotted, 0);
    assert.equal(w.stats.visited, 0);
    w.advance(START + 100, () => assert.fail('fired at the old deadline'));
    assert.equal(w.stats.reslotted, 1);
    assert.equal(w.stats.visited, 1);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START + 110, START + 600, fired);
    assert.deepEqual(fired.get(n), [START + 500]);
  });

  it('many lazy touches cost nothing until the slot comes round', () => {
    const w = wheel();
    const n = new TNode(0);
    w.schedule(n, START + 45);
    for (let i = 1; i <= 1_000; i++) w.touch(n, START + 45 + i);
    assert.equal(w.stats.visited + w.stats.reslotted, 0);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 1_100, fired);
    assert.deepEqual(fired.get(n), [START + 1_050]);
  });

  it('to an earlier deadline re-slots eagerly and fires on time', () => {
    const w = wheel();
    const n = new TNode(0);
    const other = new TNode(1);
    w.schedule(n, START + 5_000);
    w.schedule(other, START + 5_000);
    const slot = n.wheelSlot;
    w.touch(n, START + 23);
    assert.notEqual(n.wheelSlot, slot);
    assert.equal(n.deadline, START + 23);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 5_000, fired);
    assert.deepEqual(fired.get(n), [START + 30]);
    assert.deepEqual(fired.get(other), [START + 5_000]);
  });

  it('earlier deadline in the same slot but an earlier rotation still fires on time', () => {
    const w = wheel();
    const n = new TNode(0);
    w.schedule(n, START + 3 * 80 + 20); // same slot as START + 20, three rotations later
    w.touch(n, START + 20);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 400, fired);
    assert.deepEqual(fired.get(n), [START + 20]);
  });

  it('is a no-op on an unscheduled node', () => {
    const w = wheel();
    const n = new TNode(0);
    n.deadline = 7;
    w.touch(n, START + 50);
    assert.equal(n.deadline, 7);
    assert.equal(n.wheelSlot, -1);
    assert.equal(w.size, 0);
  });
});

describe('TimingWheel schedule and cancel', () => {
  it('rescheduling moves the node (earlier and later) without double counting', () => {
    const w = wheel();
    const a = new TNode(0);
    const b = new TNode(1);
    w.schedule(a, START + 300);
    w.schedule(a, START + 50);
    w.schedule(b, START + 50);
    w.schedule(b, START + 700);
    assert.equal(w.size, 2);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 1_000, fired);
    assert.deepEqual(fired.get(a), [START + 50]);
    assert.deepEqual(fired.get(b), [START + 700]);
    assert.equal(w.size, 0);
  });

  it('cancelled nodes never fire; size tracks; head, middle and tail of one slot', () => {
    const w = wheel({ wheelSize: 2 ** 20 }); // single list per slot, so head/middle/tail are well defined
    const nodes = Array.from({ length: 5 }, (_, i) => new TNode(i));
    for (const n of nodes) w.schedule(n, START + 40);
    assert.equal(w.size, 5);
    const [n0, n1, n2, n3, n4] = nodes as [TNode, TNode, TNode, TNode, TNode];
    w.cancel(n4); // head (pushed last)
    w.cancel(n2); // middle
    w.cancel(n0); // tail
    w.cancel(n0); // idempotent
    assert.equal(w.size, 2);
    for (const n of [n0, n2, n4]) {
      assert.equal(n.wheelSlot, -1);
      assert.equal(n.wheelPrev, null);
      assert.equal(n.wheelNext, null);
    }
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 200, fired);
    assert.deepEqual([...fired.keys()].map((n) => n.id).sort(), [n1.id, n3.id]);
    assert.equal(w.size, 0);
    w.cancel(n1); // after expiry: no-op
    assert.equal(w.size, 0);
  });
});

describe('TimingWheel wrap-around', () => {
  it('handles deadlines at exact multiples of a rotation and around them', () => {
    const rotation = 8 * TICK;
    const w = wheel();
    const nodes: TNode[] = [];
    for (let k = 0; k <= 6; k++) {
      for (const delta of [-1, 0, 1, TICK - 0.5, TICK]) {
        const n = new TNode(nodes.length);
        w.schedule(n, START + k * rotation + delta);
        nodes.push(n);
      }
    }
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 8 * rotation, fired);
    for (const n of nodes) {
      const at = fired.get(n);
      assert.equal(at?.length, 1, `node ${n.id} (deadline ${n.deadline})`);
      const t = at?.[0] ?? Number.NaN;
      const expected = START + Math.max(0, Math.ceil((n.deadline - START) / TICK)) * TICK;
      assert.equal(t, expected, `node ${n.id} (deadline ${n.deadline})`);
    }
  });

  it('a far deadline is looked at once per rotation, then fires on time', () => {
    const w = wheel();
    const n = new TNode(0);
    w.schedule(n, START + 10 * 80 + 30);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 1_000, fired);
    assert.deepEqual(fired.get(n), [START + 830]);
    assert.equal(w.stats.visited, 11);
    assert.equal(w.stats.reslotted, 10);
  });
});

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

  // 8 slots get 8 lanes per slot, 2^20 slots a single list per slot: cover both.
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
        // With one list: others[0] is its tail, others[10] its head.
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
          assert.equal(x.wheelSlot, -1);
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
          assert.equal(n.wheelSlot !== -1, d !== undefined, `node ${n.id} membership`);
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
    const w = new TimingWheel<TNode>({ tickMs: TICK, wheelSize: 1024, startMs: START });
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
