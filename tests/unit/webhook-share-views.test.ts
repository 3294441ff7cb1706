/**
 * The bounded memories behind the cluster share (share-views.ts): the job
 * places already released, and other routers' unconfirmed turns.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OtherRouters, RecentIds } from '../../services/router/webhooks/share-views.js';

describe('RecentIds', () => {
  it('a place repeats within the window, is forgotten after two, and memory stays under twice the cap', () => {
    let now = 0;
    const r = new RecentIds(1000, 3, () => now);
    assert.equal(r.repeat('7.0'), false);
    assert.equal(r.repeat('7.0'), true);
    now = 1500; // rotated: still remembered (previous half)
    assert.equal(r.repeat('7.0'), true);
    now = 4000; // two windows idle: forgotten
    assert.equal(r.repeat('7.0'), false);
    for (let i = 0; i < 100; i++) r.repeat(`9.${i}`);
    assert.ok(r.size <= 6, `bounded (${r.size})`);
    assert.equal(r.repeat('9.99'), true, 'the newest are kept');
  });
});

describe('OtherRouters', () => {
  it('a turn never confirmed is released after the window; a confirmed one and an earlier release\'s charge stand', () => {
    let now = 0;
    const o = new OtherRouters(3_600_000, 1000, () => now);
    o.charge('a', 'k', 10, 1);
    o.charge('a', 'k', 10, 2);
    o.charge('b', 'k', 10, 1);
    o.charge('old', 'k', 10, undefined);
    o.confirm('a', 1);
    assert.deepEqual(o.of('k'), { jobs: 4, bytes: 40 });
    now = 999;
    assert.equal(o.of('k').jobs, 4);
    now = 1001;
    assert.deepEqual(o.of('k'), { jobs: 2, bytes: 20 }, 'a\'s turn 2 and b\'s turn 1 released');
    assert.equal(o.unconfirmed, 2);
    o.confirm('a', 2); // late: nothing left to confirm
    o.release('a', 'k', 10);
    assert.deepEqual(o.of('k'), { jobs: 1, bytes: 10 });
  });
});
