/** The SDK client across losses: close codes, refused upgrades, tokens, drain, timeouts, zombies and late beats. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Close, SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from '../../protocol/index.js';
import { ManualNetwork } from '../../sdk/src/network.js';
import { HeartbeatMemory, MemoryStorage } from '../../sdk/src/storage.js';
import { jwtExpiresAtMs, tokenExpired } from '../../sdk/src/token.js';
import { FakeTimers, flushMicrotasks } from '../../sdk/src/testing.js';
import { SendError } from '../../sdk/src/upstream.js';
import { connect, setup } from '../helpers/sdk-client-harness.js';

test('terminal close codes stop the client and reject pending sends', async () => {
  for (const [code, state] of [[Close.REPLACED, 'replaced'], [Close.KICKED, 'kicked'], [Close.LOGGED_OUT, 'logged-out'], [Close.AUTH_FAILED, 'failed'], [Close.INVALID_FRAME, 'failed'], [Close.MESSAGE_TOO_BIG, 'failed'], [Close.UNSUPPORTED_PROTOCOL, 'failed']] as const) {
    const r = setup();
    const s = await connect(r);
    s.hello();
    const sending = r.client.send('t', 1);
    const ev = new Promise((resolve) => r.client.once('disconnected', resolve));
    s.serverClose(code);
    assert.equal(r.client.state, state);
    assert.deepEqual(await ev, { code, reason: '', zombie: false, terminal: state });
    await assert.rejects(sending, (e: unknown) => e instanceof SendError && e.kind === 'closed');
    r.timers.advance(1_000_000);
    await flushMicrotasks();
    assert.equal(r.tr.count, 1, `${state}: never reconnects`);
  }
});

test('backoff close codes reconnect with backoff and resume', async () => {
  for (const code of [1001, 1006, 1011, Close.HEARTBEAT_TIMEOUT, Close.SLOW_CONSUMER, Close.RATE_LIMITED, 4999]) {
    const r = setup();
    const s = await connect(r);
    s.hello({ session: 'S' });
    s.serverClose(code);
    assert.equal(r.client.state, 'disconnected');
    r.timers.advance(499);
    await flushMicrotasks();
    assert.equal(r.tr.count, 1);
    r.timers.advance(1); // random 0.5 * base 1000
    await flushMicrotasks();
    assert.equal(r.tr.count, 2, `code ${code}`);
    assert.equal(r.tr.last.url.searchParams.get('session'), 'S');
  }
});

test('token expired (4002): the app is asked for a fresh token, then the client reconnects at once', async () => {
  const calls: boolean[] = [];
  const r = setup({ token: ({ refresh }) => { calls.push(refresh); return Promise.resolve(refresh ? 'fresh' : 'old'); } });
  const s = await connect(r);
  s.hello();
  s.serverClose(Close.TOKEN_EXPIRED);
  assert.equal(r.client.state, 'disconnected');
  r.timers.advance(0);
  await flushMicrotasks();
  assert.deepEqual(calls, [false, true]);
  assert.deepEqual(r.tr.last.protocols, [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + 'fresh']);
  assert.deepEqual(r.states, ['connecting', 'connected', 'disconnected', 'connecting']);
});

test('a failing token provider backs off and retries with refresh', async () => {
  let n = 0;
  const r = setup({ token: () => (n++ === 0 ? Promise.reject(new Error('auth down')) : 'ok') });
  const errors: string[] = [];
  r.client.on('error', (e) => errors.push(e.message));
  r.client.connect();
  await flushMicrotasks();
  assert.equal(r.tr.count, 0);
  assert.equal(r.client.state, 'disconnected');
  assert.deepEqual(errors, ['auth down']);
  r.timers.advance(500);
  await flushMicrotasks();
  assert.equal(r.tr.count, 1);
});

test('drain: the reconnect frame delay is honoured, then resume', async () => {
  const r = setup();
  const s = await connect(r);
  s.hello({ session: 'S' });
  s.reconnect(2500);
  r.timers.advance(1000);
  s.serverClose(Close.DRAINING);
  r.timers.advance(1499);
  await flushMicrotasks();
  assert.equal(r.tr.count, 1);
  r.timers.advance(1);
  await flushMicrotasks();
  assert.equal(r.tr.count, 2);
});

test('refused upgrades: 503 Retry-After honoured; 401 refreshes the token once; 400 stops', async () => {
  const r = setup();
  let s = await connect(r);
  s.refuse(503, 4000, 'LL_ADMISSION_RATE');
  r.timers.advance(4999); // 4000 * (1 + 0.5 * 0.5)
  r.client.wake('online');
  await flushMicrotasks();
  assert.equal(r.tr.count, 1, 'an online event does not jump a Retry-After');
  r.timers.advance(1);
  await flushMicrotasks();
  assert.equal(r.tr.count, 2);
  s = r.tr.last;
  s.refuse(401, undefined, 'LL_AUTH_TOKEN_EXPIRED');
  r.timers.advance(0);
  await flushMicrotasks();
  assert.equal(r.tr.count, 3);
  r.tr.last.refuse(401, undefined, 'LL_AUTH_INVALID_TOKEN');
  assert.equal(r.client.state, 'failed', 'rejected even with a fresh token: stop');
  const r2 = setup();
  (await connect(r2)).refuse(400, undefined, 'LL_BAD_HANDSHAKE');
  assert.equal(r2.client.state, 'failed');
});

test('connect timeout: no hello in time means drop and back off', async () => {
  const r = setup({ connectTimeoutMs: 3000 });
  const s = await connect(r);
  s.open();
  r.timers.advance(2999);
  assert.equal(r.client.state, 'connecting');
  r.timers.advance(1);
  assert.equal(r.client.state, 'disconnected');
  assert.equal(s.terminated, true);
});

test('zombie: unanswered heartbeat → offline first (disconnected), then a new connection; the old socket is dropped hard', async () => {
  const r = setup();
  const s = await connect(r);
  s.hello();
  const seen: string[] = [];
  r.client.on('disconnected', (d) => seen.push(`disconnected zombie=${d.zombie} retry=${d.retryInMs}`));
  r.client.on('state', (c) => seen.push(c.to));
  r.timers.advance(750); // first beat (jittered 0.75 * 1000)
  assert.equal(s.heartbeats().length, 1);
  r.timers.advance(999);
  assert.equal(r.client.state, 'connected');
  r.timers.advance(1);
  assert.equal(s.terminated, true);
  assert.deepEqual(seen, ['disconnected', 'disconnected zombie=true retry=500']);
  s.heartbeatAck(); // a late frame on the abandoned socket changes nothing
  r.timers.advance(500);
  await flushMicrotasks();
  assert.equal(r.tr.count, 2);
  assert.equal(r.client.stats.zombies, 1);
});

test('no double connect: online + visible + network + retry timer together open one socket', async () => {
  const net = new ManualNetwork('wifi');
  const r = setup({ network: net, random: () => 0 });
  const s = await connect(r);
  s.hello();
  s.drop(); // retry delay 0 with random 0
  net.emit('online');
  net.emit('visible');
  net.switchTo('cell');
  r.client.wake('app');
  r.timers.advance(0);
  r.client.connect();
  await flushMicrotasks();
  assert.equal(r.tr.count, 2);
  r.tr.last.hello();
  net.emit('online');
  net.emit('visible');
  r.client.connect();
  await flushMicrotasks();
  assert.equal(r.tr.count, 2, 'ignored while connected');
});

test('close() while the token is being fetched opens no socket; close() on a live one closes 1000', async () => {
  let release: (t: string) => void = () => {};
  const r = setup({ token: () => new Promise<string>((res) => { release = res; }) });
  r.client.connect();
  r.client.close();
  release('late');
  await flushMicrotasks();
  assert.equal(r.tr.count, 0);
  assert.equal(r.client.state, 'closed');
  const r2 = setup();
  const s = await connect(r2);
  s.hello();
  r2.client.close();
  assert.deepEqual(s.clientClosed, { code: 1000, reason: 'closed by the app' });
  assert.equal(r2.timers.pending, 0, 'no timer left behind');
});

test('a beat sent far too late (device asleep) is not held against the interval', async () => {
  const storage = new MemoryStorage();
  await new HeartbeatMemory(storage).save('default', { intervalMs: 4000, stable: false, successes: 0, failures: 0, modifiedAt: 0 });
  let sleepNext = false;
  const timers = new FakeTimers();
  // Once armed, the next timer fires 30 s late, like a laptop waking up.
  const sleepy = {
    now: () => timers.now(), wallNow: () => timers.wallNow(),
    setTimeout: (fn: () => void, ms: number) => {
      const late = sleepNext ? 30_000 : 0;
      sleepNext = false;
      return timers.setTimeout(fn, ms + late);
    },
  };
  // failuresToBackOff 1: any counted failure would change the interval at once.
  const r = setup({ timers: sleepy, storage, heartbeat: { minMs: 1000, maxMs: 8000, stepMs: 1000, marginMs: 200, successesToStep: 2, failuresToBackOff: 1, timeoutMs: 1000 } });
  const changes: string[] = [];
  r.client.on('interval', (e) => changes.push(`${e.reason}:${e.toMs}`));
  const s = await connect(r);
  sleepNext = true; // the idle timer armed by hello sleeps
  s.hello();
  assert.equal(r.client.heartbeatIntervalMs, 4000);
  assert.deepEqual(changes, ['network:4000'], 'loaded from storage');
  changes.length = 0;
  timers.advance(40_000);
  assert.equal(s.heartbeats().length, 1, 'the late first beat went out');
  assert.equal(r.client.stats.zombies, 1, 'and its silence was detected');
  await flushMicrotasks();
  assert.deepEqual(changes, []);
  assert.equal(r.client.heartbeatIntervalMs, 4000);
});

test('a JWT that is already expired is refreshed before connecting (browsers cannot see the 401)', async () => {
  const jwt = (expS: number): string => `h.${Buffer.from(JSON.stringify({ sub: 'u', exp: expS })).toString('base64url')}.s`;
  const timers = new FakeTimers(0, 1_700_000_000_000);
  const asked: boolean[] = [];
  const r = setup({ timers, token: ({ refresh }) => { asked.push(refresh); return refresh ? jwt(1_700_000_600) : jwt(1_699_999_000); } });
  const s = await connect(r);
  assert.deepEqual(asked, [false, true]);
  assert.equal(s.protocols[1], TOKEN_SUBPROTOCOL_PREFIX + jwt(1_700_000_600));
  assert.equal(tokenExpired('opaque-token', 0), false);
  assert.equal(jwtExpiresAtMs(jwt(42)), 42_000);
  assert.equal(jwtExpiresAtMs('a.!!!.c'), undefined);
});

test('a token provider that never answers does not leave the client connecting forever', async () => {
  let calls = 0;
  const r = setup({ connectTimeoutMs: 2000, token: () => (++calls === 1 ? new Promise<string>(() => {}) : 'ok') });
  r.client.connect();
  await flushMicrotasks();
  r.timers.advance(1999);
  assert.equal(r.client.state, 'connecting');
  r.timers.advance(1);
  assert.equal(r.client.state, 'disconnected');
  r.timers.advance(500);
  await flushMicrotasks();
  assert.equal(r.tr.count, 1);
  assert.equal(calls, 2);
});
