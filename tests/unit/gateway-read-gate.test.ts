/**
 * The order of reads waiting in the channel read gate (read-gate.ts): over
 * the cap, waiting reads are served round-robin by user, oldest first within
 * a user. One user's burst of reads (many connections recovering many
 * channels) used to sit ahead of every later read in one FIFO line: another
 * user's single read started only after the whole burst had. The cap, and
 * the release of waiters to share a read that starts, are unchanged.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReadGate } from '../../services/gateway/core/read-gate.js';

/** A gate over reads the test ends by hand; `started` lists the waiters' names in the order they went. */
function rig(cap: number) {
  const counts = { readsInFlight: 0, waiting: 0 };
  const gate = new ReadGate(cap, counts);
  // The third argument is the waiter's user (the previous gate took two and served everyone FIFO).
  const wait = gate.wait.bind(gate) as (go: () => void, key?: string, user?: string) => void;
  const ends: Array<() => void> = [];
  const started: string[] = [];
  /** Starts a read counted by the gate; it ends when the test ends it. */
  const read = (name: string): void => {
    started.push(name);
    void gate.track(new Promise<void>((resolve) => { ends.push(resolve); }));
  };
  /** A read that waits for its turn (or starts now when there is room), as the pager's callers do. */
  const ask = (name: string, user: string, key?: string): (() => void) => {
    const go = (): void => read(name);
    if (gate.full) wait(go, key, user); else go();
    return go;
  };
  const flush = async (): Promise<void> => { for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r)); };
  /** Ends the oldest read in flight. */
  const endOne = async (): Promise<void> => { ends.shift()!(); await flush(); };
  return { gate, counts, wait, ask, read, started, endOne, flush, inFlight: () => ends.length };
}

describe('read gate: waiting reads take turns by user', () => {
  it('a user\'s single read starts within the next cap-many read ends, not after another user\'s 200', async () => {
    const cap = 4;
    const r = rig(cap);
    for (let i = 0; i < 200; i++) r.ask(`a${i}`, 'A');
    assert.equal(r.counts.readsInFlight, cap);
    assert.equal(r.counts.waiting, 200 - cap);
    r.ask('b0', 'B');
    assert.equal(r.counts.waiting, 200 - cap + 1);
    let ends = 0;
    while (!r.started.includes('b0')) {
      assert.ok(ends < cap, `b0 still waiting after ${ends} read ends (previous code: after A's ${200 - cap} waiting reads)`);
      await r.endOne();
      ends++;
      assert.ok(r.inFlight() <= cap, 'never over the cap');
    }
    assert.ok(ends <= 2, `b0 started at the 2nd read end at the latest (A then B), after ${ends}`);
    // A's reads still all go, in the order A asked for them.
    while (r.counts.waiting > 0 || r.inFlight() > 0) { await r.endOne(); assert.ok(r.inFlight() <= cap); }
    const a = r.started.filter((n) => n.startsWith('a'));
    assert.deepEqual(a, Array.from({ length: 200 }, (_, i) => `a${i}`), 'oldest first within a user');
    assert.equal(r.counts.readsInFlight, 0);
    assert.equal(r.counts.waiting, 0);
  });

  it('users waiting take one turn each, in the order they first waited; each user\'s reads oldest first', async () => {
    const r = rig(1);
    r.ask('hold', 'X');
    for (let i = 0; i < 3; i++) r.ask(`a${i}`, 'A');
    for (let i = 0; i < 2; i++) r.ask(`b${i}`, 'B');
    r.ask('c0', 'C');
    r.ask('a3', 'A');
    while (r.counts.waiting > 0 || r.inFlight() > 0) await r.endOne();
    assert.deepEqual(r.started, ['hold', 'a0', 'b0', 'c0', 'a1', 'b1', 'a2', 'a3'], 'previous code: a0 a1 a2 b0 b1 c0 a3');
  });

  it('a user that runs out of waiters gives up its place and waits at the end of the turn order when it asks again', async () => {
    const r = rig(1);
    r.ask('hold', 'X');
    r.ask('a0', 'A');
    r.ask('b0', 'B');
    r.ask('b1', 'B');
    await r.endOne(); // a0 goes: A has no more waiting
    r.ask('a1', 'A'); // behind B, which waited before it
    while (r.counts.waiting > 0 || r.inFlight() > 0) await r.endOne();
    assert.deepEqual(r.started, ['hold', 'a0', 'b0', 'a1', 'b1']);
  });

  it('waiters for a read that starts go at once, out of turn, to share it; a cancelled waiter never runs', async () => {
    const r = rig(1);
    r.ask('hold', 'X');
    for (let i = 0; i < 5; i++) r.ask(`a${i}`, 'A');
    const shared: string[] = [];
    r.wait(() => shared.push('b-shares'), 'ch:7', 'B');
    r.wait(() => shared.push('a-shares'), 'ch:7', 'A');
    const gone = r.ask('c0', 'C');
    r.gate.cancel(gone);
    assert.equal(r.counts.waiting, 7);
    r.gate.release('ch:7'); // the read of ch after 7 started (elsewhere): its waiters share it now
    assert.deepEqual(shared, ['b-shares', 'a-shares']);
    assert.equal(r.counts.waiting, 5);
    assert.equal(r.counts.readsInFlight, 1, 'sharing waiters take no room');
    while (r.counts.waiting > 0 || r.inFlight() > 0) await r.endOne();
    assert.ok(!r.started.includes('c0'), 'cancelled');
    assert.deepEqual(r.started, ['hold', 'a0', 'a1', 'a2', 'a3', 'a4']);
  });

  it('a waiter of a released read that an earlier waiter of the same read cancelled does not run', () => {
    const r = rig(1);
    r.ask('hold', 'X');
    const ran: string[] = [];
    const second = (): void => { ran.push('second'); };
    r.wait(() => { ran.push('first'); r.gate.cancel(second); }, 'ch:3', 'A');
    r.wait(second, 'ch:3', 'B');
    r.gate.release('ch:3');
    assert.deepEqual(ran, ['first']);
    assert.equal(r.counts.waiting, 0);
  });

  it('a waiter whose turn starts no read leaves the room to the next in turn', async () => {
    const r = rig(1);
    r.ask('hold', 'X');
    const order: string[] = [];
    r.wait(() => order.push('a0 needs none'), undefined, 'A');
    r.wait(() => { order.push('b0'); r.read('b0'); }, undefined, 'B');
    r.wait(() => { order.push('a1'); r.read('a1'); }, undefined, 'A');
    await r.endOne();
    assert.deepEqual(order, ['a0 needs none', 'b0'], 'one read end: a0 (no read), then b0 in the same turn');
    assert.equal(r.counts.readsInFlight, 1);
    await r.endOne();
    assert.deepEqual(order, ['a0 needs none', 'b0', 'a1']);
  });
});
