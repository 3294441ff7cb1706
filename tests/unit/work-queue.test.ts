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
    const q = new WorkQueue({ concurrency: 2, maxQueued: 10 }, () => 0);
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
    const q = new WorkQueue({ concurrency: 1, maxQueued: 1 }, () => 0);
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
    // With a retry hint: the requester (a gateway) usually still waits and is told when to come back.
    await assert.rejects(late, (e: unknown) => e instanceof QueueExpiredError && e.code === 'LL_ROUTER_OVERLOADED' && (e.retryAfterMs ?? 0) >= 250);
    assert.equal(await inTime, 'in time');
    assert.equal(await unbounded, 'no deadline');
    assert.equal(ranLate, false);
    assert.ok(ranInTime && ranUnbounded);
    assert.deepEqual(q.stats, { started: 3, expired: 1, shed: 0, agedOut: 0 });
  });

  it('without a budget a task has no start deadline, and without `startWithin` only the service-time rule bounds the wait (presence events)', async () => {
    let now = 0;
    const q = new WorkQueue({ concurrency: 1, maxQueued: 10 }, () => now);
    const g = deferred();
    void q.run(() => g.promise);
    let ranUnbounded = false, ranBudgeted = false;
    const unbounded = q.run(async () => { ranUnbounded = true; return 'no deadline'; });
    // Service time still 0: deadline max(1000 / 4, 1000 - 0) = 1000 ms (with startWithin 0.8 it would be 800).
    const budgeted = q.run(async () => { ranBudgeted = true; return 'in time'; }, 1000);
    now = 900;
    g.resolve('first');
    assert.equal(await unbounded, 'no deadline');
    assert.equal(await budgeted, 'in time');
    assert.ok(ranUnbounded && ranBudgeted);
    // An hour in the queue: a task without a budget still runs.
    const h = deferred();
    void q.run(() => h.promise);
    const late = q.run(async () => 'an hour later');
    now += 3_600_000;
    h.resolve('x');
    assert.equal(await late, 'an hour later');
    assert.equal(q.stats.expired, 0);
  });

  it('validates its options', () => {
    assert.doesNotThrow(() => new WorkQueue({ concurrency: 1, maxQueued: 0 }, () => 0));
    assert.throws(() => new WorkQueue({ concurrency: 1, maxQueued: 1, startWithin: 1.5 }, () => 0), RangeError);
    assert.throws(() => new WorkQueue({ concurrency: 0, maxQueued: 1, startWithin: 1 }, () => 0), RangeError);
    assert.throws(() => new WorkQueue({ concurrency: 1, maxQueued: -1, startWithin: 1 }, () => 0), RangeError);
    assert.throws(() => new WorkQueue({ concurrency: 1, maxQueued: 1, startWithin: 0 }, () => 0), RangeError);
    assert.throws(() => new WorkQueue({ concurrency: 1.5, maxQueued: 1, startWithin: 1 }, () => 0), RangeError);
  });
  it('sheds early: a task that could not start within its budget (measured service time) is refused at once with a retry hint', async () => {
    let now = 0;
    const q = new WorkQueue({ concurrency: 2, maxQueued: 1000, startWithin: 0.8 }, () => now);
    // Measure: two tasks of 100 ms each.
    const warm = [deferred(), deferred()];
    const warmRuns = warm.map((g) => q.run(() => g.promise, 1000));
    now = 100;
    warm.forEach((g) => g.resolve('w'));
    await Promise.all(warmRuns);
    assert.equal(q.serviceMs, 100);
    // Fill both slots, then queue: each queued task adds 100 / 2 = 50 ms of expected wait.
    const busy = [deferred(), deferred()];
    busy.forEach((g) => void q.run(() => g.promise, 1000));
    const ran: number[] = [];
    const accepted: Array<Promise<unknown>> = [];
    let refused: LonglinkError | undefined;
    for (let i = 0; i < 40 && refused === undefined; i++) {
      const p = q.run(async () => { ran.push(i); return i; }, 1000);
      // Budget 1000 ms, service 100 ms: a task must start within 1000 - 2 x 100 = 800 ms: (ahead + 1) x 50 <= 800.
      if (q.queued > accepted.length) accepted.push(p);
      else refused = await p.then(() => undefined, (e: unknown) => e as LonglinkError);
    }
    assert.ok(refused instanceof LonglinkError && refused.code === 'LL_ROUTER_OVERLOADED', 'refused once the wait passes the deadline');
    assert.equal(accepted.length, 16, 'the tasks that can start in time are queued');
    assert.equal(refused.retryAfterMs, 850, 'the hint is the expected wait');
    assert.equal(q.stats.shed, 1);
    assert.equal(q.stats.expired, 0, 'nothing queued only to be dropped later');
    busy.forEach((g) => g.resolve('b'));
    await Promise.all(accepted);
    assert.equal(ran.length, 16);
  });

  it('the start deadline follows the service time: a slow store leaves less of the budget for waiting', async () => {
    let now = 0;
    const q = new WorkQueue({ concurrency: 2, maxQueued: 1000, startWithin: 0.8 }, () => now);
    const g = deferred();
    const first = q.run(() => g.promise, 1000);
    now = 400;
    g.resolve('slow');
    await first;
    assert.equal(q.serviceMs, 400);
    const hold = [deferred(), deferred()];
    hold.forEach((h) => void q.run(() => h.promise, 1000));
    // Expected wait 400 / 2 = 200 ms: queued. Deadline: max(1000 / 4, 1000 - 2 x 400) = 250 ms after arrival (not 800).
    let ran = false;
    const waiting = q.run(async () => { ran = true; return 'x'; }, 1000);
    assert.equal(q.queued, 1);
    now = 651;
    hold[0]!.resolve('done');
    await assert.rejects(waiting, QueueExpiredError);
    assert.equal(ran, false);
  });
});
