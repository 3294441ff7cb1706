/**
 * Frames record their time in the connection's dense record and leave the
 * wheel alone; the wheel entry is re-filed from that time when it falls due
 * (services/gateway/core/deadlines.ts). These tests pin that the close still
 * lands on exactly the tick it did when every frame moved the entry (the
 * first tick boundary at or after last frame + span), that the rate limit
 * over the dense record is the token bucket's exact arithmetic, and that a
 * reused record starts clean.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close, encodeHeartbeat } from '../../protocol/index.js';
import { buf, flush, roomyGatewayBench } from '../helpers/gateway-harness.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';
import { rng } from '../../loadtest/lib/rand.js'; // deterministic, so failures reproduce
import { take, takeAt } from '../../services/shared/token-bucket.js';

const TICK = 100; // coreOptions' wheel tick
const SPAN = 10_000 * 1.5 + 2000; // default interval x 1.5 + grace
const beat = buf(encodeHeartbeat());

describe('GatewayCore lazy deadlines', () => {
  it('closes on the first tick boundary at or after the last frame + span, after several re-files', async () => {
    const { core, hs, run, clock } = roomyGatewayBench();
    const s = new FakeClientSocket();
    const c = core.open(s, hs());
    await flush();
    // Frames at odd times, one of them fractional; the entry filed at open (due at 17,000) is re-filed.
    for (const at of [1234, 5000.5, 16_999, 30_001]) {
      run(at - clock.now());
      core.message(c, beat, true);
    }
    const last = 30_001;
    const due = Math.ceil((last + SPAN) / TICK) * TICK; // 47,100
    run(due - 1 - clock.now());
    assert.equal(s.ended, undefined, 'open until the boundary');
    run(1);
    assert.equal(s.code(), Close.HEARTBEAT_TIMEOUT);
    assert.equal(core.stats.heartbeatTimeouts, 1);
  });

  it('a deadline passed between boundaries still closes on its boundary, not at the tick that re-checks it', async () => {
    const { core, hs, clock } = roomyGatewayBench();
    const s = new FakeClientSocket();
    const c = core.open(s, hs());
    await flush();
    clock.advance(30);
    core.message(c, beat, true); // deadline 17,030: its boundary is 17,100
    clock.advance(17_040 - 30);
    core.tick(); // processes boundaries up to 17,000, where the entry filed at open (17,000) falls due
    assert.equal(s.ended, undefined, 'past 17,030, but its boundary 17,100 is not processed yet');
    clock.advance(60);
    core.tick();
    assert.equal(s.code(), Close.HEARTBEAT_TIMEOUT);
  });

  it('200 connections with random frames close exactly when an eager deadline would', async () => {
    const { core, hs, clock } = roomyGatewayBench({
      admission: { maxConnections: 1000, connectRate: 1e6, connectBurst: 1e6, maxStarting: 1e6, startTargetMs: 1000, resumeTimeoutMs: 5000, sourceRate: 0, sourceBurst: 1 },
    });
    const rand = rng(16);
    const n = 200;
    const socks = Array.from({ length: n }, () => new FakeClientSocket());
    const conns = socks.map((s, i) => core.open(s, hs(`u${i}`, 'd')));
    await flush();
    const last = new Array<number>(n).fill(0);
    // Each connection beats with its own mean gap; about a third stop for good at some point.
    const gap = Array.from({ length: n }, () => 2000 + rand() * 20_000);
    const stopAt = Array.from({ length: n }, () => (rand() < 0.35 ? rand() * 60_000 : Infinity));
    const closedAt = new Array<number>(n).fill(-1);
    const expected = new Array<number>(n).fill(-1);
    for (let t = 0; t < 120_000; ) {
      const step = 1 + Math.floor(rand() * 73); // not aligned to ticks
      t += step;
      clock.advance(step);
      // The wheel ticks late and irregularly (a busy event loop): boundaries are processed in batches.
      const ticked = rand() < 0.3;
      if (ticked) core.tick();
      const now = clock.now();
      for (let i = 0; i < n; i++) {
        if (closedAt[i]! < 0 && socks[i]!.ended !== undefined) closedAt[i] = now;
        // What an eager wheel does: expire at the first advance(now) whose processed boundary reaches last + span.
        if (ticked && expected[i]! < 0 && Math.floor(now / TICK) >= Math.ceil((last[i]! + SPAN) / TICK)) expected[i] = now;
        if (closedAt[i]! < 0 && now < stopAt[i]! && rand() < step / gap[i]!) {
          core.message(conns[i]!, beat, true);
          last[i] = now;
        }
      }
    }
    let closed = 0;
    for (let i = 0; i < n; i++) {
      assert.equal(closedAt[i], expected[i], `connection ${i}: last frame ${last[i]}`);
      if (closedAt[i]! >= 0) {
        closed++;
        assert.equal(socks[i]!.code(), Close.HEARTBEAT_TIMEOUT);
      }
    }
    assert.ok(closed >= 40 && closed < n, `closed ${closed}`);
  });

  it('a reused record starts with a full bucket and the new connection\'s time', async () => {
    const { core, hs, run } = roomyGatewayBench();
    const a = new FakeClientSocket();
    const ca = core.open(a, hs('alice', 'a'));
    await flush();
    for (let k = 0; k < 20; k++) core.message(ca, beat, true); // burst 20: the bucket is empty now
    core.closed(ca, 1000);
    run(5000);
    const b = new FakeClientSocket();
    const cb = core.open(b, hs('bob', 'b'));
    await flush();
    assert.equal(cb.rec, 0, 'the freed record is reused');
    for (let k = 0; k < 20; k++) core.message(cb, beat, true);
    assert.equal(b.ended, undefined, 'a full burst of 20 is allowed');
    core.message(cb, beat, true);
    assert.equal(b.code(), Close.RATE_LIMITED, 'and the 21st is over the rate');
    const c2 = new FakeClientSocket();
    core.open(c2, hs('carol', 'c'));
    await flush();
    run(SPAN + TICK);
    assert.equal(c2.code(), Close.HEARTBEAT_TIMEOUT, 'deadline from its own open, not the old record\'s time');
  });
});

describe('takeAt', () => {
  it('is take() over a Float64Array pair: same answers, same state', () => {
    const rand = rng(7);
    const f = new Float64Array(4);
    for (let round = 0; round < 50; round++) {
      const rate = 0.5 + rand() * 50;
      const burst = 1 + Math.floor(rand() * 30);
      let now = rand() * 1e6;
      const s = { tokens: burst, last: now };
      f[1] = burst;
      f[2] = now;
      for (let k = 0; k < 500; k++) {
        now += rand() < 0.2 ? 0 : rand() * (2000 / rate);
        assert.equal(takeAt(f, 1, rate, burst, now), take(s, rate, burst, now));
        assert.equal(f[1], s.tokens);
        assert.equal(f[2], s.last);
      }
    }
  });
});
