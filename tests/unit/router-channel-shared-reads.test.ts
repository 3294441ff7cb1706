/**
 * The router's channel history reads (services/router/core/channels.ts,
 * read-coalescer.ts): concurrent requests with the same channel, offset and
 * byte bound share one store read; different arguments never share; a failed
 * read fails every waiter; nothing is kept once the read settles; the map of
 * reads in flight is bounded.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelService } from '../../services/router/core/channels.js';
import type { ChannelHistory, HistoryWindow } from '../../services/router/core/channel-history.js';
import type { Presence } from '../../services/router/core/presence.js';
import { storeCall } from '../../services/router/core/store-call.js';
import { newRouterStats } from '../../services/router/core/router-types.js';
import { ReadCoalescer } from '../../services/router/core/read-coalescer.js';
import { ManualClock } from '../../services/shared/clock.js';
import { Errors, LonglinkError } from '../../services/shared/errors.js';
import { silent } from '../helpers/log.js';

interface Pending { channel: string; afterOffset: number | undefined; maxBytes: number | undefined; resolve(w: HistoryWindow): void; reject(e: unknown): void }

/** A history whose reads wait until the test settles them, counting every read. */
class GatedHistory implements ChannelHistory {
  readonly reads: Pending[] = [];
  append(): Promise<{ offset: number; epoch: string }> { return Promise.resolve({ offset: 1, epoch: 'e' }); }
  since(channel: string, afterOffset: number | undefined, maxBytes?: number): Promise<HistoryWindow> {
    return new Promise((resolve, reject) => { this.reads.push({ channel, afterOffset, maxBytes, resolve, reject }); });
  }
  close(): Promise<void> { return Promise.resolve(); }
  answerAll(): void {
    for (const r of this.reads.splice(0)) {
      const after = r.afterOffset ?? 5;
      r.resolve({ epoch: 'e', offset: 5, covered: true, pubs: Array.from({ length: 5 - after }, (_, i) => ({ offset: after + i + 1, id: `m${after + i + 1}`, ts: 1, data: '1' })) });
    }
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function service(history: ChannelHistory, maxHistoryBytes = 1000): ChannelService {
  const stats = newRouterStats();
  return new ChannelService({
    history, presence: {} as Presence, clock: new ManualClock(), store: storeCall(stats, silent),
    out: { channel: () => true, control: () => true, countSubscribers: () => Promise.resolve([]) },
    limits: { maxHistoryBytes },
  });
}

describe('router channel history reads: concurrent identical reads share one store read', () => {
  it('N concurrent identical reads cost one store read, and every caller gets the answer', async () => {
    const h = new GatedHistory();
    const s = service(h);
    const N = 20;
    const replies = Array.from({ length: N }, () => s.history({ channel: 'room:hot', afterOffset: 2 }));
    await tick();
    assert.equal(h.reads.length, 1, 'one store read for N identical requests');
    assert.deepEqual([h.reads[0]!.channel, h.reads[0]!.afterOffset, h.reads[0]!.maxBytes], ['room:hot', 2, 1000]);
    h.answerAll();
    for (const r of await Promise.all(replies)) {
      assert.deepEqual(r.pubs.map((p) => p.offset), [3, 4, 5]);
      assert.equal(r.channel, 'room:hot');
      assert.equal(r.covered, true);
    }
    assert.equal(s.stats.historyReads, N);
    assert.equal(s.stats.historyReadsShared, N - 1);
  });

  it('different channels or offsets (or a position read) are read separately', async () => {
    const h = new GatedHistory();
    const s = service(h);
    const replies = [
      s.history({ channel: 'room:a', afterOffset: 1 }), s.history({ channel: 'room:a', afterOffset: 2 }),
      s.history({ channel: 'room:b', afterOffset: 1 }), s.history({ channel: 'room:a' }),
      s.history({ channel: 'room:a', afterOffset: 1 }),
    ];
    await tick();
    assert.deepEqual(h.reads.map((r) => [r.channel, r.afterOffset]), [['room:a', 1], ['room:a', 2], ['room:b', 1], ['room:a', undefined]]);
    h.answerAll();
    const got = await Promise.all(replies);
    assert.deepEqual(got.map((r) => [r.channel, r.pubs.length]), [['room:a', 4], ['room:a', 3], ['room:b', 4], ['room:a', 0], ['room:a', 4]]);
    assert.equal(s.stats.historyReadsShared, 1);
  });

  it('a failed store read fails every waiter (STORE_UNAVAILABLE), and the next request reads afresh', async () => {
    const h = new GatedHistory();
    const s = service(h);
    const replies = Array.from({ length: 5 }, () => s.history({ channel: 'room:x', afterOffset: 0 }).then(() => 'ok', (e: unknown) => e));
    await tick();
    assert.equal(h.reads.length, 1);
    h.reads.splice(0)[0]!.reject(new Error('connection lost'));
    for (const e of await Promise.all(replies)) {
      assert.ok(e instanceof LonglinkError, String(e));
      assert.equal(e.code, Errors.STORE_UNAVAILABLE.code);
    }
    // Nothing kept: a request after the failure (or after a success) reads the store again.
    const again = s.history({ channel: 'room:x', afterOffset: 0 });
    await tick();
    assert.equal(h.reads.length, 1, 'a fresh read after the failed one settled');
    h.answerAll();
    assert.equal((await again).covered, true);
    const third = s.history({ channel: 'room:x', afterOffset: 0 });
    await tick();
    assert.equal(h.reads.length, 1, 'no cached result after a read completed');
    h.answerAll();
    await third;
  });

  it('the map of reads in flight is bounded: past it, reads go unshared and nothing is evicted', async () => {
    const c = new ReadCoalescer<number>(2);
    let started = 0;
    const gates: Array<(v: number) => void> = [];
    const start = (): Promise<number> => { started++; return new Promise<number>((r) => gates.push(r)); };
    const ps = [c.read('a', start), c.read('b', start), c.read('c', start), c.read('c', start), c.read('a', start)];
    assert.equal(started, 4, 'a and b shared while in flight; c read twice once the map is full');
    assert.equal(c.size, 2);
    gates.forEach((g, i) => g(i));
    assert.deepEqual(await Promise.all(ps), [0, 1, 2, 3, 0]);
    assert.equal(c.size, 0, 'entries leave when their read settles');
  });
});
