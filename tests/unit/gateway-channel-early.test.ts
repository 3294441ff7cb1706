/**
 * A channel's early buffer (services/gateway/core/channel-state.ts,
 * newest-buffer.ts): messages arriving before the channel's first history
 * read answers are held, the newest MAX_EARLY kept, and replayed in order
 * once the read answers. Holding costs O(1) per message when the buffer is
 * full (it used Array.shift(), moving every held message each time).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelHub } from '../../services/gateway/core/channels.js';
import { MAX_EARLY } from '../../services/gateway/core/channel-state.js';
import { NewestBuffer } from '../../services/gateway/core/newest-buffer.js';
import type { ChannelArrival, ChannelHistoryReply, ChannelLink } from '../../services/gateway/core/ports.js';
import { arrivalOfRecord } from '../../services/shared/bus/channel-layout.js';
import { FakeChannelConn } from '../helpers/channel-fakes.js';

describe('NewestBuffer', () => {
  it('keeps the newest items in arrival order, through any number of wraps; drain empties it', () => {
    const b = new NewestBuffer<number>(3);
    assert.deepEqual(b.drain(), []);
    b.push(1); b.push(2);
    assert.equal(b.length, 2);
    assert.deepEqual(b.drain(), [1, 2]);
    assert.equal(b.length, 0);
    for (let n = 1; n <= 10; n++) {
      for (let i = 1; i <= n; i++) b.push(i);
      assert.deepEqual(b.drain(), Array.from({ length: Math.min(3, n) }, (_, i) => Math.max(1, n - 2) + i), `${n} pushed`);
    }
    b.push(7);
    assert.deepEqual(b.drain(), [7], 'a drained buffer starts afresh');
    assert.throws(() => new NewestBuffer(0), RangeError);
  });
});

describe('gateway channel hub: messages before the first history read', () => {
  it('holds the newest MAX_EARLY without moving the held ones (no Array.shift), and replays them in order', async () => {
    let answer: (r: ChannelHistoryReply) => void = () => {};
    let on: (m: ChannelArrival) => void = () => {};
    const link: ChannelLink = {
      interest: (_ch, h) => { on = h; return { ready: Promise.resolve(), drop: () => {} }; },
      history: () => new Promise((r) => { answer = r; }),
      channelPresence: () => {},
    };
    const published: number[] = [];
    const hub = new ChannelHub<FakeChannelConn>({ maxPerConnection: 4, repairAfterMs: 100, recoverWaitMs: 1000 }, link,
      { publish: (_t, frame) => { published.push((JSON.parse(typeof frame === 'string' ? frame : Buffer.from(frame).toString()) as { offset: number }).offset); } },
      (c, frame) => { c.socket.send(frame); }, () => 0);
    const joined = hub.join(new FakeChannelConn(), 'c');
    await new Promise((r) => setTimeout(r, 0)); // the read is sent once the interest is ready
    const total = MAX_EARLY * 3;
    const shift = Array.prototype.shift;
    let shifts = 0;
    Array.prototype.shift = function (this: unknown[]) { shifts++; return shift.call(this); };
    try {
      for (let o = 1; o <= total; o++) on(arrivalOfRecord({ channel: 'c', offset: o, epoch: 'e1', id: `m${o}`, ts: 1, data: String(o) }));
    } finally {
      Array.prototype.shift = shift;
    }
    assert.equal(shifts, 0, `${shifts} Array.shift() calls holding ${total} messages`);
    assert.equal(published.length, 0, 'nothing fanned out before the first read');
    // The position read was made after the older messages were published: they are covered by it.
    answer({ channel: 'c', epoch: 'e1', offset: total - MAX_EARLY, pubs: [], covered: true });
    await joined;
    assert.deepEqual(published, Array.from({ length: MAX_EARLY }, (_, i) => total - MAX_EARLY + 1 + i), 'the newest, in order');
    assert.equal(hub.stats.gapsSkipped, 0);
  });
});
