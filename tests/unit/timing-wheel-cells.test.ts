/**
 * TimingWheel's cell representation: heartbeats move entries at touch time
 * (the old slot's walk meets only a stale cell), frequent touches are
 * recorded in place, stale cells never fire, entry indices are reused safely
 * (also mid-walk), and the steady state re-slots almost nothing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../../loadtest/lib/rand.js'; // deterministic, so failures reproduce
import { TNode, START, TICK, wheel, driveTicks } from '../helpers/wheel-harness.js';
import type { RecordingWheel } from '../helpers/wheel-harness.js';

/** Give every slot's bucket room (touch() moves an entry only into a bucket with room: it never allocates). */
function withRoom(w: RecordingWheel, slots: number): void {
  const filler = Array.from({ length: slots }, (_, i) => new TNode(-1 - i));
  filler.forEach((n, k) => w.schedule(n, START + k * TICK));
  for (const n of filler) w.cancel(n);
}

describe('TimingWheel cells: touch moves or records', () => {
  it('a heartbeat (deadline a whole interval later) moves the entry at touch time: its old slot holds only a stale cell', () => {
    const w = wheel({ wheelSize: 64 });
    withRoom(w, 64);
    const n = new TNode(0);
    w.schedule(n, START + 200); // tick 20
    w.advance(START + 100, () => assert.fail('fired early')); // walks the filler's stale cells, ticks 0..10
    const before = { ...w.stats };
    w.touch(n, START + 400); // 9 ticks until its slot is walked, 29 to the new one: move
    driveTicks(w, START + 110, START + 390, new Map());
    assert.equal(w.stats.expired, before.expired);
    assert.equal(w.stats.reslotted, before.reslotted, 'the walk of tick 20 re-slotted it: touch did not move it');
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START + 400, START + 700, fired);
    assert.deepEqual(fired.get(n), [START + 400]);
    assert.equal(w.stats.reslotted, before.reslotted);
  });

  it('frequent touches are recorded in place: about two moves per deadline, not one per touch', () => {
    const w = wheel({ wheelSize: 64 });
    withRoom(w, 64);
    w.advance(START + 64 * TICK, () => {}); // walk the filler's stale cells away
    const visited0 = w.stats.visited;
    const n = new TNode(0);
    let now = START + 64 * TICK;
    w.schedule(n, now + 500);
    // Ten frames per tick for ten rotations, each pushing the deadline to now + 50 ticks.
    for (let t = 0; t < 640; t++) {
      for (let k = 0; k < 10; k++) w.touch(n, now + k + 500);
      now += TICK;
      w.advance(now, () => assert.fail('fired while touched'));
    }
    const cells = w.stats.visited - visited0;
    // Moving whenever the next walk is at most half as far as the new deadline's: one move per ~25 ticks.
    assert.ok(cells >= 640 / 50 && cells <= 640 / 20, `cells walked: ${cells}`);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, now, now + 600, fired);
    assert.deepEqual(fired.get(n), [now - TICK + 9 + 500 + 1]);
  });

  it('records instead of moving when the target bucket has no room yet, and the walk re-slots it exactly', () => {
    const w = wheel({ wheelSize: 64 }); // no bucket allocated but the one schedule() grows
    const n = new TNode(0);
    w.schedule(n, START + 100);
    w.touch(n, START + 500);
    w.advance(START + 100, () => assert.fail('fired at the old deadline'));
    assert.equal(w.stats.reslotted, 1);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START + 110, START + 600, fired);
    assert.deepEqual(fired.get(n), [START + 500]);
  });
});

describe('TimingWheel cells: stale cells and index reuse', () => {
  it('a cancelled entry whose index is reused in the same slot fires only as the new node, once', () => {
    const w = wheel();
    const a = new TNode(0);
    const b = new TNode(1);
    w.schedule(a, START + 30);
    const id = a.wheelId;
    w.cancel(a);
    w.schedule(b, START + 30);
    assert.equal(b.wheelId, id, 'free list reuses the index');
    for (let k = 0; k < 5; k++) w.schedule(b, START + 30); // five more stale cells in the same bucket
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 100, fired);
    assert.deepEqual([...fired.entries()], [[b, [START + 30]]]);
    assert.equal(w.size, 0);
  });

  it('onExpire may reuse the expired index in the walked slot, a rotation later, and touch or cancel it there', () => {
    const w = wheel(); // 8 slots: tick 2 and tick 10 share slot 2
    const a = new TNode(0);
    const keep = new TNode(1);
    w.schedule(a, START + 20);
    w.schedule(keep, START + 20);
    const b = new TNode(2);
    const c = new TNode(3);
    const fired: TNode[] = [];
    w.advance(START + 20, (x) => {
      fired.push(x);
      if (x !== a) return;
      // a's index is free again: b takes it and lands in slot 2's fresh bucket at a's old position.
      w.schedule(b, START + 100);
      assert.equal(b.wheelId, 0);
      w.touch(b, START + 120); // must change b's fresh cell, not the walked one
      w.schedule(c, START + 100);
      w.cancel(c);
    });
    assert.deepEqual(new Set(fired), new Set([a, keep]));
    const later = new Map<TNode, number[]>();
    driveTicks(w, START + 30, START + 300, later);
    assert.deepEqual([...later.entries()], [[b, [START + 120]]]);
  });
});

describe('TimingWheel cells: steady heartbeats', () => {
  it('after the first rotations nearly every heartbeat is a touch-time move; silent nodes expire on time', () => {
    const r = rng(7);
    const w = wheel({ wheelSize: 64, tickMs: TICK });
    const interval = 30 * TICK;
    const deadlineSpan = 50 * TICK;
    const nodes = Array.from({ length: 3_000 }, (_, i) => new TNode(i));
    const nextBeat = new Float64Array(nodes.length);
    const silentFrom = new Float64Array(nodes.length).fill(Infinity);
    nodes.forEach((n, i) => {
      w.schedule(n, START + deadlineSpan);
      nextBeat[i] = START + r() * interval;
      if (i % 50 === 0) silentFrom[i] = START + 200 * TICK + r() * 200 * TICK;
    });
    const firedAt = new Map<TNode, number>();
    let marks = { ...w.stats };
    for (let t = 1; t <= 640; t++) {
      const now = START + t * TICK;
      nodes.forEach((n, i) => {
        while (nextBeat[i]! <= now) {
          const at = nextBeat[i]!;
          if (at < silentFrom[i]!) w.touch(n, at + deadlineSpan);
          nextBeat[i] = at + interval * (0.9 + 0.2 * r());
        }
      });
      w.advance(now, (n) => {
        assert.ok(!firedAt.has(n));
        firedAt.set(n, now);
      });
      if (t === 320) marks = { ...w.stats };
    }
    const visited = w.stats.visited - marks.visited;
    const reslotted = w.stats.reslotted - marks.reslotted;
    assert.ok(visited > 3_000 * 5, `visited ${visited}`);
    assert.ok(reslotted < visited * 0.05, `re-slotted ${reslotted} of ${visited} cells walked in steady state`);
    for (const [n, at] of firedAt) {
      assert.ok(silentFrom[n.id]! < Infinity, `node ${n.id} fired while heartbeating`);
      assert.ok(at >= n.deadline && at < n.deadline + TICK, `node ${n.id}: fired ${at}, deadline ${n.deadline}`);
    }
    assert.equal(firedAt.size, nodes.filter((_, i) => silentFrom[i]! < Infinity).length);
  });
});
