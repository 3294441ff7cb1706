/** TimingWheel contracts: options, expiry accuracy, touch, schedule/cancel, wrap-around. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../../loadtest/lib/rand.js'; // deterministic, so failures reproduce
import { TNode, START, TICK, wheel, driveTicks } from '../helpers/wheel-harness.js';

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
      assert.equal(n.wheelId, -1);
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
    w.touch(n, START + 500);
    assert.equal(n.deadline, START + 500);
    assert.equal(w.stats.reslotted, 0);
    // Boundaries before the old slot's visit: no work on n at all.
    w.advance(START + 90, () => assert.fail('fired early'));
    assert.equal(w.stats.reslotted, 0);
    assert.equal(w.stats.visited, 0);
    // The old slot's visit finds it (the touch did not move it) and re-slots it.
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
    w.touch(n, START + 23);
    assert.equal(n.deadline, START + 23);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 30, fired);
    assert.deepEqual(fired.get(n), [START + 30]);
    // Moved at touch time: the walk up to its new tick met n alone, never its old slot-mate.
    assert.deepEqual(w.stats, { visited: 1, expired: 1, reslotted: 0 });
    driveTicks(w, START + 40, START + 5_000, fired);
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
    assert.equal(n.wheelId, -1);
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
    const w = wheel({ wheelSize: 2 ** 20 }); // one slot holds them all, in schedule order: first, middle and last cell
    const nodes = Array.from({ length: 5 }, (_, i) => new TNode(i));
    for (const n of nodes) w.schedule(n, START + 40);
    assert.equal(w.size, 5);
    const [n0, n1, n2, n3, n4] = nodes as [TNode, TNode, TNode, TNode, TNode];
    w.cancel(n4); // last cell
    w.cancel(n2); // middle (n3 swapped in)
    w.cancel(n0); // first cell
    w.cancel(n0); // idempotent
    assert.equal(w.size, 2);
    for (const n of [n0, n2, n4]) {
      assert.equal(n.wheelId, -1);
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
