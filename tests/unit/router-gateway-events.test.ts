/**
 * What gateways tell the router (services/router/core/gateway-events.ts):
 * resume and gap repair, bounded resume work, acks, malformed messages, and
 * presence healing after a lapsed lease (resync, catch-up).
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMsg, encodeMsg } from '../../services/shared/bus/bus.js';
import type { ResumeReply } from '../../services/gateway/core/ports.js';
import type { Presence } from '../../services/router/core/presence.js';
import type { Sessions } from '../../services/router/core/sessions.js';
import { fetchAfter, resume, setup, stopRouters, withGatewayA } from '../helpers/router-harness.js';
import { flush, roomyGatewayBench } from '../helpers/gateway-harness.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';
import { Close } from '../../protocol/index.js';

afterEach(stopRouters);

describe('RouterCore resume and acks', () => {
  it('fresh, resumed and rejected sessions get the right missed pushes, in order', async () => {
    const t = setup();
    const fresh = await resume(t, { user: 'u1', device: 'phone' });
    assert.equal(fresh.resumed, false);
    assert.equal(fresh.latestSeq, 0);
    assert.deepEqual(fresh.pushes, []);
    for (let i = 1; i <= 4; i++) await t.core.push({ users: ['u1'], data: i });

    const resumed = await resume(t, { user: 'u1', device: 'phone', session: fresh.session, lastSeq: 1 });
    const { epoch } = await t.inbox.position('u1');
    assert.equal(fresh.epoch, 0, 'no sequence yet');
    assert.deepEqual({ ...resumed, pushes: resumed.pushes.map((p) => p.seq) }, { session: fresh.session, resumed: true, latestSeq: 4, epoch, pushes: [2, 3, 4] });
    assert.deepEqual(resumed.pushes.map((p) => p.data), ['2', '3', '4']);

    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u1', 'phone', 2]] }));
    await t.settle();
    const rejected = await resume(t, { user: 'u1', device: 'phone', session: 'stale', lastSeq: 0 });
    assert.equal(rejected.resumed, false);
    assert.notEqual(rejected.session, fresh.session);
    assert.deepEqual(rejected.pushes.map((p) => p.seq), [3, 4], 'a fresh session gets what the device has not acked');

    const tablet = await resume(t, { user: 'u1', device: 'tablet' });
    assert.deepEqual(tablet.pushes.map((p) => p.seq), [3, 4], 'a new device gets what is still stored');
    assert.deepEqual(Object.fromEntries(t.core.stats.resumes), { fresh: 2, resumed: 1, rejected: 1 });
  });

  // protocol.md 6 and 7: the inbox keeps a push until every device that has
  // acked at least once has acked it; a resume replays from last_seq, not
  // from the device's cursor; a device with no cursor gets all that is stored.
  it('last_seq=0 on a resumed session replays acked pushes still stored; a never-seen device gets all stored', async () => {
    const t = setup();
    const phone = await resume(t, { user: 'u2', device: 'phone' });
    for (let i = 1; i <= 4; i++) await t.core.push({ users: ['u2'], data: i });
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u2', 'tablet', 1], ['u2', 'phone', 3]] }));
    await t.settle();
    const again = await resume(t, { user: 'u2', device: 'phone', session: phone.session, lastSeq: 0 });
    assert.equal(again.resumed, true);
    assert.deepEqual(again.pushes.map((p) => p.seq), [2, 3, 4], 'seq 2 and 3 were acked by this device but the tablet still needs them');
    const watch = await resume(t, { user: 'u2', device: 'watch' });
    assert.deepEqual(watch.pushes.map((p) => p.seq), [2, 3, 4], 'no cursor: everything still stored, not only what arrives after the first connect');
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u2', 'tablet', 4]] }));
    await t.settle();
    const trimmed = await resume(t, { user: 'u2', device: 'phone', session: phone.session, lastSeq: 0 });
    assert.deepEqual(trimmed.pushes.map((p) => p.seq), [4], 'once every known device acked, a push is gone even for last_seq=0');
  });

  it('caps the pushes returned to one resume', async () => {
    const t = setup({ options: { maxResumePushes: 3 } });
    for (let i = 1; i <= 5; i++) await t.core.push({ users: ['u1'], data: i });
    const r = await resume(t, { user: 'u1', device: 'phone' });
    assert.deepEqual(r.pushes.map((p) => p.seq), [1, 2, 3]);
    assert.equal(r.latestSeq, 5);
  });

  it('bounds a resume page in bytes (at least one push) and says there is more; fetched pages continue after a seq', async () => {
    const t = setup({ options: { maxBusMessageBytes: 40_000 } });
    for (let i = 1; i <= 7; i++) await t.core.push({ users: ['u1'], data: 'x'.repeat(9_000) });
    const first = await resume(t, { user: 'u1', device: 'phone' });
    assert.deepEqual(first.pushes.map((p) => p.seq), [1, 2], 'about half a bus message of data per page');
    assert.equal(first.more, true);
    const next = await fetchAfter(t, { user: 'u1', device: 'phone', afterSeq: 2 });
    assert.deepEqual({ ...next, pushes: next.pushes.map((p) => p.seq) }, { latestSeq: 7, epoch: (await t.inbox.position('u1')).epoch, pushes: [3, 4], more: true });
    const last = await fetchAfter(t, { user: 'u1', device: 'phone', afterSeq: 6 });
    assert.deepEqual(last.pushes.map((p) => p.seq), [7]);
    assert.equal(last.more, undefined, 'the end of the inbox');
    await t.core.push({ users: ['u1'], data: 'y'.repeat(50_000) });
    const big = await fetchAfter(t, { user: 'u1', device: 'phone', afterSeq: 7 });
    assert.deepEqual(big.pushes.map((p) => p.seq), [8], 'a push over the page bound still goes, alone');
    assert.deepEqual(Object.fromEntries(t.core.stats.resumes), { fresh: 1 }, 'a fetch is not a resume');
    const sessions = await t.sessions.open('u1', 'phone', first.session);
    assert.equal(sessions.resumed, true, 'a fetch leaves the session alone');
    const bad = await t.bus.request(t.s.fetch, encodeMsg({ user: 'u1', device: 'phone' }), { timeoutMs: 1000 });
    assert.equal(decodeMsg<{ error: { code: string } }>(bad.data)!.error.code, 'LL_API_VALIDATION', 'a fetch without afterSeq is refused');
  });

  it('bounds concurrent resumes: a full queue refuses at once, a request past its start deadline is dropped unapplied and answered with a retry hint', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let onlines = 0;
    const t = setup({
      options: { resumeConcurrency: 1, resumeQueue: 1 },
      presence: (p) => Object.assign(Object.create(p) as Presence, {
        online: async (ev: Parameters<Presence['online']>[0]) => { if (onlines++ === 0) await gate; return p.online(ev); },
      }),
    });
    const ask = (user: string, timeoutMs = 200): Promise<unknown> =>
      t.bus.request(t.s.resume, encodeMsg({ gateway: 'gwX', conn: `c-${user}`, user, device: 'd', timeoutMs: 1000 }), { timeoutMs })
        .then((m) => decodeMsg<unknown>(m.data));
    const a = ask('a', 5000);
    await t.settle();
    const b = ask('b').then((r) => r as { error: { code: string; retryAfterMs?: number } }, () => 'no answer');
    await t.settle();
    assert.equal(t.router.resumeWork.inFlight, 1);
    assert.equal(t.router.resumeWork.queued, 1);
    const c = await ask('c');
    assert.deepEqual((c as { error: { code: string } }).error.code, 'LL_ROUTER_OVERLOADED', 'queue full: refused at once');
    t.clock.advance(801); // past 80 % of b's 1000 ms budget
    release();
    assert.equal((await a as ResumeReply).resumed, false);
    // The deadline leaves the gateway 20 % of its budget: it is told to come back (1013 + delay), not left to time out (1011).
    const bAnswer = await b;
    assert.ok(typeof bAnswer === 'object' && bAnswer.error.code === 'LL_ROUTER_OVERLOADED' && (bAnswer.error.retryAfterMs ?? 0) >= 250, `b answered overloaded with a hint: ${JSON.stringify(bAnswer)}`);
    assert.equal(onlines, 1, 'b never registered its connection');
    assert.deepEqual(await t.presence.lookup('b'), []);
    assert.deepEqual(t.router.resumeWork.stats, { started: 1, expired: 1, shed: 1, agedOut: 0 });
  });

  // A start the gateway gave up on (its resume timeout fired, it closed that connection; the
  // offline was lost to a failing store) must not displace the client's newer connection when
  // the router finishes it late: that connection would be closed 4003, which clients do not retry.
  it('a session start finished past the gateway\'s timeout registers nothing and never replaces the newer connection', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const t = setup({
      sessions: (s) => Object.assign(Object.create(s) as Sessions, {
        open: async (user: string, device: string, session: string | undefined) => {
          if (user === 'u' && device === 'phone' && session === 'slow') await gate;
          return s.open(user, device, session);
        },
      }),
    });
    const gwA = t.gw('gwA');
    const gwB = t.gw('gwB');
    const late = t.bus.request(t.s.resume, encodeMsg({ gateway: 'gwA', conn: 'cOld', user: 'u', device: 'phone', session: 'slow', timeoutMs: 1000 }), { timeoutMs: 5000 })
      .then((m) => decodeMsg<unknown>(m.data), () => 'no answer');
    await t.settle();
    assert.equal(t.router.resumeWork.inFlight, 1, 'the old start is running, stuck in the store');
    t.clock.advance(1500); // the gateway's 1000 ms resume timeout fired: it closed cOld; the client reconnected
    const fresh = await resume(t, { user: 'u', device: 'phone', gateway: 'gwB', conn: 'cNew', timeoutMs: 1000 });
    assert.equal(fresh.resumed, false);
    release();
    const answer = await late;
    await t.settle();
    assert.equal((answer as { error?: { code: string } }).error?.code, 'LL_ROUTER_OVERLOADED', `abandoned, not answered as started: ${JSON.stringify(answer)}`);
    assert.equal(t.core.stats.resumes.get('abandoned'), 1);
    assert.deepEqual(gwB.controls, [], 'the live newer connection is not told it was replaced');
    assert.deepEqual(gwA.controls, []);
    assert.deepEqual((await t.presence.lookup('u')).map((e) => e.conn), ['cNew'], 'the newer connection keeps its directory entry');
    assert.equal(t.core.stats.replaces, 0);
  });

  // The deadline check cannot reach a registration already sent to a stalling store: the start
  // stamp (PresenceEvent.start) makes the store itself refuse it once a newer start registered.
  it('a session start whose registration lands after a newer start\'s is refused as stale; the older connection is closed as replaced', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const t = setup({
      presence: (p) => Object.assign(Object.create(p) as Presence, {
        online: async (ev: Parameters<Presence['online']>[0], max?: number) => { if (ev.conn === 'cOld') await gate; return p.online(ev, max); },
      }),
    });
    const gwA = t.gw('gwA');
    const gwB = t.gw('gwB');
    const late = t.bus.request(t.s.resume, encodeMsg({ gateway: 'gwA', conn: 'cOld', user: 'u', device: 'phone', timeoutMs: 1000 }), { timeoutMs: 5000 })
      .then((m) => decodeMsg<{ error?: { code: string } }>(m.data)!);
    await t.settle();
    t.clock.advance(10);
    await resume(t, { user: 'u', device: 'phone', gateway: 'gwB', conn: 'cNew', timeoutMs: 1000 });
    release();
    assert.equal((await late).error?.code, 'LL_SESSION_REPLACED', 'the gateway closes the older connection 4003, as if replaced');
    await t.settle();
    assert.deepEqual(gwB.controls, [], 'the newer connection is not told it was replaced');
    assert.deepEqual(gwA.controls, []);
    assert.deepEqual((await t.presence.lookup('u')).map((e) => e.conn), ['cNew']);
    assert.equal(t.core.stats.resumes.get('stale'), 1);
  });

  // A start the router registered in time but whose answer reached the gateway too late (1011),
  // then the client on another gateway, then (that start failing too) back on the first one:
  // the displacement notice for the first attempt reaches its gateway after the client's newest
  // connection opened there. Closing by (user, device) would close that one 4003 (never retried).
  it('a late replace command closes only the displaced connection, never a newer one of the device on that gateway', async () => {
    const t = setup();
    const gwTest = t.gw('gw-test');
    const g = roomyGatewayBench(); // gateway id gw-test, connection ids c1, c2, ...
    g.link.resumeReply = async () => { throw new Error('resume timed out'); };
    const a = new FakeClientSocket();
    g.core.open(a, g.hs('alice', 'phone'));
    await flush();
    assert.equal(a.code(), Close.INTERNAL_ERROR, 'attempt c1 gave up at the gateway');
    // ... though the router registered it (its answer was late, not its registration: no abandoned, no stale).
    await resume(t, { user: 'alice', device: 'phone', gateway: 'gw-test', conn: 'c1', timeoutMs: 1000 });
    t.clock.advance(10);
    // The client's next attempt, on gwB, registers and displaces c1 (correct: it is newer).
    await resume(t, { user: 'alice', device: 'phone', gateway: 'gwB', conn: 'b1', timeoutMs: 1000 });
    await t.settle();
    assert.equal(t.core.stats.replaces, 1);
    assert.equal(t.core.stats.resumes.get('abandoned'), undefined);
    assert.equal(t.core.stats.resumes.get('stale'), undefined);
    // Meanwhile the client is back on gw-test (its gwB attempt ended too) and started there.
    g.link.resumeReply = async (req) => ({ session: req.session ?? 's-new', resumed: false, latestSeq: 0, pushes: [] });
    const c = new FakeClientSocket();
    const live = g.core.open(c, g.hs('alice', 'phone'));
    await flush();
    assert.equal(live.id, 'c2');
    assert.equal(c.frames()[0]?.op, 'hello');
    // Now the notice for c1 arrives.
    assert.equal(gwTest.controls.length, 1);
    for (const cmd of gwTest.controls) g.core.control(cmd);
    assert.equal(c.ended, undefined, `the live newer connection stays open (closed ${String(c.code())})`);
    assert.equal(g.core.connections, 1);
    // A displaced connection still open when its notice arrives is closed as replaced.
    const d = new FakeClientSocket();
    const old = g.core.open(d, g.hs('alice', 'tablet'));
    await flush();
    g.core.control({ type: 'replace', user: 'alice', device: 'tablet', keepConn: 'b2', conns: [old.id] });
    assert.equal(d.code(), Close.REPLACED);
    assert.equal(c.ended, undefined);
  });

  it('bounds presence events applied at once: a re-announcement burst waits in a FIFO, in arrival order; a full queue drops and counts', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let running = 0, most = 0;
    const started: string[] = [];
    const t = setup({
      options: { presenceConcurrency: 4, presenceQueue: 40 },
      presence: (p) => Object.assign(Object.create(p) as Presence, {
        online: async (ev: Parameters<Presence['online']>[0]) => {
          started.push(ev.user);
          most = Math.max(most, ++running);
          await gate;
          try { return await p.online(ev); } finally { running--; }
        },
      }),
    });
    const a = t.gw('A');
    // One gateway re-announcing 50 connections in one turn (bus-link.ts reannounce).
    for (let i = 0; i < 50; i++) a.presence('online', `u${i}`, 'd', `c${i}`);
    await t.settle();
    assert.equal(running, 4, 'only presenceConcurrency events touch the store at once');
    assert.equal(t.router.presenceWork.queued, 40);
    assert.equal(t.router.presenceWork.stats.shed, 6, 'past the queue: dropped and counted');
    release();
    for (let i = 0; i < 20 && t.router.presenceWork.stats.started < 44; i++) await t.settle();
    await t.settle();
    assert.equal(most, 4);
    assert.deepEqual(started, Array.from({ length: 44 }, (_, i) => `u${i}`), 'started in arrival order');
    assert.equal((await t.presence.lookup('u43')).length, 1);
    assert.deepEqual(await t.presence.lookup('u44'), [], 'a dropped event was never applied');
  });

  it('acks move cursors and trim what every known device has acked', async () => {
    const t = setup();
    for (let i = 1; i <= 4; i++) await t.core.push({ users: ['u1'], data: i });
    // In order: the tablet's ack makes it a known device before the phone's ack trims.
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u1', 'tablet', 1], ['u1', 'phone', 3]] }));
    await t.settle();
    assert.equal(await t.inbox.acked('u1', 'phone'), 3);
    assert.deepEqual((await t.inbox.since('u1', 0, 10)).map((r) => r.seq), [2, 3, 4]);
    assert.equal(t.core.stats.inboxTrims, 1);
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u1', 'tablet', 4]] }));
    await t.settle();
    assert.deepEqual((await t.inbox.since('u1', 0, 10)).map((r) => r.seq), [4]);
  });

  it('counts and drops malformed gateway messages', async () => {
    const t = setup();
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u1', 'phone', 'x']] }));
    t.bus.publish(t.s.presence, encodeMsg({ type: 'online' }));
    t.bus.publish(t.s.beacon, new TextEncoder().encode('not json'));
    await t.settle();
    assert.equal(t.core.stats.busErrors, 3);
  });
});

describe('RouterCore presence healing', () => {
  it('asks a gateway whose lease lapsed while it held connections to re-announce them; re-announced connections catch up from the inbox', async () => {
    const { t, syncs, a } = withGatewayA();
    await t.settle();
    assert.deepEqual(syncs, [], 'a fresh gateway with no connections');
    a.presence('online', 'u1', 'phone', 'a1');
    await t.settle();
    await t.core.push({ users: ['u1'], data: 1 });
    t.clock.advance(5000);
    a.beacon('boot-a', 1);
    await t.settle();
    assert.deepEqual(syncs, [], 'a beacon in time renews the lease');
    t.clock.advance(10_001); // beacons applied late: the lease (10 s here) lapsed
    assert.equal((await t.core.push({ users: ['u1'], data: 2 })).results[0]!.status, 'offline', 'lapsed: the entry no longer routes');
    a.beacon('boot-a', 1);
    await t.settle();
    assert.deepEqual(syncs, [{ gateway: 'A' }], 'only the lapsed gateway is asked');
    assert.equal(t.core.stats.resyncs, 1);
    // The gateway's re-announcement names what it last wrote to the connection: seq 1.
    const reannounce = (seq: number): void => t.bus.publish(t.s.presence, encodeMsg({ type: 'online', user: 'u1', device: 'phone', conn: 'a1', session: 's', gateway: 'A', at: 1, seq }));
    reannounce(1);
    await t.settle();
    assert.deepEqual(a.pushes(), ['u1:1', 'u1:2'], 'the push stored during the lapse is sent');
    assert.equal(a.messages.at(-1)![0]!.device, 'phone', 'to that device only');
    await t.core.push({ users: ['u1'], data: 3 });
    assert.deepEqual(a.pushes(), ['u1:1', 'u1:2', 'u1:3'], 'routes live again');
    reannounce(3);
    await t.settle();
    assert.equal(a.pushes().length, 3, 'nothing missed: nothing sent');
    assert.equal(t.core.stats.catchUps, 1);
    assert.deepEqual((await t.presence.lookup('u1')).map((e) => Object.keys(e).sort()), [['conn', 'device', 'gateway', 'session', 'since', 'user']], 'the watermark is not stored');
  });

  it('an online that re-registers a lapsed gateway (before its late beacon) also asks it to re-announce', async () => {
    const { t, syncs, a } = withGatewayA();
    a.presence('online', 'u1', 'phone', 'a1');
    await t.settle();
    assert.deepEqual(syncs, []);
    t.clock.advance(10_001);
    a.presence('online', 'u2', 'phone', 'a2'); // a session start reaches the router before the late beacon
    await t.settle();
    assert.deepEqual(syncs, [{ gateway: 'A' }]);
    a.beacon('boot-a', 2);
    await t.settle();
    assert.deepEqual(syncs, [{ gateway: 'A' }], 'the lease is alive again: the beacon asks nothing more');
  });
  // A store stalled past the command timeout still runs the queued beacon when it wakes: the lease
  // had lapsed, so that beacon re-registered the gateway (dropping its entries), but its answer was lost.
  it('a beacon whose answer was lost (it may have re-registered the gateway) makes the next answered beacon ask for a re-announcement; failed re-announcements are asked again with backoff', async () => {
    let lose = 0;
    let failOnline = 0;
    const t = setup({
      presence: (p) => Object.assign(Object.create(p) as Presence, {
        beacon: async (b: Parameters<Presence['beacon']>[0]) => { const r = await p.beacon(b); if (lose > 0) { lose--; throw new Error('Command timed out'); } return r; },
        online: async (ev: Parameters<Presence['online']>[0]) => { if (failOnline > 0) { failOnline--; throw new Error('Command timed out'); } return p.online(ev); },
      }),
    });
    const syncs: unknown[] = [];
    t.bus.subscribe(t.s.sync, (m) => syncs.push(decodeMsg<unknown>(m.data)));
    const a = t.gw('A');
    a.beacon('boot-a', 0);
    a.presence('online', 'u1', 'phone', 'a1');
    await t.settle();
    t.clock.advance(10_001); // the lease lapsed during the stall
    lose = 1;
    a.beacon('boot-a', 1); // ran in the store (re-registered A, dropped u1) but the router saw a timeout
    await t.settle();
    assert.deepEqual(syncs, []);
    assert.deepEqual(await t.presence.lookup('u1'), [], 'the entry is gone');
    t.clock.advance(500);
    a.beacon('boot-a', 1); // the lease is alive again: registered is false, yet the gateway owes a re-announcement
    await t.settle();
    assert.deepEqual(syncs, [{ gateway: 'A' }]);
    // Its re-announcement fails (the next stall): asked again, but not before the backoff gap (1 s, then 2 s).
    failOnline = 1;
    t.bus.publish(t.s.presence, encodeMsg({ type: 'online', user: 'u1', device: 'phone', conn: 'a1', session: 's', gateway: 'A', at: 2, seq: 0 }));
    await t.settle();
    t.clock.advance(500);
    a.beacon('boot-a', 1);
    await t.settle();
    assert.equal(syncs.length, 1, 'within the gap: not yet');
    t.clock.advance(600);
    a.beacon('boot-a', 1);
    await t.settle();
    assert.equal(syncs.length, 2, 'after the gap: asked again');
    t.bus.publish(t.s.presence, encodeMsg({ type: 'online', user: 'u1', device: 'phone', conn: 'a1', session: 's', gateway: 'A', at: 3, seq: 0 }));
    await t.settle();
    assert.equal((await t.presence.lookup('u1')).length, 1, 'listed again');
    t.clock.advance(5000);
    a.beacon('boot-a', 1);
    await t.settle();
    assert.equal(syncs.length, 2, 'nothing owed: nothing asked');
    assert.equal(t.core.stats.resyncs, 2);
  });
});
