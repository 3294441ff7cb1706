import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QueueExpiredError, WorkQueue } from '../../services/router/core/work-queue.js';
import { LonglinkError } from '../../services/shared/errors.js';

function deferred(): { promise: Promise<string>; resolve: (v: string) => void; reject: (e: unknown) => void } {
  let resolve!: (v: string) => void, reject!: (e: unknown) => void;
  const promise = new Promise<string>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('WorkQueue', () => {
  it('runs at most `concurrency` tasks, the rest in FIFO order as slots free up', async () => {
    const q = new WorkQueue({ concurrency: 2, maxQueued: 10, startWithin: 1 }, () => 0);
    const started: number[] = [];
    const gates = Array.from({ length: 5 }, () => deferred());
    const results = gates.map((g, i) => q.run(() => { started.push(i); return g.promise; }));
    const settledP = Promise.allSettled(results);
    assert.deepEqual(started, [0, 1]);
    assert.equal(q.inFlight, 2);
    assert.equal(q.queued, 3);
    gates[1]!.resolve('one');
    await flush();
    assert.deepEqual(started, [0, 1, 2]);
    gates[0]!.reject(new Error('boom'));
    await flush();
    assert.deepEqual(started, [0, 1, 2, 3], 'a failed task frees its slot too');
    gates[2]!.resolve('two'); gates[3]!.resolve('three'); gates[4]!.resolve('four');
    const settled = await settledP;
    assert.deepEqual(settled.map((s) => s.status === 'fulfilled' ? s.value : 'rejected'), ['rejected', 'one', 'two', 'three', 'four']);
    assert.equal(q.inFlight, 0);
    assert.equal(q.stats.started, 5);
  });

  it('refuses at once when the queue is full', async () => {
    const q = new WorkQueue({ concurrency: 1, maxQueued: 1, startWithin: 1 }, () => 0);
    const g = deferred();
    void q.run(() => g.promise);
    const queued = q.run(async () => 'queued');
    await assert.rejects(q.run(async () => 'shed'), (e: unknown) => e instanceof LonglinkError && e.code === 'LL_ROUTER_OVERLOADED' && !(e instanceof QueueExpiredError));
    assert.equal(q.stats.shed, 1);
    g.resolve('x');
    assert.equal(await queued, 'queued');
  });

  it('drops a waiting task once `startWithin` of its budget has passed, without running it', async () => {
    let now = 0;
    const q = new WorkQueue({ concurrency: 1, maxQueued: 10, startWithin: 0.8 }, () => now);
    const g = deferred();
    void q.run(() => g.promise);
    let ranLate = false, ranInTime = false, ranUnbounded = false;
    const late = q.run(async () => { ranLate = true; return 'late'; }, 1000);
    now = 500;
    const inTime = q.run(async () => { ranInTime = true; return 'in time'; }, 1000);
    const unbounded = q.run(async () => { ranUnbounded = true; return 'no deadline'; });
    now = 801; // late's deadline was 800; inTime's is 1300
    g.resolve('first');
    await assert.rejects(late, QueueExpiredError);
    assert.equal(await inTime, 'in time');
    assert.equal(await unbounded, 'no deadline');
    assert.equal(ranLate, false);
    assert.ok(ranInTime && ranUnbounded);
    assert.deepEqual(q.stats, { started: 3, expired: 1, shed: 0 });
  });

  it('validates its options', () => {
    assert.throws(() => new WorkQueue({ concurrency: 0, maxQueued: 1, startWithin: 1 }, () => 0), RangeError);
    assert.throws(() => new WorkQueue({ concurrency: 1, maxQueued: -1, startWithin: 1 }, () => 0), RangeError);
    assert.throws(() => new WorkQueue({ concurrency: 1, maxQueued: 1, startWithin: 0 }, () => 0), RangeError);
    assert.throws(() => new WorkQueue({ concurrency: 1.5, maxQueued: 1, startWithin: 1 }, () => 0), RangeError);
  });
});
