/**
 * The bounded memories behind the cluster share (share-views.ts): the
 * charge ids already released, and other routers' unconfirmed turns.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OtherRouters, ReleasedCharges } from '../../services/router/webhooks/share-views.js';

describe('ReleasedCharges', () => {
  it('an id repeats for as long as its block is touched within keepMs, per origin; full blocks keep no bits; bounded', () => {
    let now = 0;
    const r = new ReleasedCharges(1000, 3, () => now);
    assert.equal(r.repeat('a', 7), false);
    assert.equal(r.repeat('a', 7), true);
    assert.equal(r.repeat('b', 7), false, 'ids are per origin');
    now = 900;
    assert.equal(r.repeat('a', 8), false); // touches a's block
    now = 1800; // a's block touched 900 ms ago: kept; b's untouched for 1800 ms: dropped at the sweep
    assert.equal(r.repeat('a', 7), true, 'still remembered: its block was touched within keepMs');
    assert.equal(r.repeat('b', 7), false, 'b\'s block forgotten: read as never released (applied again)');
    now = 5000;
    assert.equal(r.repeat('a', 7), false, 'forgotten once untouched for keepMs');
    for (let i = 0; i < 4096; i++) r.repeat('c', 4096 + i);
    assert.equal(r.repeat('c', 4096 + 17), true, 'a full block still answers');
    assert.equal((r as unknown as { by: Map<string, Map<number, { bits: unknown }>> }).by.get('c')!.get(1)!.bits, undefined, 'its bits dropped');
    for (let i = 0; i < 10; i++) r.repeat('d', i * 4096);
    assert.ok(r.size <= 3, `bounded (${r.size})`);
    assert.equal(r.repeat('d', 9 * 4096), true, 'the newest are kept');
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
