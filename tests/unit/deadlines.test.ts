/**
 * Deadlines on a manual clock: a frame only records liveness and the wheel
 * entry catches up when it falls due, yet every deadline is enforced within
 * one tick of its true value, including those moved earlier (a shorter
 * renegotiated interval, an earlier token expiry), which must reschedule
 * exactly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close, encodeHeartbeat } from '../../protocol/index.js';
import { Deadlines, type Due } from '../../services/gateway/core/deadlines.js';
import { Connection } from '../../services/gateway/core/connection.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';
import { buf, flush, gatewayBench } from '../helpers/gateway-harness.js';

const TICK = 100;
const SPAN = 10_000 * 1.5 + 2000;

/** Deadlines on a clock the test moves; `run` ticks like the transport does, recording when each connection fell due. */
function setup(check = true) {
  let now = 0;
  const fell: Array<{ c: Connection; why: Due; at: number }> = [];
  const d = new Deadlines({ tickMs: TICK, wheelSize: 64, startMs: 0, check }, (c, why) => { c.closed = true; fell.push({ c, why, at: now }); });
  const conn = (tokenExpiresAt = Infinity): Connection => {
    const c = new Connection(new FakeClientSocket(), 'c', 'u', 'd', tokenExpiresAt, 10_000, 2000, 20, now);
    d.schedule(c, now);
    return c;
  };
  const run = (ms: number, each?: () => void): void => {
    for (const end = now + ms; now < end;) { now += TICK; d.advance(now); each?.(); }
  };
  return { d, fell, conn, run, at: () => now };
}

describe('lazy deadlines', () => {
  it('a connection touched regularly never falls due; a silent one closes within one tick of its true deadline', () => {
    const { d, fell, conn, run, at } = setup();
    const busy = conn();
    const quiet = conn();
    // Heartbeats every 10 s for 5 minutes, after which busy goes silent too; quiet never sends.
    run(300_000, () => { if (at() % 10_000 === 0) d.touch(busy, at()); });
    const last = 300_000;
    assert.equal(fell.filter((f) => f.c === busy).length, 0, 'never due while heartbeats arrive');
    const q = fell.find((f) => f.c === quiet);
    assert.ok(q !== undefined && q.why === 'heartbeat' && q.at >= SPAN && q.at < SPAN + TICK, JSON.stringify(q?.at));
    run(SPAN + TICK);
    const b = fell.find((f) => f.c === busy);
    assert.ok(b !== undefined && b.why === 'heartbeat', 'silent after the last heartbeat');
    assert.ok(b.at >= last + SPAN && b.at < last + SPAN + TICK, `closed at ${b.at}, true deadline ${last + SPAN}`);
    assert.equal(d.size, 0);
  });

  it('a touch between the entry\'s time and the walk is honoured: not closed one span late, nor early', () => {
    const { d, fell, conn, run } = setup();
    const c = conn();
    run(SPAN - 3000);
    d.touch(c, SPAN - 3000); // true deadline now 2 x SPAN - 3000; the entry still says SPAN
    run(SPAN - 100);
    assert.equal(fell.length, 0, 'rescheduled when the old entry fell due');
    run(200);
    assert.equal(fell.length, 1);
    assert.ok(fell[0]!.at >= 2 * SPAN - 3000 && fell[0]!.at < 2 * SPAN - 3000 + TICK);
  });

  it('an expiry moved earlier is enforced at the new expiry (reschedule is exact)', () => {
    const { d, fell, conn, run } = setup();
    const c = conn(60_000);
    run(1000);
    d.touch(c, 1000);
    c.tokenExpiresAt = 4000;
    d.reschedule(c, 1000);
    run(2900);
    assert.equal(fell.length, 0);
    run(200);
    assert.equal(fell.length, 1);
    assert.equal(fell[0]!.why, 'token');
    assert.ok(fell[0]!.at >= 4000 && fell[0]!.at < 4000 + TICK, String(fell[0]!.at));
  });

  it('with heartbeats unchecked only the token counts, lazily or not', () => {
    const { d, fell, conn, run } = setup(false);
    const c = conn(30_000);
    run(20_000);
    c.tokenExpiresAt = 50_000;
    d.reschedule(c, 20_000);
    run(29_900);
    assert.equal(fell.length, 0);
    run(200);
    assert.equal(fell[0]?.why, 'token');
  });
});

describe('lazy deadlines in the gateway core', () => {
  it('a renegotiated shorter interval is enforced at the new, earlier deadline', async () => {
    const { core, hs, run } = gatewayBench();
    const s = new FakeClientSocket();
    const c = core.open(s, hs());
    await flush();
    core.message(c, buf(encodeHeartbeat(60_000)), true); // entry at 60 s x 1.5 + 2 s
    run(1000);
    core.message(c, buf(encodeHeartbeat(2000)), true); // true deadline: 1 s + 2 s x 1.5 + 2 s = 6 s
    run(5000 - 100);
    assert.equal(s.ended, undefined, 'not before the new deadline');
    run(200);
    assert.equal(s.code(), Close.HEARTBEAT_TIMEOUT, 'at the new deadline, not the old entry\'s 92 s');
  });
});
