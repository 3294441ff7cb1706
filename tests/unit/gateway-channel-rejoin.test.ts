/**
 * Channel joins whose history read is answered after the member left and
 * joined again (API unsubscribe + subscribe): only the latest join answers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelHub } from '../../services/gateway/core/channels.js';
import type { ChannelArrival, ChannelHistoryReply, ChannelHistoryRequest, ChannelLink } from '../../services/gateway/core/ports.js';
import { arrivalOfRecord } from '../../services/shared/bus/channel-layout.js';
import type { PubFrame } from '../../protocol/index.js';
import { FakeChannelConn, historyPage } from '../helpers/channel-fakes.js';

class Conn extends FakeChannelConn {}

function rig(o: { latest: number; perPage: number; held?: boolean }) {
  const h = { epoch: 'e1', latest: o.latest, held: o.held ?? false };
  const queue: Array<() => void> = [];
  const conns: Conn[] = [];
  const handlers = new Map<string, (m: ChannelArrival) => void>();
  const answer = (req: ChannelHistoryRequest): ChannelHistoryReply => historyPage(req, h, o.perPage);
  const link: ChannelLink = {
    interest: (ch, on) => { handlers.set(ch, on); return { ready: Promise.resolve(), drop: () => { handlers.delete(ch); } }; },
    history: (req) => h.held ? new Promise((res) => { queue.push(() => res(answer(req))); }) : Promise.resolve(answer(req)),
    channelPresence: () => {},
  };
  const hub = new ChannelHub<Conn>({ maxPerConnection: 8, repairAfterMs: 100, recoverWaitMs: 1000 }, link,
    // The topic reaches the sockets subscribed to it, as uWS does.
    { publish: (t, frame) => { for (const c of conns) if (c.socket.topics.has(t)) c.socket.send(frame); } },
    (c, frame) => { c.socket.send(frame); }, () => 0);
  const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); };
  const publish = (): void => {
    h.latest++;
    handlers.get('c')!(arrivalOfRecord({ channel: 'c', offset: h.latest, epoch: h.epoch, id: `m${h.latest}`, ts: 1, data: String(h.latest) }));
  };
  const conn = (): Conn => { const c = new Conn(); conns.push(c); return c; };
  return { hub, h, queue, flush, publish, conn, release: async () => { queue.shift()?.(); await flush(); } };
}
const pubOffsets = (c: Conn): number[] => c.socket.frames().filter((f): f is PubFrame => f.op === 'pub').map((f) => f.offset);

describe('a join left and made again while its read is in flight', () => {
  it('the stale read neither replays a recovery into the new join nor announces it twice', async () => {
    // A recovery's read in flight, then unsubscribe + subscribe (API commands): the new plain join is on the topic at once.
    const r = rig({ latest: 20, perPage: 5 });
    await r.hub.join(r.conn(), 'c');
    r.h.held = true;
    const c = r.conn();
    void r.hub.join(c, 'c', { channel: 'c', offset: 0, epoch: 'e1' });
    await r.flush();
    r.hub.leave(c, 'c');
    await r.hub.join(c, 'c');
    assert.ok(c.socket.topics.has('c'));
    r.publish(); r.publish();
    while (r.queue.length > 0) await r.release();
    r.publish();
    assert.deepEqual(pubOffsets(c), [21, 22, 23], 'live only, once each (previous code: 21, 22, then 1..22 replayed, then 23)');
    assert.equal(c.socket.frames().filter((f) => f.op === 'subscribed').length, 1);
    // Plain joins sharing the channel's first position read: left and joined again before it answers, one subscribed.
    const p = rig({ latest: 10, perPage: 5, held: true });
    void p.hub.join(p.conn(), 'c');
    const d = p.conn();
    void p.hub.join(d, 'c');
    p.hub.leave(d, 'c');
    void p.hub.join(d, 'c');
    await p.flush();
    while (p.queue.length > 0) await p.release();
    p.publish();
    assert.deepEqual(d.socket.frames().filter((f) => f.op === 'subscribed').length, 1, 'previous code: two');
    assert.deepEqual(pubOffsets(d), [11]);
  });
});
