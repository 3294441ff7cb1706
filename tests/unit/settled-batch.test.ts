/**
 * A big batch's store answers are kept as numbers as they arrive
 * (SettledBatch), so its per-recipient objects die young instead of being
 * copied by every scavenge until the batch is routed; and the batch's work
 * is done in slices of the process's turn budget, counted here with a clock
 * that advances per look (deterministic: no timing in the assertions).
 * Big request bodies are parsed under the same budget: one per turn.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { SettledBatch } from '../../services/router/core/settled-batch.js';
import { CHECK_EVERY, bulkBudget } from '../../services/router/core/turn-budget.js';
import type { InboxEntry, Inbox } from '../../services/router/core/inbox.js';
import type { Located } from '../../services/router/core/push-store.js';
import type { PushRequest } from '../../services/router/core/router-types.js';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { setup, stopRouters } from '../helpers/router-harness.js';
import { apiHandler, type RouterApi } from '../../services/router/http-api.js';
import type { ApiRequest } from '../../services/router/http-body.js';
import { Errors } from '../../services/shared/errors.js';
import { silent } from '../helpers/log.js';

afterEach(stopRouters);

const entry: InboxEntry = { id: 'm1', ts: 1000, data: '{"x":1}' };
const offline = (seq: number, epoch?: number): Located => ({
  appended: { record: { seq, id: entry.id, ts: entry.ts, data: entry.data, ...(epoch !== undefined ? { epoch } : {}) }, duplicate: false }, entries: [],
});
const tick = (): Promise<void> => new Promise((r) => { setImmediate(r); });

describe('SettledBatch', () => {
  it('offline answers are kept as numbers and rebuilt equal; duplicates, online users and other records are kept whole', async () => {
    const b = new SettledBatch(5, () => entry);
    const dup: Located = { appended: { record: { seq: 3, id: 'first', ts: 1, data: '"old"', epoch: 7 }, duplicate: true }, entries: [] };
    const online: Located = { ...offline(4, 7), entries: [{ user: 'u', device: 'd', conn: 'c', gateway: 'A', since: 1 }] as Located['entries'] };
    const other: Located = { appended: { record: { seq: 5, id: entry.id, ts: 999, data: entry.data, epoch: 7 }, duplicate: false }, entries: [] };
    const answers = [offline(1, 7), offline(2), dup, online, other];
    answers.forEach((a, k) => b.track(k, Promise.resolve(a)));
    assert.equal(b.pending, 5);
    await b.all();
    assert.equal(b.pending, 0);
    for (let k = 0; k < 5; k++) assert.deepEqual(b.located(k), answers[k], `recipient ${k}`);
    assert.notEqual(b.located(0), answers[0], 'an offline answer is rebuilt, not held');
    for (const k of [2, 3, 4]) assert.equal(b.located(k), answers[k], `recipient ${k} is kept whole`);
    assert.equal(b.located(0).entries.length, 0);
    assert.throws(() => (b.located(0).entries as unknown[]).push(1), 'the shared empty entries cannot be added to');
  });

  it('below() waits until fewer calls are in flight; all() rejects with the first failure only once every call settled', async () => {
    const b = new SettledBatch(3, () => entry);
    const resolvers: Array<(l: Located) => void> = [];
    let rejectFirst!: (e: Error) => void;
    b.track(0, new Promise<Located>((_r, j) => { rejectFirst = j; }));
    for (const k of [1, 2]) b.track(k, new Promise<Located>((r) => { resolvers.push(r); }));
    let room = false;
    void b.below(3).then(() => { room = true; });
    await tick();
    assert.equal(room, false, '3 in flight: no room below 3');
    rejectFirst(new Error('first'));
    await tick();
    assert.equal(room, true);
    let settled: unknown;
    const all = b.all().then(() => 'ok', (e: unknown) => e);
    void all.then((v) => { settled = v; });
    resolvers[0]!(offline(1));
    await tick();
    assert.equal(settled, undefined, 'waits for the last call');
    resolvers[1]!(offline(2));
    assert.equal((await all as Error).message, 'first');
  });
});

describe('a maximum batch under a counted turn budget', () => {
  it('stores at most a few budget checks of recipients per event-loop turn, and answers every one of them', async () => {
    // Every look at the clock is 1 ms: a 5 ms slice is 5 looks, whatever the machine.
    let fake = 0;
    const restore = bulkBudget.useClock(() => fake++);
    try {
      let turn = 0, inTurn = 0, most = 0, calls = 0;
      let stop = false;
      const ticker = (): void => { if (stop) return; turn++; inTurn = 0; setImmediate(ticker); };
      setImmediate(ticker);
      const count = (i: Inbox): Inbox => {
        const w = Object.create(i) as Inbox;
        w.append = (u, e, o) => { calls++; most = Math.max(most, ++inTurn); return i.append(u, e, o); };
        return w;
      };
      const t = setup({ options: { maxBatch: 100, maxUsersPerPush: 1000 }, inbox: count });
      const reqs: PushRequest[] = Array.from({ length: 100 }, (_, i) => ({ users: Array.from({ length: 1000 }, (_u, j) => `o${(i * 13 + j) % 5000}`), data: { i } }));
      const out = await t.core.pushBatch(reqs);
      stop = true;
      assert.equal(calls, 100_000);
      assert.equal(out.reduce((a, o) => a + o.results.length, 0), 100_000);
      assert.ok(out.every((o) => o.results.every((r) => r.status === 'offline' && r.seq > 0)));
      // One slice is 5 looks, each after CHECK_EVERY recipients (plus the in-flight bound's own wait).
      assert.ok(most <= 6 * CHECK_EVERY, `${most} store calls in one turn`);
      assert.ok(turn >= 100_000 / (6 * CHECK_EVERY), `only ${turn} turns for 100,000 recipients`);
    } finally {
      bulkBudget.useClock(restore);
    }
  });
});

describe('offline notices nobody subscribes to', () => {
  it('the memory bus says whether a subject has a receiver; the router does not build a notice for none, and still counts it', async () => {
    const bus = new MemoryBus();
    assert.equal(bus.interested('a.b'), false);
    const sub = bus.subscribe('a.*', () => {});
    assert.equal(bus.interested('a.b'), true);
    sub.unsubscribe();
    assert.equal(bus.interested('a.b'), false);

    const t = setup();
    const published: string[] = [];
    const publish = t.bus.publish.bind(t.bus);
    t.bus.publish = (subject, data, headers) => { published.push(subject); publish(subject, data, headers); };
    await t.core.push({ users: ['nobody'], data: 1 });
    assert.equal(t.core.stats.offlineNotices, 1);
    assert.ok(!published.includes(t.s.offline), 'no notice published to no subscriber');
    const notices: unknown[] = [];
    t.bus.subscribe(t.s.offline, (m) => notices.push(m));
    await t.core.push({ users: ['nobody'], data: 2 });
    await t.settle();
    assert.equal(notices.length, 1, 'a subscriber gets its notice');
    assert.equal(t.core.stats.offlineNotices, 2);
  });
});

describe('big request bodies', () => {
  it('three maximum batches whose bodies complete together are parsed in three turns, not one', async () => {
    // Every look at the clock is 10 ms later (a big parse costs about that): past the 5 ms slice.
    let fake = 0;
    const restore = bulkBudget.useClock(() => (fake += 10));
    try {
      let turn = 0, stop = false;
      const ticker = (): void => { if (stop) return; turn++; setImmediate(ticker); };
      setImmediate(ticker);
      const parsedIn: number[] = [];
      const core = {
        parsePushPaced: async () => { parsedIn.push(turn); return { ok: false as const, error: Errors.API_VALIDATION, message: 'stub' }; },
      } as unknown as RouterApi;
      const h = apiHandler({ core, ready: () => true, host: '127.0.0.1', port: 0, apiKeys: ['k'], limits: { maxBodyBytes: 1 << 20 }, log: silent });
      const text = JSON.stringify({ messages: [{ users: Array.from({ length: 10_000 }, (_, i) => `u${i}`), data: 1 }] });
      assert.ok(text.length > 64 * 1024);
      let arrive!: () => void;
      const arrived = new Promise<void>((r) => { arrive = r; });
      const req = (): ApiRequest => ({
        method: 'POST', url: '/v1/push', traceCarrier: () => ({}),
        header: (n) => ({ authorization: 'Bearer k', 'content-type': 'application/json' })[n],
        body: async () => { await arrived; return { ok: true, text }; },
      });
      const statuses: number[] = [];
      const all = [0, 1, 2].map(() => h.serve(req(), async (r) => { statuses.push(r.status); }, 0));
      arrive();
      await Promise.all(all);
      stop = true;
      assert.deepEqual(statuses, [400, 400, 400]);
      assert.equal(new Set(parsedIn).size, 3, `parsed in turns ${parsedIn.join(', ')}`);
    } finally {
      bulkBudget.useClock(restore);
    }
  });
});
