/**
 * A recovery in pages when this gateway's live stream is behind the history
 * (channel-pager.ts): the bus lost the tail of the channel's live stream
 * here (core NATS is at most once), which a gateway notices only when the
 * next message arrives. The catch-up goes on to the history's latest offset,
 * as a recovery that fits one reply always did, not just to what this
 * gateway fanned out; on the previous code a recovery in pages stopped
 * there, and the rest came only with the next publish's gap repair.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelHub } from '../../services/gateway/core/channels.js';
import type { ChannelArrival, ChannelHistoryReply, ChannelHistoryRequest, ChannelLink } from '../../services/gateway/core/ports.js';
import { arrivalOfRecord } from '../../services/shared/bus/channel-layout.js';
import type { PubFrame } from '../../protocol/index.js';
import { FakeChannelConn, historyPage } from '../helpers/channel-fakes.js';

class Conn extends FakeChannelConn {}

/** History 1..latest, at most `perPage` a reply; the topic reaches the sockets subscribed to it (as uWS does). */
function rig(o: { latest: number; perPage: number }) {
  let now = 0;
  const h = { latest: o.latest };
  const conns: Conn[] = [];
  const handlers = new Map<string, (m: ChannelArrival) => void>();
  const answer = (req: ChannelHistoryRequest): ChannelHistoryReply => historyPage(req, { epoch: 'e1', latest: h.latest }, o.perPage);
  const link: ChannelLink = {
    interest: (ch, on) => { handlers.set(ch, on); return { ready: Promise.resolve(), drop: () => { handlers.delete(ch); } }; },
    history: (req) => Promise.resolve(answer(req)),
    channelPresence: () => {},
  };
  const hub = new ChannelHub<Conn>({ maxPerConnection: 8, repairAfterMs: 100, recoverWaitMs: 1000 }, link,
    { publish: (t, frame) => { for (const c of conns) if (c.socket.topics.has(t)) c.socket.send(frame); } },
    (c, frame) => { c.socket.send(frame); }, () => now);
  const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); };
  /** Stored in the history; reaches this gateway's bus subscription only when `delivered`. */
  const publish = (delivered = true): void => {
    h.latest++;
    if (delivered) handlers.get('c')!(arrivalOfRecord({ channel: 'c', offset: h.latest, epoch: 'e1', id: `m${h.latest}`, ts: 1, data: String(h.latest) }));
  };
  const conn = (): Conn => { const c = new Conn(); conns.push(c); return c; };
  return { hub, flush, publish, conn, tick: async (ms: number) => { now += ms; hub.tick(now); await flush(); } };
}
const pubOffsets = (c: Conn): number[] => c.socket.frames().filter((f): f is PubFrame => f.op === 'pub').map((f) => f.offset);
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('channel recovery in pages, this gateway behind the history', () => {
  it('recovers up to the history\'s latest offset, then joins the live stream once it gets there: each once, in order', async () => {
    const r = rig({ latest: 10, perPage: 5 });
    await r.hub.join(r.conn(), 'c'); // the gateway follows the channel at 10
    for (let i = 0; i < 10; i++) r.publish(); // 11..20 reach it
    for (let i = 0; i < 20; i++) r.publish(false); // 21..40 are stored, their bus messages lost here
    const c = r.conn();
    void r.hub.join(c, 'c', { channel: 'c', offset: 0, epoch: 'e1' });
    await r.flush();
    assert.deepEqual(pubOffsets(c), range(1, 40), 'everything the history holds (previous code: 1..20, then nothing)');
    assert.equal(c.socket.topics.has('c'), false, 'not on the topic before the live stream reaches 40');
    r.publish(); // 41: the gateway sees the gap 21..40, repairs it from the history, then fans 41 out
    for (let i = 0; i < 10; i++) await r.tick(100); // the repair reads in pages too (5 a reply)
    assert.ok(c.socket.topics.has('c'));
    assert.deepEqual(pubOffsets(c), range(1, 41), 'then live, none twice');
    r.publish();
    assert.deepEqual(pubOffsets(c), range(1, 42));
  });
});
