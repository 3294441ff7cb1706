/**
 * A maximum-size batch (100 messages × 1,000 users) must not hold the event
 * loop (issue: a large batch froze the process): its store calls, routing
 * and answer are sliced with turns in between, all big batches drawing on
 * one time budget per turn (TurnBudget). Also: lanes taken with repeated
 * keys, and the sliced answer text equals JSON.stringify's; validation paced
 * under the budget answers exactly what validation in one go answers.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Lanes } from '../../services/router/core/lanes.js';
import { TurnBudget } from '../../services/router/core/turn-budget.js';
import { parsePushBody, parsePushBodyPaced, type Pacer } from '../../services/router/core/push-input.js';
import { batchJson, batchJsonChunks } from '../../services/router/batch-json.js';
import type { PushOutcome, PushRequest } from '../../services/router/core/router-types.js';
import { setup, stopRouters } from '../helpers/router-harness.js';

afterEach(stopRouters);

const maxBatch = (k: number): PushRequest[] =>
  Array.from({ length: 100 }, (_, i) => ({ users: Array.from({ length: 1000 }, (_u, j) => `o${((k * 7 + i * 13 + j) % 5000).toString(36)}`), data: { k, i } }));

describe('big batches', () => {
  it('a maximum batch yields the event loop many times while it is stored, routed and answered', async () => {
    const t = setup({ options: { maxBatch: 100, maxUsersPerPush: 1000 } });
    let turns = 0;
    let stop = false;
    const tick = (): void => { if (!stop) { turns++; setImmediate(tick); } };
    setImmediate(tick);
    const out = await t.core.pushBatch(maxBatch(1));
    const routedTurns = turns;
    let chunks = 0;
    for await (const _ of batchJsonChunks(out)) chunks++;
    stop = true;
    assert.equal(out.length, 100);
    assert.equal(out.reduce((a, o) => a + o.results.length, 0), 100_000);
    assert.ok(out.every((o) => o.results.every((r) => r.status === 'offline')));
    // 100,000 recipients validated, stored and routed a turn budget (SLICE_MS) at a time: far more than one turn's worth of work.
    assert.ok(routedTurns >= 20, `only ${routedTurns} other turns ran while the batch was stored and routed`);
    assert.ok(chunks >= 2, `the answer was serialised in ${chunks} pieces`);
  });

  it('the turn budget: the first call of a turn starts the clock, every caller yields once it ran out, a later turn starts afresh', async () => {
    let now = 1000;
    const b = new TurnBudget(5, () => now);
    assert.equal(b.spent(), false, 'the first call of a turn is never refused (progress)');
    now += 4;
    assert.equal(b.spent(), false);
    now += 1;
    assert.equal(b.spent(), true, 'spent after 5 ms');
    assert.equal(b.spent(), true, 'for every caller: the budget is the turn\'s, not a batch\'s');
    let resumed = 0;
    const pacing = [b.pace().then(() => { resumed++; }), b.pace().then(() => { resumed++; })];
    await Promise.resolve();
    assert.equal(resumed, 0, 'pace() waits for a later turn');
    await Promise.all(pacing);
    assert.equal(resumed, 2);
    assert.equal(b.spent(), false, 'a later turn starts its own clock');
    now += 5;
    assert.equal(b.spent(), true);
    await b.next();
    now += 100;
    assert.equal(b.spent(), false, 'time spent outside bulk work does not count');
  });

  it('three big batches at once all complete, the oldest first', async () => {
    const t = setup({ options: { maxBatch: 100, maxUsersPerPush: 1000 } });
    const done: number[] = [];
    const all = [0, 1, 2].map((k) => t.core.pushBatch(maxBatch(k).slice(0, 30)).then((out) => { done.push(k); return out; }));
    const outs = await Promise.all(all);
    assert.ok(outs.every((o) => o.reduce((a, m) => a + m.results.length, 0) === 30_000));
    assert.equal(done[0], 0, `completed in order ${done.join(', ')}`);
    // Every user's seqs are distinct across the three batches (lanes keep per-user order).
    const seqs = new Map<string, Set<number>>();
    for (const o of outs) for (const m of o) for (const r of m.results) {
      const s = seqs.get(r.user) ?? new Set<number>();
      assert.ok(!s.has(r.seq), `${r.user} got seq ${r.seq} twice`);
      s.add(r.seq);
      seqs.set(r.user, s);
    }
  });

  it('the sliced answer is exactly JSON.stringify({ messages })', async () => {
    const messages: PushOutcome[] = Array.from({ length: 7 }, (_, i) => ({
      id: `m${i}"\u2028`, results: Array.from({ length: 900 }, (_u, j) => ({ user: `u${j}é`, seq: j + 1, id: `m${i}`, status: 'sent' as const, connections: j % 3 })),
    }));
    assert.equal(await batchJson(messages), JSON.stringify({ messages }));
    assert.equal(await batchJson([]), JSON.stringify({ messages: [] }));
  });

  it('lanes: a repeated key does not make a lease wait for itself; later leases wait for earlier ones', async () => {
    const lanes = new Lanes();
    const a = lanes.acquire(['u1', 'u2', 'u1', 'u2', 'u3']);
    assert.equal(a.issuable, true, 'nothing before it');
    await a.ready;
    const b = lanes.acquire(['u3', 'u3', 'u9']);
    assert.equal(b.issuable, false);
    let bReady = false;
    void b.ready.then(() => { bReady = true; });
    await new Promise((r) => setImmediate(r));
    assert.equal(bReady, false, 'b waits for a');
    a.release();
    await b.ready;
    b.release();
    assert.equal(lanes.size, 0, 'every lane released');
  });
});

describe('push body validation, at once and paced', () => {
  const limits = { maxUsersPerPush: 1000, maxBatch: 100, maxPushBytes: 4096, ackReceipts: false };
  /** A pacer whose budget is always spent: paced validation yields after every message. */
  const everyMessage = (): Pacer & { paces: number } => {
    const p = { paces: 0, spent: () => true, pace: async () => { p.paces++; await new Promise<void>((r) => { setImmediate(r); }); } };
    return p;
  };
  const bodies: Array<[string, unknown]> = [
    ['a maximum batch', { messages: maxBatch(3).map((m) => ({ users: m.users, data: m.data })) }],
    ['a single push', { users: ['a', 'b', 'a'], data: { x: 1 }, id: 'm1' }],
    ['not an object', [1, 2]],
    ['an empty batch', { messages: [] }],
    ['a batch with more than five issues', { messages: [{ user: '', data: 1 }, { users: ['ok', 7, 8], data: 1 }, { user: 'u' }, { user: 'u', data: 1, await: 'soon' }, { user: 'u', data: 1, x: 1 }, { user: 'u', data: 1, await_ms: 0 }] }],
    ['a batch whose last message is too large', { messages: [{ user: 'u', data: 1 }, { user: 'u', data: 'x'.repeat(5000) }] }],
  ];
  for (const [what, body] of bodies) {
    it(`${what}: the paced answer equals the one-go answer`, async () => {
      const pacer = everyMessage();
      const once = parsePushBody(body, limits);
      const paced = await parsePushBodyPaced(body, limits, pacer);
      assert.deepEqual(paced, once);
      const n = isBatch(body) ? body.messages.length : 0;
      // Paced: one pause per message checked (the loop stops early once five issues are found).
      assert.ok(pacer.paces <= n && (n === 0 || pacer.paces >= 1), `${pacer.paces} pauses for ${n} messages`);
    });
  }
  it('user ids: a bad id is named by its index; a maximum batch of good ids passes with users deduplicated', () => {
    const bad = parsePushBody({ messages: [{ users: ['a', 'b', '', 'c'], data: 1 }] }, limits);
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.message, /^messages\[0\]\.users\[2\]: .*\(user id\)$/);
    const good = parsePushBody({ messages: [{ users: ['a', 'b', 'a'], data: 1 }] }, limits);
    assert.ok(good.ok && good.value.kind === 'batch');
    assert.deepEqual(good.value.pushes[0]!.users, ['a', 'b']);
  });
});

const isBatch = (b: unknown): b is { messages: unknown[] } => typeof b === 'object' && b !== null && Array.isArray((b as { messages?: unknown }).messages);
