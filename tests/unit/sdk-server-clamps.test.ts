/**
 * A buggy or hostile gateway cannot put the SDK into a hot loop: long timers
 * are armed in chunks (system-timers.ts), the token refresh timer is stepped
 * (token-refresh.ts), server-named reconnect waits are clamped and a too-short
 * one backs off (backoff.ts, reconnect-decision.ts), heartbeat intervals from
 * the server are clamped (heartbeat-bounds.ts), and channel positions are
 * bounded, most recent first (channels.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Close, LIMITS } from '../../protocol/index.js';
import { SERVER_WAIT_MAX_MS, SERVER_WAIT_MIN_MS, parseRetryAfter, type BackoffConfig } from '../../sdk/src/backoff.js';
import { Channels } from '../../sdk/src/channels.js';
import { FakeTimers } from '../../sdk/src/fake-timers.js';
import { ReconnectMachine, decide, type LossInfo } from '../../sdk/src/reconnect-machine.js';
import { systemTimers } from '../../sdk/src/system-timers.js';
import { flushMicrotasks } from '../../sdk/src/testing.js';
import { DEFAULT_TOKEN_REFRESH, TokenRefresher } from '../../sdk/src/token-refresh.js';
import { connect, setup } from '../helpers/sdk-client-harness.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const DAY = 86_400_000;

test('system timers: a wait past 2^31-1 ms does not fire at once; long waits fire on time in chunks; cancel works mid-chunk', async () => {
  const t = systemTimers();
  let fired = 0;
  const a = t.setTimeout(() => fired++, 2 ** 31);
  const b = t.setTimeout(() => fired++, Number.MAX_SAFE_INTEGER);
  const c = t.setTimeout(() => fired++, 60 * DAY);
  await sleep(60);
  assert.equal(fired, 0, 'platform setTimeout fires these after ~1 ms unless chunked');
  a.cancel(); b.cancel(); c.cancel();
  const small = systemTimers(20); // 20 ms chunks: the same code path, observable in real time
  const start = performance.now();
  let at = -1;
  small.setTimeout(() => { at = performance.now() - start; }, 75);
  let cancelled = false;
  const x = small.setTimeout(() => { cancelled = true; }, 75);
  await sleep(30);
  x.cancel(); // after the first chunk re-armed
  await sleep(90);
  assert.ok(at >= 74, `fired after the whole wait, not after one chunk: ${at} ms`);
  assert.equal(cancelled, false, 'cancel() stops a chunked timer after a re-arm');
});

test('token refresh: a 60-day token is refreshed at 70-90 % of its life, with no timer longer than 24 h and no early token call', async () => {
  const timers = new FakeTimers();
  let asked = 0;
  const sent: string[] = [];
  const r = new TokenRefresher(DEFAULT_TOKEN_REFRESH, { timers, random: () => 0.5, token: async () => `t${++asked}`, send: (f) => sent.push(f), error: () => {} });
  r.start(60 * DAY);
  const next = timers.nextAt();
  assert.ok(next !== undefined && next <= DAY, `first timer within 24 h, was ${next}`);
  timers.advance(48 * DAY - 1); // 0.8 of 60 days
  await flushMicrotasks();
  assert.equal(asked, 0, 'no token call before the window');
  timers.advance(1);
  await flushMicrotasks();
  assert.equal(asked, 1);
  assert.deepEqual(sent, ['{"op":"refresh","token":"t1"}']);
});

const cfg: BackoffConfig = { baseMs: 1000, capMs: 30_000, healthyAfterMs: 10_000, retryAfterJitter: 0.5 };

test('decide(): server waits clamped to [250 ms, 1 h]; below the floor counts as an attempt and backs off', () => {
  const d = (info: Partial<LossInfo>, attempt = 0) => decide({ code: 1006, reason: '', ...info }, attempt, cfg, () => 0);
  for (const info of [{ code: Close.TRY_AGAIN_LATER, reconnectDelayMs: 10 },
    { httpStatus: 503, retryAfterMs: 0, retryAfterExact: true }, { httpStatus: 429, retryAfterMs: 0 }]) {
    const x = d(info, 3);
    assert.ok(x.kind === 'retry' && x.countsAsAttempt && x.delayMs === SERVER_WAIT_MIN_MS, JSON.stringify([info, x]));
    const y = decide({ code: 1006, reason: '', ...info }, 3, cfg, () => 0.999);
    assert.ok(y.kind === 'retry' && y.delayMs === 7992, `backs off in the attempt's window: ${JSON.stringify(y)}`);
  }
  const huge = d({ code: Close.DRAINING, reconnectDelayMs: 3e9 });
  assert.ok(huge.kind === 'retry' && huge.delayMs === SERVER_WAIT_MAX_MS && !huge.countsAsAttempt);
  const hugeMs = d({ httpStatus: 503, retryAfterMs: 3e9, retryAfterExact: true });
  assert.ok(hugeMs.kind === 'retry' && hugeMs.delayMs === SERVER_WAIT_MAX_MS);
  assert.equal(parseRetryAfter('999999999', 0), SERVER_WAIT_MAX_MS);
  assert.equal(parseRetryAfter('Fri, 01 Jan 2100 00:00:00 GMT', Date.parse('Mon, 07 Dec 2026 00:00:00 GMT')), SERVER_WAIT_MAX_MS);
  // A drain's short draw (its jitter starts at 0 ms): the floor plus jitter, not counted (rolling deploys do not climb the ladder).
  for (const [r, want] of [[0, 250], [0.999, 500]] as const) {
    const drained = decide({ code: Close.DRAINING, reason: '', reconnectDelayMs: 120 }, 3, cfg, () => r);
    assert.ok(drained.kind === 'retry' && !drained.countsAsAttempt && drained.delayMs === want, JSON.stringify(drained));
  }
  const sane = d({ code: Close.DRAINING, reconnectDelayMs: 250 });
  assert.ok(sane.kind === 'retry' && sane.delayMs === 250 && !sane.countsAsAttempt, 'a wait at the floor is honoured exactly, as before');
});

/** A reconnect machine that loses every connection the same way ten times: connects, backoff attempts, fake time spent. */
function lostTenTimes(info: LossInfo): { connects: number; attempts: number; elapsedMs: number } {
  const t = new FakeTimers();
  let connects = 0;
  const m = new ReconnectMachine(cfg, t, () => 0.5, { connect: () => { connects++; }, abort: () => {}, state: () => {}, retry: () => {} });
  m.start();
  const startedAt = t.now();
  for (let i = 0; i < 10; i++) {
    m.lost(info);
    t.runAll();
  }
  return { connects, attempts: m.backoffAttempt, elapsedMs: t.now() - startedAt };
}

test('reconnect machine: a gateway answering every attempt with reconnect 0 + close 4000 is held to the floor, not a hot loop', () => {
  const r = lostTenTimes({ code: Close.DRAINING, reason: '', reconnectDelayMs: 0 });
  assert.equal(r.connects, 11);
  assert.equal(r.attempts, 0, 'a drain is not a failed attempt');
  assert.equal(r.elapsedMs, 10 * 375, '10 waits of 250 ms + jitter (was 0)');
});

test('reconnect machine: a gateway answering every attempt with 503 Retry-After-Ms 0 gets a growing backoff, not a hot loop', () => {
  const r = lostTenTimes({ code: 1006, reason: '', httpStatus: 503, retryAfterMs: 0, retryAfterExact: true });
  assert.equal(r.connects, 11);
  assert.equal(r.attempts, 10, 'each counts as an attempt');
  assert.ok(r.elapsedMs > 60_000, `10 attempts took ${r.elapsedMs} ms of fake time (was 0)`);
});

test('client: a heartbeat_ack interval of 0 or 2^53-1 is clamped to the hello\'s [minMs, maxMs]', async () => {
  {
    const r = setup();
    const s = await connect(r);
    s.open().hello({ hb: { minMs: 500, maxMs: 20_000 } });
    r.timers.advance(1000); // the first beat
    const before = s.heartbeats().length;
    assert.ok(before >= 1);
    s.heartbeatAck({ intervalMs: 0 });
    r.timers.advance(499);
    assert.equal(s.heartbeats().length, before, 'no beat before minMs');
    assert.equal(r.client.state, 'connected', 'not a zombie at once');
  }
  {
    const r = setup();
    const s = await connect(r);
    s.open().hello({ hb: { minMs: 500, maxMs: 20_000 } });
    r.timers.advance(1000);
    const before = s.heartbeats().length;
    s.heartbeatAck({ intervalMs: Number.MAX_SAFE_INTEGER });
    r.timers.advance(20_000);
    assert.ok(s.heartbeats().length > before, 'beats again within maxMs');
  }
});

test('channels: positions are bounded and most recent first, so live channels are always in the recover frame', () => {
  const ev = { reset() {}, subscribed() {}, unsubscribed() {}, message() {}, resync() {}, error() {} };
  const ch = new Channels(ev, () => 0);
  for (let i = 0; i < 300; i++) { ch.onSubscribed({ op: 'subscribed', channel: `room:${i}`, offset: 5, epoch: 'e1' }); ch.detach(); }
  ch.onSubscribed({ op: 'subscribed', channel: 'team:current', offset: 42, epoch: 'e1' });
  ch.onPub({ op: 'pub', channel: 'room:0', offset: 6, epoch: 'e1', id: 'x', ts: 1, data: 1 }); // evicted earlier, back now
  const held = ch.recoverPositions;
  assert.equal(held.length, LIMITS.maxRecoverChannels, 'bounded');
  assert.deepEqual(held.slice(0, 2).map((p) => p.channel), ['room:0', 'team:current'], 'most recent first');
  assert.ok(!held.some((p) => p.channel === 'room:1'), 'the oldest aged out');
  const restored = new Channels(ev, () => 0, held);
  assert.deepEqual(restored.recoverPositions, held, 'a saved list restores in the same order');
});
