import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLOSE_CODES, Close } from '../../protocol/index.js';
import { DEFAULT_BACKOFF, backoffDelay, backoffWindow, parseRetryAfter, parseRetryAfterMs, refusalWait, retryAfterDelay, type BackoffConfig } from '../../sdk/src/backoff.js';
import { FakeTimers } from '../../sdk/src/fake-timers.js';
import { ReconnectMachine, decide, type ClientState, type LossInfo, type StateChange } from '../../sdk/src/reconnect-machine.js';

const cfg: BackoffConfig = { baseMs: 1000, capMs: 30_000, healthyAfterMs: 10_000, retryAfterJitter: 0.5 };

// ---- backoff ------------------------------------------------------------------------

test('backoff: full jitter within [0, min(cap, base*2^n)), window doubles then caps', () => {
  for (let n = 0; n < 64; n++) {
    const w = backoffWindow(cfg, n);
    assert.equal(w, Math.min(30_000, 1000 * 2 ** n));
    assert.equal(backoffDelay(cfg, n, () => 0), 0);
    const hi = backoffDelay(cfg, n, () => 0.999_999);
    assert.ok(hi < w && hi >= w * 0.99, `n=${n}: ${hi} within [0, ${w})`);
  }
  assert.equal(backoffWindow(cfg, 10_000), 30_000, 'no overflow for huge attempt counts');
  const samples = Array.from({ length: 2000 }, (_, i) => backoffDelay(cfg, 3, () => (i + 0.5) / 2000));
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  assert.ok(Math.abs(mean - 4000) < 50, `uniform over the window: mean ${mean}`);
});

test('Retry-After: honoured, plus up to 50 % jitter; parsed from seconds or an HTTP date', () => {
  assert.equal(retryAfterDelay(cfg, 5000, () => 0), 5000);
  assert.equal(retryAfterDelay(cfg, 5000, () => 0.999_999), 7499);
  assert.equal(parseRetryAfter('7', 0), 7000);
  assert.equal(parseRetryAfter(' 12 ', 0), 12_000);
  assert.equal(parseRetryAfter(undefined, 0), undefined);
  assert.equal(parseRetryAfter('soon', 0), undefined);
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0);
  assert.equal(DEFAULT_BACKOFF.retryAfterJitter, 0.5);
});

test('Retry-After-Ms: the gateway\'s exact schedule wins over Retry-After and is honoured without jitter', () => {
  assert.equal(parseRetryAfterMs('2750'), 2750);
  assert.equal(parseRetryAfterMs(' 0 '), 0);
  for (const bad of [undefined, '', '1.5', '-3', 'soon', '3600001', '99999999']) assert.equal(parseRetryAfterMs(bad), undefined, String(bad));
  assert.deepEqual(refusalWait('3', '2750', 0), { retryAfterMs: 2750, retryAfterExact: true });
  assert.deepEqual(refusalWait('3', 'junk', 0), { retryAfterMs: 3000 }, 'a malformed Retry-After-Ms falls back to Retry-After');
  assert.equal(refusalWait(undefined, undefined, 0), undefined);
  assert.equal(retryAfterDelay(cfg, 2750, () => 0.999, true), 2750);
  const d = decide({ code: 1006, reason: '', httpStatus: 503, retryAfterMs: 2750, retryAfterExact: true }, 0, cfg, () => 0.999);
  assert.equal(d.kind === 'retry' && d.delayMs, 2750, 'exact: the slot the gateway gave, no +50 %');
  const j = decide({ code: 1006, reason: '', httpStatus: 503, retryAfterMs: 3000 }, 0, cfg, () => 0.999);
  assert.ok(j.kind === 'retry' && j.delayMs > 4000, 'plain Retry-After keeps its jitter');
});

// ---- decide(): every close code, every refused upgrade -----------------------------------

test('decide(): every close code in the shared table gets the advised behaviour', () => {
  const terminalState: Record<number, ClientState> = { [Close.REPLACED]: 'replaced', [Close.KICKED]: 'kicked', [Close.LOGGED_OUT]: 'logged-out', [Close.NORMAL]: 'closed' };
  for (const c of CLOSE_CODES) {
    const d = decide({ code: c.code, reason: '' }, 2, cfg, () => 0.5);
    switch (c.reconnect) {
      case 'no':
        assert.equal(d.kind, 'terminal', c.name);
        if (d.kind === 'terminal') assert.equal(d.state, terminalState[c.code] ?? 'failed', c.name);
        break;
      case 'backoff':
        assert.equal(d.kind, 'retry', c.name);
        if (d.kind === 'retry') assert.deepEqual([d.delayMs, d.refreshToken, d.countsAsAttempt], [2000, false, true], c.name);
        break;
      case 'refresh-token':
        assert.equal(d.kind, 'retry', c.name);
        if (d.kind === 'retry') assert.deepEqual([d.delayMs, d.refreshToken], [0, true], c.name);
        break;
      case 'after-delay': {
        assert.equal(d.kind, 'retry', c.name);
        if (d.kind === 'retry') assert.equal(d.delayMs, 2000, `${c.name} without a reconnect frame: backoff`);
        const withFrame = decide({ code: c.code, reason: '', reconnectDelayMs: 1234 }, 2, cfg, () => 0.5);
        assert.ok(withFrame.kind === 'retry' && withFrame.delayMs === 1234 && withFrame.serverWait, `${c.name} honours the frame's delay`);
        break;
      }
    }
  }
  const terminals = CLOSE_CODES.filter((c) => c.reconnect === 'no').map((c) => c.name).sort();
  assert.deepEqual(terminals, ['AUTH_FAILED', 'DEVICE_LIMIT', 'INVALID_FRAME', 'KICKED', 'LOGGED_OUT', 'MESSAGE_TOO_BIG', 'NORMAL', 'REPLACED', 'UNSUPPORTED_PROTOCOL']);
});

test('decide(): unknown codes back off; a zombie backs off; token refresh loops are cut', () => {
  const r = (info: LossInfo) => decide(info, 0, cfg, () => 0.5);
  assert.equal(r({ code: 4999, reason: '' }).kind, 'retry');
  assert.equal(r({ code: 1006, reason: '', zombie: true }).kind, 'retry');
  const again = r({ code: Close.TOKEN_EXPIRED, reason: '', usedFreshToken: true });
  assert.ok(again.kind === 'retry' && again.delayMs === 500 && again.refreshToken, 'expired again with a fresh token: back off, still refreshing');
  const tok = r({ code: 1006, reason: '', tokenError: true });
  assert.ok(tok.kind === 'retry' && tok.refreshToken && tok.countsAsAttempt);
});

test('decide(): refused upgrades (Node sees the HTTP status)', () => {
  const r = (info: Partial<LossInfo>) => decide({ code: 1006, reason: '', ...info }, 0, cfg, () => 0.5);
  const expired = r({ httpStatus: 401, errorCode: 'LL_AUTH_TOKEN_EXPIRED' });
  assert.ok(expired.kind === 'retry' && expired.refreshToken && expired.delayMs === 0);
  assert.equal(r({ httpStatus: 401, usedFreshToken: true }).kind, 'terminal');
  assert.equal(r({ httpStatus: 400 }).kind, 'terminal');
  assert.equal(r({ httpStatus: 404 }).kind, 'terminal');
  assert.equal(r({ httpStatus: 426, errorCode: 'LL_UNSUPPORTED_WS_VERSION' }).kind, 'terminal', '426: do not retry (protocol.md §2.3)');
  const limited = r({ httpStatus: 429, retryAfterMs: 3000, errorCode: 'LL_ADMISSION_SOURCE_RATE' });
  assert.ok(limited.kind === 'retry' && limited.delayMs >= 3000 && limited.serverWait, '429: wait Retry-After');
  const busy = r({ httpStatus: 503, retryAfterMs: 4000 });
  assert.ok(busy.kind === 'retry' && busy.delayMs === 5000 && busy.serverWait);
  const busyNoHeader = r({ httpStatus: 503 });
  assert.ok(busyNoHeader.kind === 'retry' && !busyNoHeader.serverWait);
  assert.equal(r({ httpStatus: 502 }).kind, 'retry');
});

// ---- the machine --------------------------------------------------------------------------

function machine(random = () => 0.5) {
  const t = new FakeTimers();
  const log: StateChange[] = [];
  const connects: boolean[] = [];
  const aborts: string[] = [];
  const m = new ReconnectMachine(cfg, t, random, {
    connect: (refresh) => connects.push(refresh),
    abort: (r) => aborts.push(r),
    state: (c) => log.push(c),
    retry: () => {},
  });
  const path = (): string => [log[0]?.from, ...log.map((c) => c.to)].join(' > ');
  return { t, m, log, connects, aborts, path };
}

test('transitions: idle > connecting > connected > disconnected > connecting > connected', () => {
  const { t, m, connects, path } = machine();
  assert.equal(m.state, 'idle');
  assert.equal(m.start(), true);
  m.opened();
  t.advance(20_000); // healthy
  const d = m.lost({ code: 1006, reason: 'dropped' });
  assert.ok(d?.kind === 'retry');
  assert.equal(m.state, 'disconnected');
  t.advance(499);
  assert.equal(connects.length, 1);
  t.advance(1); // attempt 0: 0.5 * 1000
  assert.equal(connects.length, 2);
  m.opened();
  assert.equal(path(), 'idle > connecting > connected > disconnected > connecting > connected');
});

test('wake-ups are ignored while connecting or connected, and in idle or terminal states', () => {
  const { m, connects } = machine();
  for (const s of ['online', 'visible', 'network'] as const) assert.equal(m.wake(s), false, `idle ignores ${s}`);
  m.start();
  for (const s of ['online', 'visible', 'network'] as const) assert.equal(m.wake(s), false, `connecting ignores ${s}`);
  assert.equal(m.start(), false);
  m.opened();
  for (const s of ['online', 'visible', 'network'] as const) assert.equal(m.wake(s), false, `connected ignores ${s}`);
  assert.equal(m.start(), false);
  m.lost({ code: Close.KICKED, reason: '' });
  assert.equal(m.state, 'kicked');
  for (const s of ['online', 'visible', 'network'] as const) assert.equal(m.wake(s), false, `kicked ignores ${s}`);
  assert.equal(connects.length, 1);
});

test('no double connect: online + visible + the retry timer in the same tick start one attempt', () => {
  const { t, m, connects } = machine(() => 0);
  m.start();
  m.lost({ code: 1006, reason: '' }); // delay 0 with random 0: the timer is due now
  assert.equal(m.state, 'disconnected');
  m.wake('online');
  m.wake('visible');
  m.wake('network');
  t.advance(0);
  t.advance(1000);
  assert.equal(connects.length, 2, 'initial + exactly one retry');
  assert.equal(m.state, 'connecting');
});

test('a wake from disconnected connects at once, but a server-imposed wait is honoured', () => {
  const { t, m, connects } = machine();
  m.start();
  m.opened();
  m.lost({ code: 1006, reason: '' });
  assert.equal(m.wake('online'), true);
  assert.equal(connects.length, 2);
  m.lost({ code: Close.DRAINING, reason: '', reconnectDelayMs: 3000 });
  assert.equal(m.wake('visible'), false);
  t.advance(2999);
  assert.equal(connects.length, 2);
  t.advance(1);
  assert.equal(connects.length, 3);
  m.lost({ code: 1006, reason: '', httpStatus: 503, retryAfterMs: 2000 });
  assert.equal(m.wake('online'), false);
  t.advance(2999); // 2000 * 1.5 with random 0.5 => 2500
  assert.equal(connects.length, 4);
});

test('every loss goes through disconnected (offline first), a heartbeat failure too', () => {
  const { m, log } = machine();
  m.start();
  m.opened();
  m.lost({ code: 1006, reason: 'zombie', zombie: true });
  assert.deepEqual(log.map((c) => c.to), ['connecting', 'connected', 'disconnected']);
});

test('terminal close codes: replaced, kicked, logged-out, failed; connect() leaves them', () => {
  for (const [code, state] of [[Close.REPLACED, 'replaced'], [Close.KICKED, 'kicked'], [Close.LOGGED_OUT, 'logged-out'], [Close.AUTH_FAILED, 'failed'], [Close.INVALID_FRAME, 'failed'], [Close.NORMAL, 'closed']] as const) {
    const { t, m, connects } = machine();
    m.start();
    m.opened();
    m.lost({ code, reason: '' });
    assert.equal(m.state, state);
    t.advance(1_000_000);
    assert.equal(connects.length, 1, `${state}: no reconnect`);
    assert.equal(m.start(), true, `${state}: the app may connect again`);
    assert.equal(connects.length, 2);
  }
});

test('token expiry: refresh flag on the next attempt, immediately, and cleared after hello', () => {
  const { t, m, connects } = machine();
  m.start();
  m.opened();
  m.lost({ code: Close.TOKEN_EXPIRED, reason: '' });
  assert.equal(m.state, 'disconnected');
  t.advance(0);
  assert.deepEqual(connects, [false, true]);
  m.opened();
  m.lost({ code: 1006, reason: '' });
  t.advance(1000);
  assert.deepEqual(connects, [false, true, false]);
});

test('backoff attempts grow while connections fail fast and reset after a healthy one', () => {
  const delays: number[] = [];
  const t = new FakeTimers();
  const m = new ReconnectMachine(cfg, t, () => 0.999, { connect: () => {}, abort: () => {}, state: () => {}, retry: (d) => delays.push(d) });
  m.start();
  for (let i = 0; i < 7; i++) {
    m.lost({ code: 1006, reason: '' });
    t.runAll();
  }
  m.opened();
  t.advance(1000); // accepted then dropped quickly: still climbing
  m.lost({ code: 1006, reason: '' });
  t.runAll();
  m.opened();
  t.advance(10_000); // healthy
  m.lost({ code: 1006, reason: '' });
  assert.deepEqual(delays, [999, 1998, 3996, 7992, 15984, 29970, 29970, 29970, 999]);
});

test('a storm: a 1011 (session start failed) never resets the backoff to its minimum; 503 and 1013 waits count as the server says', () => {
  const delays: number[] = [];
  const t = new FakeTimers();
  const m = new ReconnectMachine(cfg, t, () => 0.999, { connect: () => {}, abort: () => {}, state: () => {}, retry: (d) => delays.push(d) });
  m.start();
  m.lost({ code: 1006, reason: 'upgrade refused', httpStatus: 503, retryAfterMs: 2000 }); // 2000 + up to 50 %
  t.runAll();
  m.lost({ code: Close.INTERNAL_ERROR, reason: 'session service unavailable' }); // upgraded, no hello: attempt 1
  t.runAll();
  m.lost({ code: Close.INTERNAL_ERROR, reason: 'session service unavailable' }); // attempt 2
  t.runAll();
  m.lost({ code: Close.TRY_AGAIN_LATER, reason: 'routers overloaded', reconnectDelayMs: 1500 }); // the server's delay, not an attempt
  t.runAll();
  m.opened();
  t.advance(1000); // in, then a 1011 a second later: still not healthy, still climbing
  m.lost({ code: Close.INTERNAL_ERROR, reason: '' });
  t.runAll();
  m.lost({ code: Close.TRY_AGAIN_LATER, reason: 'no reconnect frame' }); // without a delay: backoff
  assert.deepEqual(delays, [2999, 1998, 3996, 1500, 7992, 15984]);
  assert.ok(Math.min(...delays.slice(1)) > 999 * 1.5, 'never back to the first window after the storm began');
});

test('stop() from every state ends in closed; only live states abort a socket', () => {
  for (const setup of ['idle', 'connecting', 'connected', 'disconnected', 'kicked'] as const) {
    const { t, m, aborts, connects } = machine();
    if (setup !== 'idle') m.start();
    if (setup === 'connected' || setup === 'disconnected') m.opened();
    if (setup === 'disconnected') m.lost({ code: 1006, reason: '' });
    if (setup === 'kicked') m.lost({ code: Close.KICKED, reason: '' });
    m.stop();
    assert.equal(m.state, 'closed', setup);
    assert.equal(aborts.length, setup === 'connecting' || setup === 'connected' ? 1 : 0, setup);
    t.advance(1_000_000);
    assert.equal(connects.length, setup === 'idle' ? 0 : 1, `${setup}: nothing after stop`);
  }
});

test('losses outside connecting/connected are ignored; a listener closing during a transition wins', () => {
  const { m } = machine();
  assert.equal(m.lost({ code: 1006, reason: '' }), undefined);
  const t = new FakeTimers();
  let connects = 0;
  const m2: ReconnectMachine = new ReconnectMachine(cfg, t, () => 0.5, {
    connect: () => { connects++; },
    abort: () => {},
    state: (c) => { if (c.to === 'disconnected') m2.stop('listener closed'); },
    retry: () => {},
  });
  m2.start();
  m2.lost({ code: 1006, reason: '' });
  assert.equal(m2.state, 'closed');
  t.advance(100_000);
  assert.equal(connects, 1);
});
