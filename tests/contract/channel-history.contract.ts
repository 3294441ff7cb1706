/**
 * Behaviours every ChannelHistory implementation must have (memory and
 * Redis run the same suite). Time moves through the harness: a ManualClock
 * for memory, real sleeps for Redis (hence the short TTLs). Channel names are
 * unique per test so a shared server needs no flushing.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { HISTORY_ENTRY_BYTES, type ChannelHistory, type HistoryLimits } from '../../services/router/core/channel-history.js';
import { isEpoch } from '../../protocol/index.js';

export interface HistoryHarness {
  history: ChannelHistory;
  /** Moves the store's notion of time forward by at least `ms`. */
  advance(ms: number): Promise<void>;
  /** Loses everything the store holds (a flushed or restarted store without persistence). */
  lose(): Promise<void>;
}

export type HistoryFactory = (limits: Partial<HistoryLimits>) => Promise<HistoryHarness>;

const ch = (name: string): string => `${name}:${randomUUID().slice(0, 8)}`;
const entry = (id: string) => ({ id, ts: 1_700_000_000_000, data: JSON.stringify({ id }) });

export function channelHistoryContract(name: string, factory: HistoryFactory): void {
  describe(`ChannelHistory contract: ${name}`, () => {
    const opened: ChannelHistory[] = [];
    const make = async (limits: Partial<HistoryLimits> = {}): Promise<HistoryHarness> => {
      const h = await factory(limits);
      opened.push(h.history);
      return h;
    };
    after(async () => { for (const h of opened) await h.close(); });

    it('a new channel has an epoch and offset 0, the same on every look', async () => {
      const { history } = await make();
      const c = ch('room');
      const a = await history.since(c, undefined);
      assert.ok(isEpoch(a.epoch), `epoch ${a.epoch}`);
      assert.deepEqual(a, { epoch: a.epoch, offset: 0, pubs: [], covered: true });
      assert.deepEqual(await history.since(c, undefined), a);
      assert.deepEqual(await history.since(c, 0), a, 'offset 0 of an empty channel is its head');
    });

    it('append gives consecutive offsets in one epoch; since returns what came after, in order', async () => {
      const { history } = await make();
      const c = ch('room');
      const head = await history.since(c, undefined);
      const r = [await history.append(c, entry('a')), await history.append(c, entry('b')), await history.append(c, entry('c'))];
      assert.deepEqual(r, [1, 2, 3].map((offset) => ({ offset, epoch: head.epoch })));
      const all = await history.since(c, 0);
      assert.deepEqual(all, { epoch: head.epoch, offset: 3, covered: true, pubs: ['a', 'b', 'c'].map((id, i) => ({ offset: i + 1, ...entry(id) })) });
      assert.deepEqual((await history.since(c, 2)).pubs.map((p) => p.id), ['c']);
      assert.deepEqual(await history.since(c, 3), { epoch: head.epoch, offset: 3, pubs: [], covered: true });
      assert.deepEqual(await history.since(c, 9), { epoch: head.epoch, offset: 3, pubs: [], covered: false }, 'past the head: another epoch\'s numbering');
    });

    it('channels are independent', async () => {
      const { history } = await make();
      const [a, b] = [ch('a'), ch('b')];
      await history.append(a, entry('1'));
      await history.append(a, entry('2'));
      assert.equal((await history.append(b, entry('x'))).offset, 1);
      assert.notEqual((await history.since(a, undefined)).epoch, (await history.since(b, undefined)).epoch);
    });

    it('keeps at most maxLen messages: an offset before the window is not covered', async () => {
      const { history } = await make({ maxLen: 3 });
      const c = ch('room');
      for (const id of ['1', '2', '3', '4', '5']) await history.append(c, entry(id));
      const w = await history.since(c, 1);
      assert.equal(w.covered, false);
      assert.deepEqual(w.pubs, [], 'nothing partial');
      assert.deepEqual((await history.since(c, 2)).pubs.map((p) => p.offset), [3, 4, 5]);
    });

    it('since with maxBytes: all the messages when their data fit, not covered (with the prefix that fits) when they do not', async () => {
      const { history } = await make();
      const c = ch('room');
      const big = (id: string) => ({ id, ts: 1_700_000_000_000, data: JSON.stringify('é'.repeat(500)) }); // 1,002 bytes, 502 characters
      for (const id of ['1', '2', '3', '4', '5']) await history.append(c, big(id));
      const head = await history.since(c, undefined);
      const E = 1002 + HISTORY_ENTRY_BYTES; // each message: its data's UTF-8 bytes and the entry's envelope
      assert.deepEqual((await history.since(c, 0, 5 * E)).pubs.map((p) => p.id), ['1', '2', '3', '4', '5'], 'exactly at the bound: covered');
      const over = await history.since(c, 0, 5 * E - 1);
      assert.deepEqual([over.covered, over.pubs.map((p) => p.id)], [false, ['1', '2', '3', '4']], 'one byte over (UTF-8 bytes, not characters): not covered, the four that fit');
      assert.deepEqual((await history.since(c, 0, E - 1)).pubs, [], 'not even the first fits');
      assert.deepEqual((await history.since(c, 3, 2 * E)).pubs.map((p) => p.id), ['4', '5'], 'the bound counts only what comes after the offset');
      assert.deepEqual(await history.since(c, 5, 1), { epoch: head.epoch, offset: 5, pubs: [], covered: true }, 'at the head: nothing to send, covered');
      assert.equal((await history.since(c, 0)).pubs.length, 5, 'no bound without maxBytes');
    });

    it('since with maxBytes over a window of many messages: correct across the store\'s read chunks', async () => {
      const { history } = await make({ maxLen: 40 });
      const c = ch('room');
      for (let i = 1; i <= 40; i++) await history.append(c, entry(`m${i}`));
      const size = Buffer.byteLength(entry('m10').data) + HISTORY_ENTRY_BYTES; // m10..m40: equal sizes
      const w = await history.since(c, 9, 31 * size);
      assert.equal(w.covered, true);
      assert.deepEqual(w.pubs.map((p) => p.offset), Array.from({ length: 31 }, (_, i) => i + 10));
      const short = await history.since(c, 9, 31 * size - 1);
      assert.equal(short.covered, false);
      assert.deepEqual(short.pubs.map((p) => p.offset), Array.from({ length: 30 }, (_, i) => i + 10), 'the prefix that fits, across chunks');
    });

    it('messages leave the window after ttlMs; offsets and epoch stay', async () => {
      const { history, advance } = await make({ ttlMs: 300 });
      const c = ch('room');
      const { epoch } = await history.append(c, entry('old'));
      await advance(350);
      assert.deepEqual(await history.since(c, 0), { epoch, offset: 1, pubs: [], covered: false });
      assert.deepEqual(await history.append(c, entry('new')), { offset: 2, epoch });
      assert.deepEqual((await history.since(c, 1)).pubs.map((p) => p.id), ['new']);
    });

    it('an idle channel loses its epoch after epochTtlMs: a new epoch, offsets from 1', async () => {
      const { history, advance } = await make({ ttlMs: 200, epochTtlMs: 300 });
      const c = ch('room');
      const first = await history.append(c, entry('a'));
      await advance(350);
      const now = await history.since(c, undefined);
      assert.notEqual(now.epoch, first.epoch);
      assert.equal(now.offset, 0);
      assert.deepEqual(await history.append(c, entry('b')), { offset: 1, epoch: now.epoch });
    });

    it('a store that lost its data gives every channel a new epoch', async () => {
      const { history, lose } = await make();
      const c = ch('room');
      const before = await history.append(c, entry('a'));
      await history.append(c, entry('b'));
      await lose();
      const after = await history.since(c, 2);
      assert.notEqual(after.epoch, before.epoch);
      assert.deepEqual({ offset: after.offset, covered: after.covered }, { offset: 0, covered: false });
      assert.deepEqual(await history.append(c, entry('c')), { offset: 1, epoch: after.epoch });
    });

    it('appends not awaited get distinct offsets in call order', async () => {
      const { history } = await make();
      const c = ch('room');
      const r = await Promise.all(Array.from({ length: 20 }, (_, i) => history.append(c, entry(`m${i}`))));
      assert.deepEqual(r.map((x) => x.offset), Array.from({ length: 20 }, (_, i) => i + 1));
      assert.deepEqual((await history.since(c, 0)).pubs.map((p) => p.id), r.map((_, i) => `m${i}`));
    });
  });
}
