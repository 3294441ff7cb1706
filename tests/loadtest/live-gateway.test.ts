/**
 * The load tools' protocol logic (loadtest/lib/protocol-session.ts, what the
 * k6 scripts run) driven over a real Node WebSocket (loadtest/lib/ws-driver.ts)
 * against a live standalone gateway: hello and heartbeats with acks, the
 * token in the query string as k6 sends it, pushes with acks, a dropped TCP
 * connection resumed with nothing lost, and a 503 with Retry-After honoured.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Standalone } from '../../services/standalone/app.js';
import { ClientSession, type SessionEvent } from '../../loadtest/lib/protocol-session.js';
import { SDK_RETRY } from '../../loadtest/lib/retry-policy.js';
import { SessionDriver, nowMs, type EndInfo } from '../../loadtest/lib/ws-driver.js';
import { push, start } from '../helpers/standalone.js';
import { waitFor } from '../helpers/sdk-clients.js';

interface Probe { drv: SessionDriver; events: SessionEvent[]; ends: EndInfo[]; timer: NodeJS.Timeout }

describe('protocol-session over a Node WebSocket against a live gateway', () => {
  let s: Standalone;
  const probes: Probe[] = [];
  const servers: Standalone[] = [];
  before(async () => { s = await start({ LONGLINK_HB_MIN_MS: '100', LONGLINK_HB_GRACE_MS: '200', LONGLINK_WHEEL_TICK_MS: '50' }); servers.push(s); });
  after(async () => {
    for (const p of probes) { clearInterval(p.timer); p.drv.stop(); }
    for (const x of servers) await x.shutdown();
  });

  function probe(srv: Standalone, user: string, o: { hbMs?: number; tokenIn?: 'query' | 'subprotocol'; retry?: typeof SDK_RETRY } = {}): Probe {
    const events: SessionEvent[] = [], ends: EndInfo[] = [];
    const drv = new SessionDriver({
      url: srv.gatewayUrl, token: () => srv.mintToken(user), tokenIn: o.tokenIn ?? 'subprotocol', localAddress: '127.0.0.2',
      session: new ClientSession({ intervalMs: o.hbMs ?? 1000, ackBatchMs: 20, retry: o.retry ?? { ...SDK_RETRY, baseMs: 100, capMs: 400 } }),
      onEvent: (e) => events.push(e), onEnd: (e) => ends.push(e),
    });
    const timer = setInterval(() => drv.tick(nowMs()), 20);
    const p = { drv, events, ends, timer };
    probes.push(p);
    drv.connect();
    return p;
  }
  const of = <T extends SessionEvent['type']>(p: Probe, t: T): Array<Extract<SessionEvent, { type: T }>> => p.events.filter((e): e is Extract<SessionEvent, { type: T }> => e.type === t);

  it('hello, then protocol heartbeats answered by acks with a measured round trip, and no close', async () => {
    const p = probe(s, 'hb-user', { hbMs: 600 });
    await waitFor(() => of(p, 'heartbeat_ack').length >= 4, 15_000, '4 heartbeat acks', () => JSON.stringify(p.events.map((e) => e.type)));
    const h = of(p, 'hello')[0]!;
    assert.equal(h.frame.hb.intervalMs, 600, 'the hb parameter was applied');
    assert.equal(h.frame.resumed, false);
    const rtts = of(p, 'heartbeat_ack').map((e) => e.rttMs);
    assert.ok(rtts.every((r) => r !== undefined && r >= 0 && r < 5000), JSON.stringify(rtts));
    assert.equal(p.drv.session.stats.heartbeats, p.drv.session.stats.heartbeatAcks);
    assert.deepEqual(p.ends, [], 'no close while heartbeating');
    assert.equal(p.drv.state, 'open');
  });

  it('a sweep before the session has anything due does not poll it; heartbeats and acks still go out on time', async () => {
    const p = probe(s, 'sweep-user', { hbMs: 1000 });
    await waitFor(() => of(p, 'hello').length === 1, 15_000, 'hello');
    const session = p.drv.session;
    let polls = 0;
    const poll = session.poll.bind(session);
    session.poll = (now: number) => { polls++; return poll(now); };
    // A load worker's sweep visits every driver far more often than its session has anything to send.
    for (let k = 0; k < 500; k++) p.drv.tick(nowMs());
    assert.ok(polls <= 2, `${polls} polls for 500 visits with nothing due`);
    const acks = of(p, 'heartbeat_ack').length;
    assert.equal((await push(s, ['sweep-user'], { t: Date.now(), n: 1 })).status, 200);
    await waitFor(() => session.ackedSeq === 1, 5000, 'the push acked');
    await waitFor(() => of(p, 'heartbeat_ack').length >= acks + 2, 10_000, '2 more heartbeat acks');
    assert.deepEqual(p.ends, [], 'no close');
  });

  it('token in the access_token query parameter and no subprotocol (how k6 connects)', async () => {
    const p = probe(s, 'k6-style', { tokenIn: 'query' });
    await waitFor(() => of(p, 'hello').length === 1, 15_000, 'hello');
    assert.equal(p.ends.length, 0);
  });

  it('pushes arrive with latency from data.t and are acked; a dropped connection resumes and loses nothing', async () => {
    const p = probe(s, 'resume-user', { hbMs: 1000 });
    await waitFor(() => of(p, 'hello').length === 1, 15_000, 'hello');
    const session = of(p, 'hello')[0]!.frame.session;
    const r1 = await push(s, ['resume-user'], { t: Date.now(), n: 1 });
    assert.equal(r1.status, 200);
    await waitFor(() => p.drv.session.lastSeq === 1, 10_000, 'push 1');
    const e1 = of(p, 'push')[0]!;
    assert.ok(e1.e2eMs !== undefined && e1.e2eMs >= 0 && e1.e2eMs < 5000, `e2e ${e1.e2eMs}`);
    await waitFor(() => p.drv.session.ackedSeq === 1, 5000, 'ack 1 sent');

    p.drv.drop(); // TCP gone, no close handshake
    for (let n = 2; n <= 4; n++) assert.equal((await push(s, ['resume-user'], { t: Date.now(), n })).status, 200);
    await waitFor(() => p.drv.session.lastSeq === 4, 15_000, 'pushes 2-4 after resume', () => JSON.stringify({ ends: p.ends, seq: p.drv.session.lastSeq }));
    const hellos = of(p, 'hello');
    assert.equal(hellos.length, 2, 'reconnected once');
    assert.equal(hellos[1]!.frame.resumed, true);
    assert.equal(hellos[1]!.frame.session, session, 'same session');
    assert.equal(p.ends[0]!.wasOpen, true);
    assert.ok(p.ends[0]!.delayMs !== undefined && p.ends[0]!.delayMs < 400, 'reconnect delayed by the backoff window');
    assert.deepEqual(of(p, 'push').filter((e) => !e.duplicate).map((e) => e.frame.seq), [1, 2, 3, 4], 'every push once, in order');
    assert.equal(p.drv.session.stats.gaps, 0);
  });

  it('an admission 503 is seen with its Retry-After, and the retry waits at least that long', async () => {
    const full = await start({ LONGLINK_MAX_CONNECTIONS: '1' });
    servers.push(full);
    const a = probe(full, 'first');
    await waitFor(() => of(a, 'hello').length === 1, 15_000, 'first connected');
    const b = probe(full, 'second', { retry: { ...SDK_RETRY, baseMs: 100 } });
    await waitFor(() => b.ends.length >= 1, 15_000, 'second refused');
    const e = b.ends[0]!;
    assert.equal(e.wasOpen, false);
    assert.equal(e.status, 503);
    assert.ok(e.retryAfterMs !== undefined && e.retryAfterMs >= 1000, `Retry-After ${e.retryAfterMs}`);
    assert.ok(e.delayMs! >= e.retryAfterMs! && e.delayMs! <= e.retryAfterMs! * 1.5, `delay ${e.delayMs} honours Retry-After ${e.retryAfterMs} plus ≤ 50 % jitter`);
    b.drv.stop();
  });
});
