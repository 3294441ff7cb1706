/** The gateway core on the shared gateway bench (tests/helpers/gateway-harness.ts): hello, heartbeats and deadlines, frames and floods, pushes and acks, slow consumers, drain, kick. Admission: gateway-admission.test.ts; channels: gateway-channels.test.ts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close, encodeAck, encodeHeartbeat, type HelloFrame, type PushFrame } from '../../protocol/index.js';
import { admit, buf, flush, roomyGatewayBench, text } from '../helpers/gateway-harness.js';
import { SendStatus, type PushRecord, type ResumeReply } from '../../services/gateway/core/ports.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';

const setup = roomyGatewayBench;

describe('GatewayCore', () => {
  it('sends hello with session, ids, heartbeat bounds and limits after resume answers', async () => {
    const { core, hs, link } = setup();
    const s = new FakeClientSocket();
    core.open(s, hs());
    assert.equal(s.sent.length, 0, 'nothing before the session service answers');
    await flush();
    const hello = s.frames()[0] as HelloFrame;
    assert.equal(hello.op, 'hello');
    assert.equal(hello.session, 's-new');
    assert.equal(hello.gateway, 'gw-test');
    assert.equal(hello.resumed, false);
    assert.deepEqual(hello.hb, { minMs: 1000, maxMs: 60_000, intervalMs: 10_000, graceMs: 2000 });
    assert.deepEqual(hello.limits, { maxPayload: 1024, ratePerSec: 10, burst: 20 });
    // The resume request registers the connection (the router applies it before reading the inbox).
    assert.deepEqual(link.resumes[0], { user: 'alice', device: 'd1', gateway: 'gw-test', conn: hello.conn, session: undefined, lastSeq: undefined });
    assert.equal(link.presenceEvents.length, 0, 'no separate online event');
    assert.equal(core.connections, 1);
  });

  it('answers a bare heartbeat with a 1-byte ack', async () => {
    const { core, hs } = setup();
    const s = new FakeClientSocket();
    const c = core.open(s, hs());
    await flush();
    core.message(c, buf(encodeHeartbeat()), true);
    const last = s.sent.at(-1)!;
    assert.equal(last.isBinary, true);
    assert.deepEqual([...(last.data as Uint8Array)], [0x02]);
    assert.equal(core.stats.heartbeats, 1);
  });

  it('counts a bare heartbeat once yet reports it in every total; a dropped bare ack closes as a slow consumer', async () => {
    const { core, hs } = setup();
    const s = new FakeClientSocket();
    const c = core.open(s, hs());
    await flush();
    const before = { framesOut: core.stats.framesOut, bytesOut: core.stats.bytesOut };
    for (let i = 0; i < 3; i++) core.message(c, buf(encodeHeartbeat()), true);
    core.message(c, buf(encodeAck(0)), true);
    assert.equal(core.stats.bareHeartbeats, 3);
    assert.equal(core.stats.heartbeats, 3);
    assert.equal(core.stats.framesIn, 4);
    assert.equal(core.stats.bytesIn, 3 + encodeAck(0).byteLength);
    assert.equal(core.stats.framesOut - before.framesOut, 3);
    assert.equal(core.stats.bytesOut - before.bytesOut, 3);
    // A 1-byte binary frame that is not a heartbeat takes the general path and its error.
    core.message(c, buf(Uint8Array.of(0x7f)), true);
    assert.equal(s.code(), Close.INVALID_FRAME);
    assert.equal(core.stats.framesIn, 5);

    const t = new FakeClientSocket();
    const d = core.open(t, hs('bob'));
    await flush();
    t.nextStatus = SendStatus.DROPPED;
    core.message(d, buf(encodeHeartbeat()), true);
    assert.equal(t.code(), Close.SLOW_CONSUMER);
    assert.equal(core.stats.backpressureDrops, 2, 'the ack, then the close\'s error frame');
  });

  it('closes an idle connection within interval x 1.5 + grace (+ one tick) with HEARTBEAT_TIMEOUT', async () => {
    const { core, hs, run } = setup();
    const s = new FakeClientSocket();
    core.open(s, hs());
    await flush();
    const deadline = 10_000 * 1.5 + 2000;
    run(deadline - 100);
    assert.equal(s.ended, undefined, 'not before the deadline');
    run(200);
    assert.equal(s.code(), Close.HEARTBEAT_TIMEOUT);
    assert.equal(s.frames().at(-1)?.op, 'error', 'error frame precedes the close');
    assert.equal(core.stats.heartbeatTimeouts, 1);
    assert.equal(core.connections, 0);
    assert.equal(s.touchedAfterEnd, false);
  });

  it('any frame resets the deadline (last-packet time)', async () => {
    const { core, hs, run } = setup();
    const s = new FakeClientSocket();
    const c = core.open(s, hs());
    await flush();
    for (let i = 0; i < 5; i++) {
      run(15_000);
      core.message(c, buf(encodeAck(0)), true); // not a heartbeat, still liveness
    }
    assert.equal(s.ended, undefined);
    run(17_100);
    assert.equal(s.code(), Close.HEARTBEAT_TIMEOUT);
  });

  it('heartbeat checking off keeps an idle connection open', async () => {
    const { core, hs, run } = setup({ hb: { minMs: 1000, maxMs: 60_000, defaultMs: 10_000, graceMs: 2000, check: false, log: false } });
    const s = new FakeClientSocket();
    core.open(s, hs());
    await flush();
    run(120_000);
    assert.equal(s.ended, undefined);
  });

  it('announced intervals are clamped, move the deadline, and the ack says the clamped value', async () => {
    const { core, hs, run } = setup();
    const s = new FakeClientSocket();
    const c = core.open(s, hs());
    await flush();
    core.message(c, buf(encodeHeartbeat(120_000)), true); // above max 60 s
    const ack = s.frames().at(-1)!;
    assert.deepEqual(ack, { op: 'heartbeat_ack', intervalMs: 60_000 });
    run(60_000 * 1.5 + 2000 - 200);
    assert.equal(s.ended, undefined, 'longer interval honoured');
    core.message(c, buf(encodeHeartbeat(2000)), true); // shorter: deadline moves earlier
    assert.deepEqual(s.frames().at(-1), { op: 'heartbeat_ack' }, 'nothing to say when not clamped');
    run(2000 * 1.5 + 2000 + 200);
    assert.equal(s.code(), Close.HEARTBEAT_TIMEOUT);
  });

  it('closes with TOKEN_EXPIRED when the token runs out mid-session', async () => {
    const { core, hs, run } = setup();
    const s = new FakeClientSocket();
    const c = core.open(s, hs('alice', 'd1', { tokenExpiresAt: 5000 }));
    await flush();
    run(3000);
    core.message(c, buf(encodeHeartbeat()), true);
    run(2100);
    assert.equal(s.code(), Close.TOKEN_EXPIRED);
  });

  it('bad frames, oversize frames and floods get their close codes; other connections are unaffected', async () => {
    const { core, hs } = setup();
    const bad = new FakeClientSocket(), big = new FakeClientSocket(), flood = new FakeClientSocket(), ok = new FakeClientSocket();
    const cb = core.open(bad, hs('u1')), cg = core.open(big, hs('u2')), cf = core.open(flood, hs('u3')), co = core.open(ok, hs('u4'));
    await flush();
    core.message(cb, text('{"op":"nope"}'), false);
    core.message(cg, new ArrayBuffer(2000), true);
    for (let i = 0; i < 25; i++) core.message(cf, buf(encodeHeartbeat()), true);
    assert.equal(bad.code(), Close.INVALID_FRAME);
    assert.match((bad.frames().at(-1) as { message: string }).message, /unknown op/);
    assert.equal(big.code(), Close.MESSAGE_TOO_BIG);
    assert.equal(flood.code(), Close.RATE_LIMITED);
    core.message(co, buf(encodeHeartbeat()), true);
    assert.equal(ok.ended, undefined);
    assert.equal(core.connections, 1);
    assert.equal(core.stats.closedByReason.get('INVALID_FRAME'), 1);
  });

  it('a newer connection for the same user and device replaces the older one', async () => {
    const { core, hs } = setup();
    const a = new FakeClientSocket(), b = new FakeClientSocket(), other = new FakeClientSocket();
    core.open(a, hs('alice', 'phone'));
    core.open(other, hs('alice', 'laptop'));
    core.open(b, hs('alice', 'phone'));
    await flush();
    assert.equal(a.code(), Close.REPLACED);
    assert.equal(b.ended, undefined);
    assert.equal(other.ended, undefined);
    assert.equal(core.connections, 2);
  });

  it('delivers pushes; those arriving during the resume replay are de-duplicated and ordered after it', async () => {
    const { core, hs, link } = setup();
    const rec = (seq: number): PushRecord => ({ seq, id: `m${seq}`, ts: 1, data: `{"n":${seq}}` });
    let answer!: (r: ResumeReply) => void;
    link.resumeReply = () => new Promise((r) => { answer = r; });
    const s = new FakeClientSocket();
    core.open(s, hs('alice', 'd1', { session: 's-old', lastSeq: 3 }));
    core.deliver({ user: 'alice', pushes: [rec(5)] }); // overlaps the replay
    core.deliver({ user: 'alice', pushes: [rec(6)] }); // newer than the replay
    answer({ session: 's-old', resumed: true, latestSeq: 6, pushes: [rec(4), rec(5)] });
    await flush();
    const frames = s.frames();
    assert.equal((frames[0] as HelloFrame).resumed, true);
    assert.deepEqual(frames.slice(1).map((f) => (f as PushFrame).seq), [4, 5, 6]);
    assert.deepEqual((frames[1] as PushFrame).data, { n: 4 });
    core.deliver({ user: 'alice', pushes: [rec(7)] });
    assert.equal((s.frames().at(-1) as PushFrame).seq, 7);
    assert.equal(core.deliver({ user: 'bob', pushes: [rec(1)] }), 0);
  });

  it('closes with INTERNAL_ERROR when the session service cannot answer', async () => {
    const { core, hs, link } = setup();
    link.resumeReply = () => Promise.reject(new Error('down'));
    const s = new FakeClientSocket();
    core.open(s, hs());
    await flush();
    assert.equal(s.code(), Close.INTERNAL_ERROR);
    assert.equal(core.stats.resumeOutcomes.get('failed'), 1);
  });

  it('acks forward the highest cumulative seq only; heartbeat acks carry seq while the client is behind', async () => {
    const { core, hs, link } = setup();
    const s = new FakeClientSocket();
    const c = core.open(s, hs());
    await flush();
    core.deliver({ user: 'alice', pushes: [{ seq: 1, id: 'a', ts: 1, data: '1' }, { seq: 2, id: 'b', ts: 1, data: '2' }] });
    core.message(c, buf(encodeHeartbeat()), true);
    assert.deepEqual(s.frames().at(-1), { op: 'heartbeat_ack', seq: 2 });
    core.message(c, buf(encodeAck(2)), true);
    core.message(c, buf(encodeAck(1)), true);
    assert.deepEqual(link.acks, [['alice', 'd1', 2]]);
    core.message(c, buf(encodeHeartbeat()), true);
    assert.deepEqual(s.frames().at(-1), { op: 'heartbeat_ack' });
  });

  it('writes the pushes of one delivery to a socket in one cork (one write for a coalesced bus message)', async () => {
    const { core, hs } = setup();
    const s = new FakeClientSocket();
    core.open(s, hs());
    await flush();
    const before = s.sent.length;
    core.deliver({ user: 'alice', pushes: [1, 2, 3].map((seq) => ({ seq, id: `p${seq}`, ts: 1, data: String(seq) })) });
    assert.deepEqual(s.frames().slice(before).map((f) => (f as PushFrame).seq), [1, 2, 3]);
    const corks = s.corkOf.slice(before);
    assert.ok(corks[0]! > 0, 'written inside a cork');
    assert.deepEqual(corks, [corks[0], corks[0], corks[0]], 'all three in the same cork');
  });

  it('closes a slow consumer whose buffer stays over its bound past the write timeout, and on overflow at once', async () => {
    const { core, hs, run } = setup();
    const slow = new FakeClientSocket(), full = new FakeClientSocket();
    const cs = core.open(slow, hs('u1'));
    core.open(full, hs('u2'));
    await flush();
    slow.nextStatus = SendStatus.BACKPRESSURE;
    slow.buffered = 5000;
    core.deliver({ user: 'u1', pushes: [{ seq: 1, id: 'a', ts: 1, data: '1' }] });
    run(2000);
    core.message(cs, buf(encodeHeartbeat()), true); // liveness does not excuse a stuck writer
    assert.equal(slow.ended, undefined);
    run(1200);
    assert.equal(slow.code(), Close.SLOW_CONSUMER);
    full.nextStatus = SendStatus.DROPPED;
    core.deliver({ user: 'u2', pushes: [{ seq: 1, id: 'a', ts: 1, data: '1' }] });
    assert.equal(full.code(), Close.SLOW_CONSUMER);
    assert.equal(core.stats.backpressureDrops, 2, 'the push and the error frame after it were both dropped');
    assert.equal(core.stats.slowConsumerCloses, 2);
  });

  it('a writer that recovers is not closed', async () => {
    const { core, hs, run } = setup();
    const s = new FakeClientSocket();
    const c = core.open(s, hs());
    await flush();
    s.nextStatus = SendStatus.BACKPRESSURE;
    s.buffered = 5000;
    core.deliver({ user: 'alice', pushes: [{ seq: 1, id: 'a', ts: 1, data: '1' }] });
    run(1000);
    s.buffered = 0;
    core.sendBufferDrained(c);
    run(5000);
    core.message(c, buf(encodeHeartbeat()), true);
    assert.equal(s.ended, undefined);
  });

  it('drain: reconnect frames with jittered delays paced over the window, then DRAINING closes; admission refuses', async () => {
    const { core, hs, run } = setup({ drain: { windowMs: 1000, reconnectJitterMs: 500 } });
    const socks = Array.from({ length: 20 }, () => new FakeClientSocket());
    socks.forEach((s, i) => core.open(s, hs(`u${i}`)));
    await flush();
    let done = false;
    void core.startDrain().then(() => { done = true; });
    const refused = admit(core);
    assert.equal(refused.ok, false);
    const closedAfterFirstTick = socks.filter((s) => s.ended).length;
    assert.ok(closedAfterFirstTick > 0 && closedAfterFirstTick < 20, `paced: ${closedAfterFirstTick} closed at start`);
    run(500);
    const mid = socks.filter((s) => s.ended).length;
    assert.ok(mid > closedAfterFirstTick && mid < 20, `paced: ${mid} closed mid-window`);
    run(600);
    await flush();
    assert.ok(socks.every((s) => s.code() === Close.DRAINING));
    const rec = socks[0]!.frames().find((f) => f.op === 'reconnect');
    assert.deepEqual(rec, { op: 'reconnect', delayMs: 250, reason: 'gateway draining' });
    assert.equal(done, true);
    assert.equal(core.connections, 0);
  });

  it('kick and logout close the right connections with their codes', async () => {
    const { core, hs } = setup();
    const a = new FakeClientSocket(), b = new FakeClientSocket(), c = new FakeClientSocket();
    core.open(a, hs('alice', 'phone'));
    core.open(b, hs('alice', 'laptop'));
    core.open(c, hs('bob', 'phone'));
    await flush();
    assert.equal(core.control({ type: 'logout', user: 'alice', device: 'laptop' }), 1);
    assert.equal(b.code(), Close.LOGGED_OUT);
    assert.equal(core.control({ type: 'kick', user: 'alice' }), 1);
    assert.equal(a.code(), Close.KICKED);
    assert.equal(c.ended, undefined);
  });
});
