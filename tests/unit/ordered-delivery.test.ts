import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OrderedDelivery, type OrderedConn } from '../../services/gateway/core/ordered-delivery.js';
import type { PushRecord } from '../../services/gateway/core/ports.js';

const rec = (seq: number): PushRecord => ({ seq, id: `m${seq}`, ts: 0, data: String(seq) });
const flush = () => new Promise<void>((r) => setImmediate(r));

function setup(inbox: number[], opts: { fail?: boolean; page?: number } = {}) {
  const written: number[] = [];
  const fetches: number[] = [];
  const c: OrderedConn = { sentSeq: 0, ackedSeq: 0, epoch: -1, epochMoved: false, closed: false, held: null, heldSince: 0, repairing: false };
  const od = new OrderedDelivery<OrderedConn>({
    write: (conn, p) => { written.push(p.seq); if (p.seq > conn.sentSeq) conn.sentSeq = p.seq; },
    fetch: async (_c, after) => {
      fetches.push(after);
      if (opts.fail) throw new Error('router down');
      return inbox.filter((s) => s > after).slice(0, opts.page ?? 1000).map(rec);
    },
    repairAfterMs: 100,
  });
  return { c, od, written, fetches };
}

describe('OrderedDelivery', () => {
  it('writes in-order pushes at once and drops duplicates', () => {
    const { c, od, written } = setup([]);
    od.offer(c, [rec(1), rec(2), rec(2), rec(1), rec(3)], 0);
    assert.deepEqual(written, [1, 2, 3]);
    assert.equal(od.pendingGaps, 0);
  });

  it('holds an early push until the gap fills naturally', () => {
    const { c, od, written, fetches } = setup([]);
    od.offer(c, [rec(1)], 0);
    od.offer(c, [rec(3)], 0);
    od.offer(c, [rec(4)], 0);
    assert.deepEqual(written, [1]);
    od.offer(c, [rec(2)], 10);
    assert.deepEqual(written, [1, 2, 3, 4]);
    od.tick(1000);
    assert.deepEqual(fetches, [], 'no repair needed');
  });

  it('repairs a gap from the inbox after the wait, in order', async () => {
    const { c, od, written, fetches } = setup([1, 2, 3, 4, 5]);
    od.offer(c, [rec(1), rec(4), rec(5)], 0);
    od.tick(50);
    assert.deepEqual(fetches, [], 'not before repairAfterMs');
    od.tick(100);
    await flush();
    assert.deepEqual(fetches, [1]);
    assert.deepEqual(written, [1, 2, 3, 4, 5]);
    assert.equal(od.pendingGaps, 0);
    assert.equal(od.repairs, 1);
  });

  it('pages through a long gap and skips what the inbox no longer has', async () => {
    const inbox = [1, 2, 3, 4, 5, 6, 9, 10]; // 7 and 8 were trimmed
    const { c, od, written, fetches } = setup(inbox, { page: 2 });
    od.offer(c, [rec(1), rec(10)], 0);
    od.tick(100);
    for (let i = 0; i < 10; i++) await flush();
    assert.deepEqual(written, [1, 2, 3, 4, 5, 6, 9, 10]);
    assert.deepEqual(fetches, [1, 3, 5], 'the third page [6, 9] reaches past the gap');
    assert.equal(od.skippedGaps, 1);
    assert.equal(od.pendingGaps, 0);
  });

  it('retries a failed repair later and never writes to a closed connection', async () => {
    const { c, od, written, fetches } = setup([], { fail: true });
    od.offer(c, [rec(1), rec(3)], 0);
    od.tick(100);
    await flush();
    assert.equal(c.repairing, false);
    od.tick(150);
    assert.equal(fetches.length, 1, 'waits again after a failure');
    od.tick(200);
    await flush();
    assert.equal(fetches.length, 2);
    c.closed = true;
    od.tick(400);
    assert.equal(od.pendingGaps, 0);
    assert.deepEqual(written, [1]);
  });

  it('a push of a newer epoch drops what was held and restarts at its seq 1; an older epoch is dropped', () => {
    const { c, od, written } = setup([]);
    const at = (seq: number, epoch: number): PushRecord => ({ ...rec(seq), epoch });
    od.offer(c, [at(1, 10), at(2, 10), at(4, 10)], 0);
    assert.deepEqual([written, od.pendingGaps], [[1, 2], 1], 'seq 4 held for the gap');
    od.offer(c, [at(1, 20)], 5);
    assert.deepEqual([written, od.pendingGaps, c.epoch, c.sentSeq], [[1, 2, 1], 0, 20, 1], 'new epoch: held pushes of the old one dropped');
    od.offer(c, [at(3, 10), at(2, 20)], 6);
    assert.deepEqual(written, [1, 2, 1, 2]);
    assert.deepEqual([od.epochMoves, od.stalePushes], [1, 1]);
  });
});
