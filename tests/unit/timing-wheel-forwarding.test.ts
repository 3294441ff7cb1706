/**
 * TimingWheel forwarding cells: a walk moves an entry without storing its
 * location, leaving a forwarding cell; touch/cancel/expiry follow and shorten
 * the path, paths stay short, and walked buckets are released and reused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../../loadtest/lib/rand.js';
import { TNode, START, TICK, wheel, driveTicks } from '../helpers/wheel-harness.js';

describe('TimingWheel forwarding', () => {
  it('touch after a walk moved the entry updates the moved cell (later and earlier deadlines)', () => {
    const w = wheel({ wheelSize: 64 });
    const later = new TNode(0);
    const earlier = new TNode(1);
    for (const n of [later, earlier]) {
      w.schedule(n, START + 100);
      w.touch(n, START + 300); // lazy: still in the +100 slot
    }
    w.advance(START + 100, () => assert.fail('fired at the old deadline'));
    assert.equal(w.stats.reslotted, 2); // both moved, each leaving a forwarding cell
    w.touch(later, START + 400); // follows the forward, extends the moved cell
    w.touch(earlier, START + 150); // follows the forward, then re-slots eagerly
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START + 110, START + 500, fired);
    assert.deepEqual(fired.get(earlier), [START + 150]);
    assert.deepEqual(fired.get(later), [START + 400]);
    assert.equal(w.size, 0);
  });

  it('cancel and reschedule after one or more moves: the old cells never fire', () => {
    const w = wheel({ wheelSize: 8 }); // rotation 80 ms: a far deadline is moved every rotation
    const a = new TNode(0);
    const b = new TNode(1);
    w.schedule(a, START + 1_000);
    w.schedule(b, START + 1_000);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 400, fired); // ~5 moves each, none touched
    assert.ok(w.stats.reslotted >= 8);
    w.cancel(a);
    w.schedule(b, START + 450);
    // The freed index is reused by a new node while b's and a's old cells may still be around.
    const c = new TNode(2);
    w.schedule(c, START + 470);
    driveTicks(w, START + 410, START + 1_200, fired);
    assert.equal(fired.get(a), undefined);
    assert.deepEqual(fired.get(b), [START + 450]);
    assert.deepEqual(fired.get(c), [START + 470]);
    assert.equal(w.size, 0);
  });

  it('an entry nobody touches is moved every rotation and still fires once, on time (path bounded)', () => {
    const w = wheel({ wheelSize: 4 }); // rotation 40 ms
    const n = new TNode(0);
    w.schedule(n, START + 2_005);
    const fired = new Map<TNode, number[]>();
    driveTicks(w, START, START + 2_100, fired);
    assert.deepEqual(fired.get(n), [START + 2_010]);
    // About one move per rotation; the hop limit resolves the path, so buckets do not pile up.
    assert.ok(w.stats.reslotted >= 45, `reslotted ${w.stats.reslotted}`);
    assert.ok(w.bucketCount <= 4 + 4, `buckets ${w.bucketCount}`);
  });

  it('steady heartbeats: walked buckets are released and reused (bucket count bounded)', () => {
    const r = rng(7);
    const size = 16;
    const w = wheel({ wheelSize: size });
    const N = 2_000;
    const interval = 60; // ms; deadline = last frame + 100
    const timeout = 100;
    const nodes = Array.from({ length: N }, (_, i) => new TNode(i));
    const next = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      w.schedule(nodes[i]!, START + timeout);
      next[i] = START + r() * interval;
    }
    const silentAfter = START + 3_000;
    let fired = 0;
    const wrong: string[] = [];
    let peakBuckets = 0;
    for (let now = START + TICK; now <= START + 5_000; now += TICK) {
      for (let i = 0; i < N; i++) {
        // Node i goes silent at silentAfter if i % 10 === 0.
        while (next[i]! <= now && !(i % 10 === 0 && next[i]! > silentAfter)) {
          w.touch(nodes[i]!, next[i]! + timeout);
          next[i] = next[i]! + interval * (0.9 + 0.2 * r());
        }
      }
      w.advance(now, (x) => {
        fired++;
        if (x.id % 10 !== 0) wrong.push(`node ${x.id} fired at ${now}`);
        else if (now < x.deadline || now >= x.deadline + TICK) wrong.push(`node ${x.id} fired at ${now}, deadline ${x.deadline}`);
      });
      peakBuckets = Math.max(peakBuckets, w.bucketCount);
    }
    assert.deepEqual(wrong, []);
    assert.equal(fired, N / 10);
    assert.ok(w.stats.reslotted > N * 40, `reslotted ${w.stats.reslotted}`);
    // Slots plus the walked buckets a touch interval keeps alive (~interval / tick), not one per walk (~490).
    assert.ok(peakBuckets <= size + 2 * (interval / TICK) + 4, `peak buckets ${peakBuckets}`);
  });
});
