/**
 * The per-gateway cap on channel recovery page reads in flight
 * (channel-pager.ts, LONGLINK_CHANNEL_PAGE_READS): after a mass reconnect
 * with large gaps, recovering connections on different channels each had
 * their own page read in flight at once (2,000 connections: 2,000 reads of
 * up to 256 KiB). Recovering joins' first reads share the cap (they were
 * uncapped: the same 2,000 reads at once, before any page). Over the cap a
 * recovery waits its turn; one that can share a read in flight does not; a
 * waiting connection that closes leaves no trace; plain joins (and a
 * `recover=1` connection at its recover deadline) do not wait.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelHub, type ChannelOptions } from '../../services/gateway/core/channels.js';
import type { ChannelArrival, ChannelHistoryReply, ChannelHistoryRequest, ChannelLink } from '../../services/gateway/core/ports.js';
import { encodePubRaw, type PubFrame } from '../../protocol/index.js';
import { FakeChannelConn, historyPage } from '../helpers/channel-fakes.js';

class Conn extends FakeChannelConn {}
/** A connection of another user than Conn's. */
class OtherConn extends Conn { override readonly user: string = 'other'; }

/** Every channel has offsets 1..20 in epoch e1; a reply holds at most 5 (the byte bound). Reads wait for release(). */
function rig(maxPageReads: number) {
  const pending: Array<{ req: ChannelHistoryRequest; answer: () => void }> = [];
  let inFlight = 0;
  let most = 0;
  const seen: ChannelHistoryRequest[] = [];
  const presence: string[] = [];
  const answer = (req: ChannelHistoryRequest): ChannelHistoryReply => historyPage(req, { epoch: 'e1', latest: 20 }, 5);
  const link: ChannelLink = {
    interest: (_ch, _on: (m: ChannelArrival) => void) => ({ ready: Promise.resolve(), drop: () => {} }),
    history: (req) => new Promise((resolve) => {
      seen.push(req);
      // Position reads (the channels' first members) are answered at once and not counted.
      if (req.afterOffset === undefined) { resolve(answer(req)); return; }
      most = Math.max(most, ++inFlight);
      pending.push({ req, answer: () => { inFlight--; resolve(answer(req)); } });
    }),
    channelPresence: (ev) => { presence.push(`${ev.type} ${ev.conn} ${ev.channel}`); },
  };
  // Not an object literal: the previous code's ChannelOptions had no maxPageReads (ignored there).
  const options: ChannelOptions = Object.assign({ maxPerConnection: 8, repairAfterMs: 100, recoverWaitMs: 1000 }, { maxPageReads },
    { presenceEvents: { gateway: 'g1', wallNow: () => 0 } });
  const hub = new ChannelHub<Conn>(options, link, { publish: () => {} }, (c, frame) => { c.socket.send(frame); }, () => 0);
  const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); };
  /** Answers every read in flight now, then lets what follows run. */
  const releaseAll = async (): Promise<void> => { for (const p of pending.splice(0)) p.answer(); await flush(); };
  return { hub, pending, flush, releaseAll, most: () => most, seen: () => seen, presence };
}
const pubOffsets = (c: Conn): number[] => c.socket.frames().filter((f): f is PubFrame => f.op === 'pub').map((f) => f.offset);
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('channel recovery page reads per gateway', () => {
  it('at most maxPageReads in flight; the others wait their turn and still recover everything in order once', async () => {
    const r = rig(2);
    const conns: Conn[] = [];
    for (let i = 0; i < 6; i++) {
      await r.hub.join(new Conn(), `c${i}`); // the gateway follows the channel (at 20)
      const c = new Conn();
      conns.push(c);
      void r.hub.join(c, `c${i}`, { channel: `c${i}`, offset: 0, epoch: 'e1' });
    }
    await r.flush();
    assert.deepEqual(r.pending.map((p) => p.req.afterOffset), [0, 0], 'two first reads in flight (previous code: 6)');
    assert.equal(r.hub.stats.catchUp.readsInFlight, 2);
    assert.equal(r.hub.stats.catchUp.waiting, 4);
    for (let i = 0; i < 40 && r.pending.length > 0; i++) await r.releaseAll();
    assert.equal(r.most(), 2, 'never more than two first and page reads in flight');
    for (const c of conns) assert.deepEqual(pubOffsets(c), range(1, 20));
    for (const c of conns) assert.ok(c.socket.topics.has(c.channels!.values().next().value!));
    assert.equal(r.hub.stats.catchUp.readsInFlight, 0);
    assert.equal(r.hub.stats.catchUp.waiting, 0);
  });

  it('a recovery that can share a read in flight does not wait; one that closes while waiting leaves the queue', async () => {
    const r = rig(1);
    const mk = async (ch: string): Promise<Conn> => {
      const c = new Conn();
      void r.hub.join(c, ch, { channel: ch, offset: 0, epoch: 'e1' });
      await r.flush();
      return c;
    };
    await r.hub.join(new Conn(), 'a');
    await r.hub.join(new Conn(), 'b');
    const [a1, a2, b] = [await mk('a'), await mk('a'), await mk('b')];
    assert.deepEqual(r.pending.map((p) => `${p.req.channel}:${p.req.afterOffset}`), ['a:0'], 'a2 shares a1\'s first read; b\'s waits');
    assert.equal(r.hub.stats.catchUp.waiting, 1);
    // A recover=1 connection whose recover frame does not come joins at its deadline, without waiting for a read.
    const late = new Conn();
    r.hub.start(late, ['a'], true);
    r.hub.tick(1000);
    await r.flush();
    assert.ok(late.socket.frames().some((f) => f.op === 'subscribed' && f.channel === 'a'), 'joined at the recover deadline');
    b.closed = true;
    r.hub.closed(b);
    assert.equal(r.hub.stats.catchUp.waiting, 0, 'the closed connection left the queue');
    for (let i = 0; i < 10 && r.pending.length > 0; i++) await r.releaseAll();
    assert.deepEqual(pubOffsets(a1), range(1, 20));
    assert.deepEqual(pubOffsets(a2), range(1, 20));
    assert.deepEqual(b.socket.frames(), [], 'b, closed while waiting, was sent nothing');
    assert.ok(!r.seen().some((q) => q.channel === 'b' && q.afterOffset !== undefined), 'and its first read was never made');
    assert.equal(r.most(), 1, 'one read at a time');
  });

  it('joins waiting at the same channel and offset share the read that starts at the first one\'s turn', async () => {
    const r = rig(1);
    await r.hub.join(new Conn(), 'x');
    await r.hub.join(new Conn(), 'y');
    void r.hub.join(new Conn(), 'y', { channel: 'y', offset: 0, epoch: 'e1' }); // holds the one read
    await r.flush();
    const [x1, x2] = [new Conn(), new Conn()];
    void r.hub.join(x1, 'x', { channel: 'x', offset: 0, epoch: 'e1' });
    void r.hub.join(x2, 'x', { channel: 'x', offset: 0, epoch: 'e1' });
    await r.flush();
    assert.equal(r.hub.stats.catchUp.waiting, 2, 'both wait for a turn');
    r.pending.shift()!.answer(); // y's read ends: x1's turn
    await r.flush();
    assert.deepEqual(r.pending.map((p) => `${p.req.channel}:${p.req.afterOffset}`), ['x:0'], 'one read for both');
    assert.equal(r.hub.stats.catchUp.waiting, 1, 'x2 left the line to share it; y\'s next page waits (previous code: 2)');
    for (let i = 0; i < 40 && r.pending.length > 0; i++) await r.releaseAll();
    assert.equal(r.seen().filter((q) => q.channel === 'x' && q.afterOffset === 0).length, 1, 'x after 0 read once (previous code: twice)');
    assert.deepEqual(pubOffsets(x1), range(1, 20));
    assert.deepEqual(pubOffsets(x2), range(1, 20));
    assert.ok(x1.socket.topics.has('x') && x2.socket.topics.has('x'));
    assert.equal(r.most(), 1, 'one read at a time');
    assert.equal(r.hub.stats.catchUp.readsInFlight, 0);
    assert.equal(r.hub.stats.catchUp.waiting, 0);
  });

  it('a join cancelled while it waits, on a channel the gateway follows, reports neither join nor leave', async () => {
    const r = rig(1);
    const member = new Conn();
    await r.hub.join(member, 'x'); // the gateway follows x
    await r.hub.join(new Conn(), 'y');
    void r.hub.join(new Conn(), 'y', { channel: 'y', offset: 0, epoch: 'e1' }); // holds the one read
    await r.flush();
    const [gone, closed] = [new Conn(), new Conn()];
    void r.hub.join(gone, 'x', { channel: 'x', offset: 0, epoch: 'e1' });
    void r.hub.join(closed, 'x', { channel: 'x', offset: 0, epoch: 'e1' });
    await r.flush();
    assert.equal(r.hub.stats.catchUp.waiting, 2);
    r.presence.length = 0;
    r.hub.leave(gone, 'x', true);
    closed.closed = true;
    r.hub.closed(closed);
    assert.equal(r.hub.stats.catchUp.waiting, 0);
    for (let i = 0; i < 40 && r.pending.length > 0; i++) await r.releaseAll();
    assert.deepEqual(r.presence.filter((e) => e.endsWith(' x')), [], 'no leave without a join (previous code: two leaves)');
    r.hub.leave(member, 'x');
    assert.deepEqual(r.presence.filter((e) => e.endsWith(' x')), [`leave ${member.id} x`], 'a joined member is still reported leaving');
  });
});

describe('recovery reads waiting for their turn, by user', () => {
  it('one user\'s burst of recovering joins does not queue ahead of another user\'s recovery', async () => {
    const r = rig(2);
    const channels = Array.from({ length: 8 }, (_, i) => `burst${i}`);
    for (const ch of [...channels, 'mine']) await r.hub.join(new Conn(), ch); // the gateway follows them (at 20)
    const burst: Conn[] = [];
    for (let k = 0; k < 3; k++) {
      const c = new Conn();
      burst.push(c);
      for (const ch of channels) void r.hub.join(c, ch, { channel: ch, offset: k, epoch: 'e1' }); // distinct offsets: no sharing
    }
    await r.flush();
    assert.equal(r.hub.stats.catchUp.waiting, 3 * 8 - 2);
    const victim = new OtherConn();
    void r.hub.join(victim, 'mine', { channel: 'mine', offset: 0, epoch: 'e1' });
    await r.flush();
    let ends = 0;
    while (!r.pending.some((p) => p.req.channel === 'mine')) {
      assert.ok(ends < 2, `the other user's first read still waits after ${ends} read ends (previous code: after the burst's 22 first reads)`);
      r.pending.shift()!.answer();
      await r.flush();
      ends++;
    }
    for (let i = 0; i < 80 && r.pending.length > 0; i++) await r.releaseAll();
    assert.equal(r.most(), 2, 'the cap holds');
    assert.deepEqual(pubOffsets(victim), range(1, 20));
    for (const [k, c] of burst.entries()) for (const ch of channels) {
      assert.deepEqual(c.socket.frames().filter((f): f is PubFrame => f.op === 'pub' && f.channel === ch).map((f) => f.offset), range(k + 1, 20));
    }
    assert.equal(r.hub.stats.catchUp.waiting, 0);
  });
});

describe('live messages while a recovering join waits for its turn', () => {
  it('a channel new to the gateway keeps the newest of them, not the oldest: none after its first read is lost', async () => {
    // One read at a time; 'hot' is new to the gateway, so its messages wait (early) until its first read answers.
    const pending: Array<{ req: ChannelHistoryRequest; answer: () => void }> = [];
    let latest = 20;
    const on = new Map<string, (m: ChannelArrival) => void>();
    const link: ChannelLink = {
      interest: (ch, cb) => { on.set(ch, cb); return { ready: Promise.resolve(), drop: () => {} }; },
      history: (req) => new Promise((resolve) => {
        const snapshot = req.channel === 'hot' ? latest : 20;
        const answer = (): void => resolve(historyPage(req, { epoch: 'e1', latest: snapshot }, 500));
        if (req.afterOffset === undefined) answer(); else pending.push({ req, answer });
      }),
      channelPresence: () => {},
    };
    const published: number[] = [];
    const options: ChannelOptions = Object.assign({ maxPerConnection: 8, repairAfterMs: 100, recoverWaitMs: 1000 }, { maxPageReads: 1 });
    const hub = new ChannelHub<Conn>(options, link, { publish: (ch: string, f: string | Uint8Array) => { if (ch === 'hot') published.push((JSON.parse(String(f)) as PubFrame).offset); } },
      (c, frame) => { c.socket.send(frame); }, () => 0);
    const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((res) => setImmediate(res)); };
    const arrive = (offset: number): void => { latest = Math.max(latest, offset); on.get('hot')!({ channel: 'hot', offset, epoch: 'e1', frame: encodePubRaw('hot', offset, 'e1', `m${offset}`, 1, String(offset)) }); };
    await hub.join(new Conn(), 'x');
    void hub.join(new Conn(), 'x', { channel: 'x', offset: 0, epoch: 'e1' }); // holds the one read
    const c = new Conn();
    void hub.join(c, 'hot', { channel: 'hot', offset: 0, epoch: 'e1' });
    await flush();
    assert.equal(hub.stats.catchUp.waiting, 1, 'hot\'s first read waits its turn');
    for (let off = 1; off <= 1100; off++) arrive(off); // more than the gateway keeps for a channel it has no position for
    pending.shift()!.answer(); // x's read ends: hot's first read goes (the history is at 1100)
    await flush();
    assert.deepEqual(pending.map((p) => p.req.channel), ['hot']);
    for (let off = 1101; off <= 1103; off++) arrive(off); // while hot's first read is in flight
    for (let i = 0; i < 20 && pending.length > 0; i++) { for (const p of pending.splice(0)) p.answer(); await flush(); }
    assert.deepEqual(published, range(1101, 1103), 'fanned out after the first read (previous code: none, dropped)');
    assert.deepEqual(pubOffsets(c), range(1, 1103));
    assert.ok(c.socket.topics.has('hot'));
    assert.equal(hub.stats.catchUp.readsInFlight, 0);
    assert.equal(hub.stats.catchUp.waiting, 0);
  });
});
