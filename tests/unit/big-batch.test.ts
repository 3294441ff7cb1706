/**
 * A maximum-size batch (100 messages × 1,000 users) must not hold the event
 * loop (issue: a large batch froze the process): its store calls, routing
 * and answer are sliced with turns in between. Also: lanes taken with
 * repeated keys, and the sliced answer text equals JSON.stringify's.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Lanes } from '../../services/router/core/lanes.js';
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
    // 100,000 recipients: store calls in slices of 512 (~196 turns) and routing in slices of 1,024 (~98 more).
    assert.ok(routedTurns >= 260, `only ${routedTurns} other turns ran while the batch was stored and routed`);
    assert.ok(chunks >= 40, `the answer was serialised in ${chunks} pieces`);
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
