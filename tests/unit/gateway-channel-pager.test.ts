/**
 * Channel recovery in pages (services/gateway/core/channel-pager.ts) on
 * fakes, with an injected clock: a recovery whose missed messages pass the
 * history reply's byte bound recovers all of them, in order, once each;
 * live messages published while it pages follow it in order; writing pauses
 * on a full send buffer; leaving, closing, a new epoch, a trimmed history
 * and failing reads stop or cut it. On the previous code each of these
 * recoveries answered recovered:false.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelHub } from '../../services/gateway/core/channels.js';
import type { ChannelArrival, ChannelHistoryReply, ChannelHistoryRequest, ChannelLink } from '../../services/gateway/core/ports.js';
import { arrivalOfRecord } from '../../services/shared/bus/channel-layout.js';
import type { PubFrame, ServerFrame } from '../../protocol/index.js';
import { FakeChannelConn, historyPage } from '../helpers/channel-fakes.js';

class Conn extends FakeChannelConn {}

/**
 * A history of offsets 1..latest in `epoch` from `first` on, answering at most `perPage` messages (the byte bound:
 * over it, not covered with the prefix that fits, as the stores do). Reads wait for `release()` when `held`.
 */
function rig(o: { latest: number; perPage: number; highWaterBytes?: number }) {
  let now = 0;
  const h = { epoch: 'e1', latest: o.latest, first: 1, held: false, fail: 0, failFrom: 0 };
  const queue: Array<() => void> = [];
  const reads: ChannelHistoryRequest[] = [];
  const handlers = new Map<string, (m: ChannelArrival) => void>();
  const topic: number[] = [];
  const answer = (req: ChannelHistoryRequest): ChannelHistoryReply => historyPage(req, h, o.perPage);
  const link: ChannelLink = {
    interest: (ch, on) => { handlers.set(ch, on); return { ready: Promise.resolve(), drop: () => { handlers.delete(ch); } }; },
    history: (req) => {
      reads.push(req);
      const run = (): Promise<ChannelHistoryReply> => (h.fail > 0 && req.afterOffset !== undefined && req.afterOffset >= h.failFrom ? (h.fail--, Promise.reject(new Error('timeout'))) : Promise.resolve(answer(req)));
      if (!h.held) return run();
      return new Promise((resolve, reject) => { queue.push(() => { run().then(resolve, reject); }); });
    },
    channelPresence: () => {},
  };
  const hub = new ChannelHub<Conn>({ maxPerConnection: 8, repairAfterMs: 100, recoverWaitMs: 1000, ...(o.highWaterBytes !== undefined ? { highWaterBytes: o.highWaterBytes } : {}) }, link,
    { publish: (_t, frame) => { topic.push((JSON.parse(typeof frame === 'string' ? frame : Buffer.from(frame).toString()) as { offset: number }).offset); } },
    (c, frame) => { c.socket.send(frame); }, () => now);
  const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); };
  /** A publish: the history appends it, then it arrives on the bus. */
  const publish = (epoch = h.epoch): void => {
    if (epoch !== h.epoch) { h.epoch = epoch; h.latest = 0; h.first = 1; }
    h.latest++;
    handlers.get('c')!(arrivalOfRecord({ channel: 'c', offset: h.latest, epoch, id: `m${h.latest}`, ts: 1, data: String(h.latest) }));
  };
  /** Answers the oldest held read (and lets what follows from it run). */
  const release = async (): Promise<void> => { queue.shift()?.(); await flush(); };
  return { hub, h, reads, topic, flush, publish, release, queue, tick: async (ms: number) => { now += ms; hub.tick(now); await flush(); } };
}

const pubOffsets = (c: Conn): number[] => c.socket.frames().filter((f): f is PubFrame => f.op === 'pub').map((f) => f.offset);
const subscribedFrames = (c: Conn): ServerFrame[] => c.socket.frames().filter((f) => f.op === 'subscribed');
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** A channel the gateway already follows (a plain member), then a client recovering it from `from`. */
async function recovering(r: ReturnType<typeof rig>, from: number): Promise<Conn> {
  await r.hub.join(new Conn(), 'c');
  const c = new Conn();
  void r.hub.join(c, 'c', { channel: 'c', offset: from, epoch: 'e1' });
  await r.flush();
  return c;
}

describe('channel recovery in pages', () => {
  it('recovers a gap many times the reply bound: every message, in order, once, recovered:true, one page read at a time', async () => {
    const r = rig({ latest: 50, perPage: 4 });
    const c = await recovering(r, 3);
    assert.deepEqual(subscribedFrames(c), [{ op: 'subscribed', channel: 'c', offset: 50, epoch: 'e1', recovered: true }], 'recovered:false on the previous code');
    assert.deepEqual(pubOffsets(c), range(4, 50));
    assert.ok(c.socket.topics.has('c'), 'on the live topic once caught up');
    const pages = r.reads.filter((q) => q.afterOffset !== undefined).map((q) => q.afterOffset);
    assert.deepEqual(pages, range(0, 11).map((i) => 3 + 4 * i), 'each page asks after the last offset written');
    assert.equal(r.hub.stats.catchUp.pages, 11);
    assert.equal(r.hub.stats.joins.get('recovered'), 1);
  });

  it('live messages published during the paging follow the replay in order, from the ring or the next page, then the topic', async () => {
    const r = rig({ latest: 20, perPage: 5 });
    await r.hub.join(new Conn(), 'c');
    r.h.held = true;
    const c = new Conn();
    void r.hub.join(c, 'c', { channel: 'c', offset: 0, epoch: 'e1' });
    await r.flush();
    await r.release(); // first page: 1..5
    for (let i = 0; i < 3; i++) r.publish(); // 21..23 go to the topic's subscribers meanwhile
    await r.release();
    await r.release();
    r.publish(); // 24
    await r.release();
    await r.release();
    assert.deepEqual(pubOffsets(c), range(1, 24), 'replay, then what was published during it, in order, once each');
    assert.ok(c.socket.topics.has('c'));
    assert.deepEqual(r.topic, [21, 22, 23, 24]);
    r.publish();
    assert.deepEqual(r.topic.at(-1), 25, 'the next one reaches it through the topic, after 24');
    assert.equal(subscribedFrames(c).length, 1);
  });

  it('pauses on a full send buffer and goes on when it drains or at a tick (one page held at a time)', async () => {
    const r = rig({ latest: 30, perPage: 10, highWaterBytes: 1000 });
    await r.hub.join(new Conn(), 'c');
    const c = new Conn();
    c.socket.buffered = 1000;
    void r.hub.join(c, 'c', { channel: 'c', offset: 0, epoch: 'e1' });
    await r.flush();
    assert.deepEqual(pubOffsets(c), [], 'nothing written past the bound');
    assert.equal(r.reads.length, 2, 'no page read while the first one is unwritten');
    c.socket.buffered = 0;
    r.hub.sendBufferDrained(c);
    await r.flush();
    assert.deepEqual(pubOffsets(c), range(1, 30));
    const d = new Conn();
    d.socket.buffered = 5000;
    void r.hub.join(d, 'c', { channel: 'c', offset: 10, epoch: 'e1' });
    await r.flush();
    d.socket.buffered = 0;
    await r.tick(100); // no drain event: the tick picks it up
    assert.deepEqual(pubOffsets(d), range(11, 30));
    assert.ok(d.socket.topics.has('c'));
    assert.ok(r.hub.stats.catchUp.pauses >= 2);
  });

  it('stops when the channel is unsubscribed or the connection closes in the middle', async () => {
    const r = rig({ latest: 40, perPage: 5 });
    await r.hub.join(new Conn(), 'c');
    r.h.held = true;
    const [a, b] = [new Conn(), new Conn()];
    void r.hub.join(a, 'c', { channel: 'c', offset: 0, epoch: 'e1' });
    void r.hub.join(b, 'c', { channel: 'c', offset: 0, epoch: 'e1' });
    await r.flush();
    await r.release();
    assert.deepEqual(pubOffsets(a), range(1, 5));
    r.hub.leave(a, 'c', true);
    b.closed = true;
    r.hub.closed(b);
    await r.release();
    await r.release();
    assert.deepEqual(pubOffsets(a), range(1, 5), 'nothing after the unsubscribe');
    assert.deepEqual(a.socket.ops().at(-1), 'unsubscribed');
    assert.equal(a.socket.topics.has('c'), false);
    assert.equal(pubOffsets(b).length, 5);
    assert.equal(r.queue.length, 0, 'no further page reads');
    // Joined again: a new catch-up, the old one's reads do not write to it.
    void r.hub.join(a, 'c', { channel: 'c', offset: 5, epoch: 'e1' });
    await r.flush();
    while (r.queue.length > 0) await r.release();
    assert.deepEqual(pubOffsets(a), range(1, 40));
  });

  it('a new epoch, a history trimmed while paging, or failing page reads cut it: recovered:false, then live', async () => {
    // Epoch change in the middle.
    const r = rig({ latest: 20, perPage: 5 });
    await r.hub.join(new Conn(), 'c');
    r.h.held = true;
    const c = new Conn();
    void r.hub.join(c, 'c', { channel: 'c', offset: 0, epoch: 'e1' });
    await r.flush();
    await r.release();
    r.publish('e2');
    await r.release();
    assert.deepEqual(subscribedFrames(c).at(-1), { op: 'subscribed', channel: 'c', offset: 1, epoch: 'e2', recovered: false });
    assert.ok(c.socket.topics.has('c'));
    assert.deepEqual(pubOffsets(c), range(1, 5));
    r.publish('e2');
    assert.deepEqual(r.topic.slice(-2), [1, 2], 'live in the new epoch through the topic');
    // Trimmed: the window's first offset moves past the next page.
    const t = rig({ latest: 20, perPage: 5 });
    await t.hub.join(new Conn(), 'c');
    t.h.held = true;
    const d = new Conn();
    void t.hub.join(d, 'c', { channel: 'c', offset: 0, epoch: 'e1' });
    await t.flush();
    await t.release();
    t.h.first = 12;
    await t.release();
    assert.deepEqual(pubOffsets(d), range(1, 5));
    assert.deepEqual(subscribedFrames(d).at(-1), { op: 'subscribed', channel: 'c', offset: 20, epoch: 'e1', recovered: false });
    assert.equal(t.hub.stats.catchUp.cut, 1);
    // Page reads failing: retried at ticks (injected clock), cut after the third failure in a row.
    const f = rig({ latest: 20, perPage: 5 });
    Object.assign(f.h, { fail: 1, failFrom: 15 });
    const e = await recovering(f, 10); // the join's read passes, the page after 15 fails once
    assert.deepEqual(pubOffsets(e), range(11, 15));
    const before = f.reads.length;
    await f.tick(50);
    assert.equal(f.reads.length, before, 'not before retryAfterMs');
    await f.tick(50);
    assert.equal(f.reads.length, before + 1, 'retried at the tick after retryAfterMs');
    assert.deepEqual(pubOffsets(e), range(11, 20));
    assert.equal(subscribedFrames(e).length, 1);
    const g = rig({ latest: 20, perPage: 5 });
    Object.assign(g.h, { fail: 99, failFrom: 5 });
    const x = await recovering(g, 0);
    for (let i = 0; i < 4; i++) await g.tick(100);
    assert.deepEqual(pubOffsets(x), range(1, 5));
    assert.deepEqual(subscribedFrames(x).at(-1), { op: 'subscribed', channel: 'c', offset: 20, epoch: 'e1', recovered: false });
    assert.ok(x.socket.topics.has('c'));
  });
});
