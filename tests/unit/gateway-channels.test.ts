/**
 * The gateway's channel hub (services/gateway/core/channels.ts) on fakes:
 * interest follows local subscribers, out-of-order messages are held and
 * fanned out in order (or repaired from the history, or skipped), duplicates
 * dropped, a new epoch followed, and a join whose history read is ahead of
 * the live stream waits for it, so nothing arrives twice.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelHub, MAX_PENDING_CONTROL } from '../../services/gateway/core/channels.js';
import type { ChannelArrival, ChannelHistoryReply, ChannelHistoryRequest, ChannelLink } from '../../services/gateway/core/ports.js';
import { arrivalOfRecord } from '../../services/shared/bus/channel-layout.js';
import { FakeChannelConn } from '../helpers/channel-fakes.js';

class Conn extends FakeChannelConn {}

/** A connection whose session is still starting, from a client that speaks channel frames (as GatewayCore.open makes it). */
const starting = (): Conn => { const c = new Conn(); c.channels = null; c.pendingControl = []; return c; };

function rig(history: (req: ChannelHistoryRequest) => ChannelHistoryReply) {
  let now = 0;
  const handlers = new Map<string, (m: ChannelArrival) => void>();
  const interest: string[] = [];
  const published: Array<[string, number]> = [];
  const reads: ChannelHistoryRequest[] = [];
  const link: ChannelLink = {
    interest: (ch, on) => { handlers.set(ch, on); interest.push(`+${ch}`); return { ready: Promise.resolve(), drop: () => { handlers.delete(ch); interest.push(`-${ch}`); } }; },
    history: async (req) => { reads.push(req); return history(req); },
    channelPresence: () => {},
  };
  const hub = new ChannelHub<Conn>({ maxPerConnection: 2, repairAfterMs: 100, recoverWaitMs: 1000 }, link,
    { publish: (topic, frame) => { published.push([topic, (JSON.parse(typeof frame === 'string' ? frame : Buffer.from(frame).toString()) as { offset: number }).offset]); } },
    (c, frame) => { c.socket.send(frame); }, () => now);
  const msg = (offset: number, epoch = 'e1', channel = 'c'): ChannelArrival => arrivalOfRecord({ channel, offset, epoch, id: `m${offset}`, ts: 1, data: String(offset) });
  const deliver = (m: ChannelArrival): void => handlers.get(m.channel)!(m);
  return { hub, interest, published, reads, deliver, msg, advance: (ms: number) => { now += ms; }, flush: () => new Promise((r) => setTimeout(r, 0)) };
}

const head = (offset: number, epoch = 'e1') => (req: ChannelHistoryRequest): ChannelHistoryReply => ({ channel: req.channel, epoch, offset, pubs: [], covered: req.afterOffset === undefined || req.afterOffset === offset });

describe('gateway channel hub', () => {
  it('subscribes on the bus with the first local member and drops it with the last; the limit refuses past it', async () => {
    const r = rig(head(0));
    const [a, b] = [new Conn(), new Conn()];
    await r.hub.join(a, 'c');
    await r.hub.join(b, 'c');
    assert.deepEqual(r.interest, ['+c']);
    assert.equal(r.hub.count('c'), 2);
    assert.equal(r.reads.length, 1, 'the second join used the position the gateway already follows');
    assert.deepEqual(b.socket.frames()[0], { op: 'subscribed', channel: 'c', offset: 0, epoch: 'e1' });
    assert.ok(a.socket.topics.has('c'));
    await r.hub.join(a, 'd');
    await r.hub.join(a, '$all');
    await r.hub.join(a, 'e');
    assert.deepEqual(a.socket.frames().at(-1), { op: 'unsubscribed', channel: 'e', error: 'LL_CHANNEL_LIMIT' });
    r.hub.leave(a, 'c');
    assert.deepEqual(r.interest, ['+c', '+d', '+$all']);
    r.hub.leave(b, 'c', true);
    assert.deepEqual(r.interest, ['+c', '+d', '+$all', '-c']);
    assert.deepEqual(b.socket.frames().at(-1), { op: 'unsubscribed', channel: 'c' });
    r.hub.closed(a);
    assert.deepEqual(r.interest.slice(4).sort(), ['-$all', '-d']);
    assert.equal(r.hub.channelCount, 0);
  });

  it('repairs a gap in pages when the history\'s byte bound cuts its answer short (not covered, with the prefix that fits)', async () => {
    // The history holds 1..6; its bound lets two messages through per answer, so each read is "not covered" with a prefix.
    const r = rig((req) => {
      if (req.afterOffset === undefined) return { channel: 'c', epoch: 'e1', offset: 0, pubs: [], covered: true };
      const after = req.afterOffset;
      const pubs = [after + 1, after + 2].filter((o) => o <= 6).map((o) => ({ offset: o, id: `m${o}`, ts: 1, data: String(o) }));
      return { channel: 'c', epoch: 'e1', offset: 6, pubs, covered: after + 2 >= 6 };
    });
    await r.hub.join(new Conn(), 'c');
    for (const o of [4, 5, 6]) r.deliver(r.msg(o)); // 1..3 lost on the bus
    assert.equal(r.published.length, 0);
    for (let t = 150; t <= 450; t += 150) { r.advance(150); r.hub.tick(t); await r.flush(); }
    assert.deepEqual(r.published.map(([, o]) => o), [1, 2, 3, 4, 5, 6], 'every message, in order (the previous code skipped to 4)');
    assert.equal(r.hub.stats.gapsSkipped, 0);
    assert.deepEqual(r.reads.slice(1).map((q) => q.afterOffset), [0, 2]);
  });

  it('fans out in offset order once each: holds early messages, drops duplicates, repairs a lasting gap from the history', async () => {
    const r = rig((req) => (req.afterOffset === undefined
      ? { channel: 'c', epoch: 'e1', offset: 0, pubs: [], covered: true }
      : { channel: 'c', epoch: 'e1', offset: 6, pubs: [5, 6].map((o) => ({ offset: o, id: `m${o}`, ts: 1, data: String(o) })), covered: true }));
    await r.hub.join(new Conn(), 'c');
    for (const o of [2, 1, 1, 3, 6, 4]) r.deliver(r.msg(o));
    assert.deepEqual(r.published.map(([, o]) => o), [1, 2, 3, 4]);
    assert.equal(r.hub.stats.duplicates, 1);
    r.advance(150);
    r.hub.tick(150);
    await r.flush();
    assert.deepEqual(r.reads.at(-1), { channel: 'c', afterOffset: 4 });
    assert.deepEqual(r.published.map(([, o]) => o), [1, 2, 3, 4, 5, 6]);
    assert.equal(r.hub.stats.gapsRepaired, 1);
  });

  it('skips a gap the history cannot fill; follows a new epoch', async () => {
    const r = rig((req) => ({ channel: 'c', epoch: 'e1', offset: req.afterOffset === undefined ? 0 : 9, pubs: [], covered: req.afterOffset === undefined }));
    await r.hub.join(new Conn(), 'c');
    r.deliver(r.msg(1));
    r.deliver(r.msg(4));
    r.advance(150);
    r.hub.tick(150);
    await r.flush();
    assert.deepEqual(r.published.map(([, o]) => o), [1, 4]);
    assert.equal(r.hub.stats.gapsSkipped, 1);
    r.deliver(r.msg(1, 'e2'));
    r.deliver(r.msg(2, 'e2'));
    assert.deepEqual(r.published.map(([, o]) => o), [1, 4, 1, 2]);
    assert.equal(r.hub.stats.epochChanges, 1);
  });

  it('a recovering join gets history, then ring, then live; one whose history is ahead joins when live catches up', async () => {
    let latest = 3;
    const r = rig((req) => ({
      channel: 'c', epoch: 'e1', offset: latest, covered: true,
      pubs: req.afterOffset === undefined ? [] : Array.from({ length: latest - req.afterOffset }, (_, i) => ({ offset: req.afterOffset! + i + 1, id: 'h', ts: 1, data: '"h"' })),
    }));
    const first = new Conn();
    await r.hub.join(first, 'c');
    r.deliver(r.msg(4));
    // The second join's history read says 6 while live here is at 4: 5 and 6 are still on their way.
    latest = 6;
    const late = new Conn();
    await r.hub.join(late, 'c', { channel: 'c', offset: 2, epoch: 'e1' });
    const frames = late.socket.frames();
    assert.deepEqual(frames[0], { op: 'subscribed', channel: 'c', offset: 6, epoch: 'e1', recovered: true });
    assert.deepEqual(frames.slice(1).map((f) => (f.op === 'pub' ? f.offset : -1)), [3, 4, 5, 6]);
    assert.equal(late.socket.topics.has('c'), false, 'not on the topic until live reaches 6');
    r.deliver(r.msg(5));
    assert.equal(late.socket.topics.has('c'), false);
    r.deliver(r.msg(6));
    assert.equal(late.socket.topics.has('c'), true, 'joined right after 6 was published, before 7');
    assert.equal(r.hub.stats.deliveries, 3, 'the late joiner was on none of the topic publishes of 4, 5, 6');
  });

  it('a recover=1 connection waits for its recover frame, or joins without it after the wait', async () => {
    const r = rig(head(0));
    const c = new Conn();
    r.hub.start(c, ['c'], true);
    assert.equal(r.interest.length, 0);
    assert.equal(r.hub.recover(c, [{ channel: 'c', offset: 0, epoch: 'e1' }]), true);
    assert.equal(r.hub.recover(c, []), false, 'only once');
    await r.flush();
    assert.deepEqual(r.interest.sort(), ['+$all', '+c']);
    const d = new Conn();
    r.hub.start(d, ['x'], true);
    r.advance(1000);
    r.hub.tick(1000);
    await r.flush();
    assert.equal(r.hub.count('x'), 1);
  });

  it('subscribe/unsubscribe commands that arrive while the session starts apply when it has started, in order', async () => {
    const r = rig(head(0));
    const c = starting();
    assert.equal(r.hub.control(c, true, ['room', 'gone']), true, 'held: the connection counts as reached');
    assert.equal(r.hub.control(c, false, ['gone', 'claimed']), true);
    assert.equal(r.interest.length, 0, 'nothing joined before the start');
    r.hub.start(c, ['claimed'], false);
    await r.flush();
    assert.deepEqual([...c.channels!].sort(), ['$all', 'room'], 'the token\'s channel and the held unsubscribe: left; the held subscribe: joined');
    assert.equal(c.pendingControl, null);
    // A recover=1 start: the held subscribe waits for the recover frame with the token's channels, and recovers.
    const d = starting();
    r.hub.control(d, true, ['room']);
    r.hub.start(d, [], true);
    assert.deepEqual([...d.awaitingRecover!.channels].sort(), ['$all', 'room']);
    // A subscribe while the recover frame is awaited joins when it comes, with the client's position: it recovers.
    const e = starting();
    r.hub.start(e, [], true);
    r.hub.control(e, true, ['late']);
    assert.equal(e.channels!.has('late'), false, 'not joined before the recover frame');
    r.hub.recover(e, [{ channel: 'late', offset: 0, epoch: 'e1' }]);
    await r.flush();
    assert.deepEqual(e.socket.frames().find((f) => (f as { channel?: string }).channel === 'late'), { op: 'subscribed', channel: 'late', offset: 0, epoch: 'e1', recovered: true });
    // An unsubscribe while the recover frame is awaited: not joined when it comes.
    r.hub.control(d, false, ['room']);
    r.hub.recover(d, [{ channel: 'room', offset: 0, epoch: 'e1' }]);
    await r.flush();
    assert.deepEqual([...d.channels!], ['$all']);
  });

  it('a client without channel frames is not reached; a starting one holds a bounded number of commands', () => {
    const r = rig(head(0));
    const plain = new Conn();
    plain.channels = null; // pendingControl null: no channel frames
    assert.equal(r.hub.control(plain, true, ['room']), false);
    const c = starting();
    for (let i = 0; i < MAX_PENDING_CONTROL; i++) assert.equal(r.hub.control(c, true, [`r${i}`]), true);
    assert.equal(r.hub.control(c, true, ['over']), false);
    c.closed = true;
    assert.equal(r.hub.control(c, true, ['room']), false);
  });
});
