/**
 * The gateway core's admission on the shared gateway bench: the connection
 * limit and connect rate, sessions waiting for the router, the adaptive
 * session-start limit, a router shedding starts, and the per-source budget
 * checked before anything shared is spent (docs/protocol.md §2.3).
 * The rest of the core's behaviour: gateway-core.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close, encodeHeartbeat } from '../../protocol/index.js';
import { admissionOptions as adm, admit, buf, flush, roomyGatewayBench } from '../helpers/gateway-harness.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';
import { Errors, LonglinkError } from '../../services/shared/errors.js';

const setup = roomyGatewayBench;

describe('GatewayCore admission', () => {
  it('admission: connection limit and connect rate reject with retry-after', async () => {
    const a = setup({ admission: adm({ maxConnections: 2, connectRate: 1000, connectBurst: 1000, maxStarting: 1000 }) });
    assert.equal(admit(a.core).ok, true);
    const first = new FakeClientSocket();
    const firstConn = a.core.open(first, a.hs('u1'));
    a.core.open(new FakeClientSocket(), a.hs('u2'));
    const third = admit(a.core);
    assert.equal(third.ok, false);
    if (!third.ok) { assert.equal(third.error.code, 'LL_ADMISSION_MAX_CONNECTIONS'); assert.ok(third.retryAfterS >= 1); }
    await flush();
    a.core.message(firstConn, buf(encodeHeartbeat()), true);
    assert.equal(first.code(), undefined, 'existing sessions are unaffected');
    a.core.closeWith(firstConn, Close.NORMAL, 'bye');
    assert.equal(admit(a.core).ok, true, 'a slot freed up');

    const b = setup({ admission: adm({ maxConnections: 100, connectRate: 2, connectBurst: 3, maxStarting: 1000 }) });
    const results = Array.from({ length: 5 }, () => admit(b.core).ok);
    assert.deepEqual(results, [true, true, true, false, false]);
    b.clock.advance(500);
    assert.equal(admit(b.core).ok, true, 'bucket refills');
    assert.equal(b.core.stats.admissionRejections.get('LL_ADMISSION_RATE'), 2);
  });

  it('admission: too many sessions waiting for the router refuses new connects (before spending a rate token)', async () => {
    const a = setup({ admission: adm({ maxConnections: 100, connectRate: 1000, connectBurst: 1000, maxStarting: 2 }) });
    const replies: Array<() => void> = [];
    a.link.resumeReply = (req) => new Promise((resolve, reject) => {
      replies.push(() => resolve({ session: 's', resumed: false, latestSeq: 0, pushes: [] }));
      if (req.user === 'fails') replies.push(() => reject(new Error('timeout')));
    });
    a.core.open(new FakeClientSocket(), a.hs('u1'));
    a.core.open(new FakeClientSocket(), a.hs('u2'));
    assert.equal(a.core.sessionsStarting, 2);
    const refused = admit(a.core);
    assert.equal(refused.ok, false);
    if (!refused.ok) { assert.equal(refused.error.code, 'LL_ADMISSION_STARTING'); assert.ok(refused.retryAfterS >= 1 && refused.retryAfterS <= 3); }
    replies.shift()!();
    await flush();
    assert.equal(a.core.sessionsStarting, 1, 'a settled session start frees a slot');
    assert.equal(admit(a.core).ok, true);
    // A failed start (router timeout) frees its slot too.
    a.core.open(new FakeClientSocket(), a.hs('fails'));
    assert.equal(a.core.sessionsStarting, 2);
    replies.pop()!();
    await flush();
    assert.equal(a.core.sessionsStarting, 1);
    assert.equal(a.core.stats.admissionRejections.get('LL_ADMISSION_STARTING'), 1);
  });

  it('refused session starts get consecutive return slots (Retry-After-Ms), spread at what the limit admits', () => {
    const a = setup({ admission: adm({ maxConnections: 100, connectRate: 1000, connectBurst: 1000, maxStarting: 2, startTargetMs: 1000 }) });
    a.link.resumeReply = () => new Promise(() => {}); // both starts stay in flight
    for (let i = 0; i < 2; i++) { assert.equal(admit(a.core).ok, true); a.core.open(new FakeClientSocket(), a.hs(`u${i}`)); }
    // Limit 2 at a 1 s target: 2 starts per second, so slots are 500 ms wide, the first at least 500 ms away.
    const waits = Array.from({ length: 4 }, () => admit(a.core)).map((r) => {
      assert.ok(!r.ok && r.error.code === 'LL_ADMISSION_STARTING' && r.retryAfterMs !== undefined);
      assert.equal(r.retryAfterS, Math.max(1, Math.ceil(r.retryAfterMs / 1000)), 'Retry-After: the same wait rounded up');
      return r.retryAfterMs;
    });
    waits.forEach((w, i) => assert.ok(w >= 500 * (i + 1) && w <= 500 * (i + 2), `slot ${i}: ${w} ms`));
    assert.equal(a.core.startLimit.retryWindowS, 2.5, 'the last scheduled return, 2.5 s away');
    a.clock.advance(1000);
    assert.equal(a.core.startLimit.retryWindowS, 1.5);
  });

  it('adaptive admission: slow session starts shrink the limit (503 with a spread Retry-After), fast ones grow it back', async () => {
    const a = setup({ admission: adm({ maxConnections: 100_000, connectBurst: 100_000, maxStarting: 1000, startTargetMs: 100 }) });
    const pending: Array<() => void> = [];
    a.link.resumeReply = () => new Promise((resolve) => pending.push(() => resolve({ session: 's', resumed: false, latestSeq: 0, pushes: [] })));
    const startLimit = a.core.startLimit.limit;
    assert.equal(startLimit, 500, 'starts at the initial limit, below the ceiling');
    let opened = 0;
    while (admit(a.core).ok) { a.core.open(new FakeClientSocket(), a.hs(`u${opened++}`)); }
    assert.equal(opened, 500, 'admits up to the limit');
    const refused = admit(a.core);
    assert.ok(!refused.ok && refused.error.code === 'LL_ADMISSION_STARTING' && refused.retryAfterS >= 1);
    // The router answers after 400 ms: four times the target.
    a.clock.advance(400);
    for (const r of pending.splice(0)) r();
    await flush();
    assert.equal(a.core.sessionsStarting, 0);
    assert.equal(a.core.startLimit.limit, 250, 'cut by at most half, once for the episode');
    assert.ok(a.core.startLimit.latencyMs >= 390);
    // Now the router answers in 10 ms: the limit grows back while it is in use.
    for (let round = 0; round < 15; round++) {
      while (admit(a.core).ok) a.core.open(new FakeClientSocket(), a.hs(`v${opened++}`));
      a.clock.advance(10);
      for (const r of pending.splice(0)) r();
      await flush();
    }
    assert.ok(a.core.startLimit.limit > 500, `grew back: ${a.core.startLimit.limit}`);
    assert.ok(a.core.startLimit.resumeTimeoutMs >= 300 && a.core.startLimit.resumeTimeoutMs <= 5000, 'resume timeout within [3 x target, ceiling]');
    assert.ok((a.core.stats.admissionRejections.get('LL_ADMISSION_STARTING') ?? 0) >= 7);
  });

  it('adaptive admission: starts still unanswered after the target cut the limit before any answer arrives', () => {
    const a = setup({ admission: adm({ maxConnections: 100_000, connectBurst: 100_000, maxStarting: 1000, startTargetMs: 100 }) });
    a.link.resumeReply = () => new Promise(() => {}); // the router never answers
    for (let i = 0; i < 300; i++) { assert.ok(admit(a.core).ok); a.core.open(new FakeClientSocket(), a.hs(`u${i}`)); }
    a.clock.advance(90);
    assert.ok(admit(a.core).ok, 'younger than the target: no signal yet');
    a.core.open(new FakeClientSocket(), a.hs('late'));
    a.clock.advance(110); // the oldest has waited 200 ms: twice the target
    assert.equal(admit(a.core).ok, false);
    assert.equal(a.core.startLimit.limit, 250, 'cut in proportion (x 0.5): 301 starts unanswered are over it');
    assert.equal(a.core.sessionsStarting, 301);
  });

  it('starts a router shed together come back in booked slots right after its hint, behind clients already booked', async () => {
    const a = setup({ admission: adm({ maxConnections: 1000, maxStarting: 1000 }) });
    a.link.resumeReply = () => Promise.reject(new LonglinkError(Errors.ROUTER_OVERLOADED, 'cannot start in time', 2000));
    const sockets = Array.from({ length: 100 }, (_, i) => { const s = new FakeClientSocket(); assert.ok(admit(a.core).ok); a.core.open(s, a.hs(`u${i}`)); return s; });
    a.clock.advance(10);
    await flush();
    const delays = sockets.map((s) => (s.frames()[0] as { delayMs: number }).delayMs);
    assert.ok(delays.every((d) => d >= 2000), `none before the router's queue drains: ${Math.min(...delays)}`);
    assert.ok(delays.every((d, i) => i === 0 || d >= delays[i - 1]!), 'in the order they were shed');
    // Hint x (1 + jitter) spread them over 2-4 s (the last 1 % of a storm came back at 50-70/s); booked at the
    // rate the limit admits (500 → 250 starts at the 1 s target: 250-500/s), 100 take well under half a second.
    assert.ok(Math.max(...delays) < 2500, `the last back soon after the hint: ${Math.max(...delays)} ms`);
    // A crowd refused 503 is booked up to ~4 s ahead: a start shed now queues behind it, not in front.
    const b = setup({ admission: adm({ maxConnections: 100_000, connectBurst: 100_000, maxStarting: 10 }) });
    for (let i = 0; i < 10; i++) { assert.ok(admit(b.core).ok); b.core.open(new FakeClientSocket(), b.hs(`s${i}`)); }
    let last = 0;
    for (let i = 0; i < 40; i++) { const r = admit(b.core); assert.equal(r.ok, false); if (!r.ok) last = r.retryAfterMs ?? 0; }
    assert.ok(last > 3500, `40 refusals at 10/s: booked ~4 s ahead (${last} ms)`);
    b.link.resumeReply = () => Promise.reject(new LonglinkError(Errors.ROUTER_OVERLOADED, 'cannot start in time', 1000));
    const shed = new FakeClientSocket();
    await flush(); // the 10 starts answer: room again
    assert.ok(admit(b.core).ok);
    b.core.open(shed, b.hs('shed'));
    await flush();
    assert.ok((shed.frames()[0] as { delayMs: number }).delayMs >= last, 'behind the booked crowd');
  });

  for (const hint of [5_000, 9_990, 12_000, 30_000]) {
    it(`a router shed hint of ${hint} ms is honoured: the client is told no sooner`, async () => {
      const a = setup({ admission: adm({ maxStarting: 100 }) });
      a.link.resumeReply = () => Promise.reject(new LonglinkError(Errors.ROUTER_OVERLOADED, 'cannot start in time', hint));
      const s = new FakeClientSocket();
      assert.ok(admit(a.core).ok);
      a.core.open(s, a.hs());
      await flush();
      const { delayMs } = s.frames()[0] as { delayMs: number };
      // Past the 10 s horizon the hint was cut to 9-10 s: back before the router's queue drained, in one clump.
      assert.ok(delayMs >= hint && delayMs <= hint * 1.1 + 10, `told ${delayMs} ms, router said ${hint} ms`);
    });
  }

  it("a long shed does not push the gateway's own 503 refusals behind it", async () => {
    const a = setup({ admission: adm({ maxConnections: 1000, connectBurst: 1000, maxStarting: 10 }) });
    a.link.resumeReply = () => Promise.reject(new LonglinkError(Errors.ROUTER_OVERLOADED, 'cannot start in time', 9000));
    const shed = new FakeClientSocket();
    assert.ok(admit(a.core).ok);
    a.core.open(shed, a.hs('shed'));
    await flush();
    assert.ok((shed.frames()[0] as { delayMs: number }).delayMs >= 9000);
    a.link.resumeReply = () => new Promise(() => {}); // the limit fills with starts still waiting
    let r = admit(a.core);
    for (let i = 0; r.ok && i < 20; i++) { a.core.open(new FakeClientSocket(), a.hs(`u${i}`)); r = admit(a.core); }
    assert.equal(r.ok, false, 'the limit is full');
    // Booked behind the shed, it was told 9.5 s: one router's queue set the whole gateway's return times.
    if (!r.ok) assert.ok(r.retryAfterMs! < 2000, `a 503 told ${r.retryAfterMs} ms, not behind the 9 s shed`);
  });

  it('refusals about one user (device limit, a newer start of the device) never shrink the gateway-wide start limit', async () => {
    const a = setup({ admission: adm({ maxConnections: 100_000, connectBurst: 100_000, maxStarting: 1000, startTargetMs: 100 }) });
    const before = a.core.startLimit.limit;
    for (const spec of [Errors.DEVICE_LIMIT, Errors.SESSION_REPLACED]) {
      a.link.resumeReply = () => Promise.reject(new LonglinkError(spec));
      for (let i = 0; i < 10; i++) {
        const s = new FakeClientSocket();
        assert.ok(admit(a.core).ok);
        a.core.open(s, a.hs('attacker'));
        a.clock.advance(5);
        await flush();
        assert.equal(s.ended?.code, spec === Errors.DEVICE_LIMIT ? Close.DEVICE_LIMIT : Close.REPLACED);
      }
    }
    assert.equal(a.core.startLimit.limit, before, '20 answered refusals: the limit is where it was');
    assert.equal(a.core.startLimit.decreases, 0);
    // The same number of router failures is overload: the limit falls.
    a.link.resumeReply = () => Promise.reject(new Error('bus request timed out'));
    a.core.open(new FakeClientSocket(), a.hs('u'));
    a.clock.advance(5);
    await flush();
    assert.ok(a.core.startLimit.limit < before, `a failure cuts it: ${a.core.startLimit.limit}`);
  });

  it('a router that sheds a session start: 1013 after a reconnect frame with a jittered delay, and the limit halves', async () => {
    const a = setup({ admission: adm({ maxStarting: 100 }) });
    a.link.resumeReply = () => Promise.reject(new LonglinkError(Errors.ROUTER_OVERLOADED, 'cannot start in time', 2000));
    const s = new FakeClientSocket();
    const before = a.core.startLimit.limit;
    a.core.open(s, a.hs());
    await flush();
    const frames = s.frames();
    // The first slot of the return schedule no sooner than the hint: 2,000 ms + half a slot (limit 100 at the 1 s target: 100/s, 10 ms slots).
    assert.deepEqual(frames[0], { op: 'reconnect', delayMs: 2005, reason: 'routers overloaded' }, 'booked after the hint, not hint x (1 + jitter)');
    assert.equal(s.ended?.code, Close.TRY_AGAIN_LATER);
    assert.equal(a.core.stats.startsShedByRouter, 1);
    assert.equal(a.core.startLimit.limit, Math.floor(before / 2));
    // Any other failure (timeout, store down) is a 1011.
    const t = setup();
    t.link.resumeReply = () => Promise.reject(new Error('bus request timed out'));
    const s2 = new FakeClientSocket();
    t.core.open(s2, t.hs());
    await flush();
    assert.equal(s2.ended?.code, Close.INTERNAL_ERROR);
    // A start that lost to a newer one of the same device (stale, LL_SESSION_REPLACED): closed as replaced, not retried.
    const r = setup();
    r.link.resumeReply = () => Promise.reject(new LonglinkError(Errors.SESSION_REPLACED, 'a newer session start registered first'));
    const s3 = new FakeClientSocket();
    r.core.open(s3, r.hs());
    await flush();
    assert.equal(s3.ended?.code, Close.REPLACED);
  });

  it('admission order: a source over its own budget gets 429 before anything is spent; other sources are unaffected', () => {
    const a = setup({ admission: adm({ connectRate: 1, connectBurst: 3, sourceRate: 1, sourceBurst: 2 }) });
    const flood = Array.from({ length: 10 }, () => a.core.precheck('198.51.100.9'));
    assert.equal(flood.filter((r) => r.ok).length, 2);
    const over = flood[9]!;
    assert.ok(!over.ok && over.error.code === 'LL_ADMISSION_SOURCE_RATE' && over.error.status === 429 && over.retryAfterS >= 1);
    // The flood spent nothing of the shared connect budget (3 tokens): three other sources still get in.
    assert.deepEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3'].map((src) => admit(a.core, src).ok), [true, true, true]);
    assert.equal(a.core.stats.admissionRejections.get('LL_ADMISSION_SOURCE_RATE'), 8);
  });
});
