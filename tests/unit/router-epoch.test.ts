/**
 * Sequence epochs on the router (docs/protocol.md §7): when the inbox store
 * loses a user's sequence (here: the memory inbox is replaced, as a process
 * restart or a Redis wipe would), session starts, fetches, catch-ups and acks
 * that name the old epoch are served from the new sequence's start, report
 * what was lost, and never trim the new sequence's pushes.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMsg } from '../../services/shared/bus/bus.js';
import type { Inbox } from '../../services/router/core/inbox.js';
import { MemoryInbox } from '../../services/router/stores/memory/inbox.js';
import { fetchAfter, resume, setup, stopRouters, type Setup } from '../helpers/router-harness.js';

afterEach(stopRouters);

/** A router whose inbox can lose everything: `wipe()` swaps in an empty store. */
function wipeable(): Setup & { wipe(): void; epoch(user: string): Promise<number> } {
  let cur: Inbox | undefined;
  const inbox = new Proxy({} as Inbox, {
    get: (_t, k: keyof Inbox) => {
      const v = cur![k];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(cur) : v;
    },
  });
  const t = setup({ inbox: (base) => { cur = base; return inbox; } });
  return {
    ...t,
    wipe: () => { cur = new MemoryInbox({ clock: t.clock, maxLen: 100 }); },
    epoch: async (user) => (await t.inbox.position(user)).epoch,
  };
}

describe('RouterCore and sequence epochs', () => {
  it('a resume naming a lost epoch gets the new sequence from its start and hello\'s lost range', async () => {
    const t = wipeable();
    const first = await resume(t, { user: 'u1', device: 'phone' });
    for (let i = 1; i <= 3; i++) await t.core.push({ users: ['u1'], data: `old${i}` });
    const e1 = await t.epoch('u1');
    const same = await resume(t, { user: 'u1', device: 'phone', session: first.session, lastSeq: 3, lastEpoch: e1 });
    assert.deepEqual([same.resumed, same.epoch, same.latestSeq, same.pushes.length, same.lost], [true, e1, 3, 0, undefined], 'same epoch: an ordinary resume');

    t.wipe();
    for (let i = 1; i <= 2; i++) await t.core.push({ users: ['u1'], data: `new${i}` });
    const e2 = await t.epoch('u1');
    assert.ok(e2 > e1);
    const r = await resume(t, { user: 'u1', device: 'phone', session: first.session, lastSeq: 3, lastEpoch: e1 });
    assert.equal(r.resumed, true);
    assert.deepEqual(r.lost, { epoch: e1, afterSeq: 3 }, 'old pushes after seq 3 could not be recovered');
    assert.deepEqual([r.epoch, r.latestSeq], [e2, 2]);
    assert.deepEqual(r.pushes.map((p) => [p.seq, p.data, p.epoch]), [[1, '"new1"', e2], [2, '"new2"', e2]], 'seqs 1-2 are new although the client had 3');
    assert.equal(t.core.stats.epochResets, 1);

    const noEpoch = await resume(t, { user: 'u1', device: 'phone', session: first.session, lastSeq: 1 });
    assert.deepEqual([noEpoch.lost, noEpoch.pushes.map((p) => p.seq)], [undefined, [2]], 'a client that names no epoch resumes as before');
  });

  it('fetches and catch-ups for a connection on the old epoch start from the new one\'s beginning', async () => {
    const t = wipeable();
    const a = t.gw('A');
    a.beacon('boot-a', 0);
    for (let i = 1; i <= 5; i++) await t.core.push({ users: ['u2'], data: i });
    const e1 = await t.epoch('u2');
    t.wipe();
    await t.core.push({ users: ['u2'], data: 'n1' });
    await t.core.push({ users: ['u2'], data: 'n2' });
    const e2 = await t.epoch('u2');

    const page = await fetchAfter(t, { user: 'u2', device: 'phone', afterSeq: 5, epoch: e1 });
    assert.deepEqual([page.epoch, page.latestSeq, page.pushes.map((p) => p.seq)], [e2, 2, [1, 2]]);
    const current = await fetchAfter(t, { user: 'u2', device: 'phone', afterSeq: 1, epoch: e2 });
    assert.deepEqual(current.pushes.map((p) => p.seq), [2], 'the current epoch: after the seq as usual');

    // A re-announced connection (say after the store came back empty) names its watermark 5 of e1.
    t.bus.publish(t.s.presence, encodeMsg({ type: 'online', user: 'u2', device: 'phone', conn: 'c1', session: 's', gateway: 'A', at: 1, seq: 5, epoch: e1 }));
    await t.settle();
    assert.deepEqual(a.messages.flat().flatMap((d) => d.pushes.map((p) => [p.seq, p.epoch])), [[1, e2], [2, e2]], 'caught up with the whole new sequence');
    assert.equal(t.core.stats.catchUps, 1);
  });

  it('an ack naming the old epoch does not trim the new sequence', async () => {
    const t = wipeable();
    for (let i = 1; i <= 4; i++) await t.core.push({ users: ['u3'], data: i });
    const e1 = await t.epoch('u3');
    t.wipe();
    for (let i = 1; i <= 3; i++) await t.core.push({ users: ['u3'], data: i });
    const e2 = await t.epoch('u3');
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u3', 'phone', 4, e1]] }));
    await t.settle();
    assert.equal(await t.inbox.acked('u3', 'phone'), 0);
    assert.deepEqual((await t.inbox.since('u3', 0, 10)).map((p) => p.seq), [1, 2, 3]);
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u3', 'phone', 2, e2]] }));
    await t.settle();
    assert.deepEqual((await t.inbox.since('u3', 0, 10)).map((p) => p.seq), [3], 'an ack of the current epoch trims');
  });
});
