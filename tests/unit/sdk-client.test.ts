import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Close, SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from '../../protocol/index.js';
import { LonglinkClient } from '../../sdk/src/client.js';
import { ManualNetwork } from '../../sdk/src/network.js';
import { HeartbeatMemory, MemoryStorage } from '../../sdk/src/storage.js';
import { jwtExpiresAtMs, tokenExpired } from '../../sdk/src/token.js';
import { FakeTimers, FakeTransport, flushMicrotasks } from '../../sdk/src/testing.js';
import type { ClientOptions } from '../../sdk/src/types.js';
import { SendError } from '../../sdk/src/upstream.js';

function setup(over: Partial<ClientOptions> = {}) {
  const timers = new FakeTimers();
  const tr = new FakeTransport();
  const client = new LonglinkClient({
    url: 'ws://gw.test/ws', token: 'tok', device: 'phone', transport: tr.factory, timers, random: () => 0.5,
    heartbeat: { minMs: 1000, maxMs: 8000, stepMs: 1000, marginMs: 200, successesToStep: 2, timeoutMs: 60_000 },
    backoff: { baseMs: 1000, capMs: 8000, healthyAfterMs: 5000 },
    ...over,
  });
  const states: string[] = [];
  client.on('state', (c) => states.push(c.to));
  const pushes: number[] = [];
  client.on('push', (p) => pushes.push(p.seq));
  return { timers, tr, client, states, pushes };
}

/** connect() and let the async token step run; returns the socket. */
async function connect(r: ReturnType<typeof setup>) {
  r.client.connect();
  await flushMicrotasks();
  return r.tr.last;
}

test('handshake: subprotocols carry the token; device, hb and (later) session + last_seq in the query', async () => {
  const r = setup();
  const s = await connect(r);
  assert.deepEqual(s.protocols, [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + 'tok']);
  assert.equal(s.url.pathname, '/ws');
  assert.equal(s.url.searchParams.get('device'), 'phone');
  assert.equal(s.url.searchParams.get('hb'), '1000');
  assert.equal(s.url.searchParams.has('session'), false);
  assert.equal(s.url.searchParams.has('access_token'), false);
  s.open().hello({ session: 'S1' });
  assert.equal(r.client.state, 'connected');
  s.push(5).push(7);
  s.drop();
  r.timers.advance(1000);
  await flushMicrotasks();
  const s2 = r.tr.last;
  assert.equal(s2.url.searchParams.get('session'), 'S1');
  assert.equal(s2.url.searchParams.get('last_seq'), '7');
});

test('token in the query when asked', async () => {
  const r = setup({ tokenIn: 'query' });
  const s = await connect(r);
  assert.deepEqual(s.protocols, [SUBPROTOCOL]);
  assert.equal(s.url.searchParams.get('access_token'), 'tok');
});

test('a push the client may not decode (data past the depth limit) is reported and acked past; the connection stays and later pushes arrive', async () => {
  const r = setup({ ackDelayMs: 100, ackBatch: 50 });
  const errors: Array<{ seq: number; id: string; reason: string }> = [];
  r.client.on('pushError', (e) => errors.push(e));
  const s = await connect(r);
  s.hello();
  s.push(1);
  s.text(`{"op":"push","seq":2,"id":"poison","ts":1,"data":${'['.repeat(65)}1${']'.repeat(65)}}`);
  s.push(3);
  r.timers.advance(100);
  assert.deepEqual(r.pushes, [1, 3], 'the pushes around it are delivered');
  assert.deepEqual(errors.map((e) => [e.seq, e.id]), [[2, 'poison']]);
  assert.match(errors[0]!.reason, /nests deeper than 64 levels/);
  assert.deepEqual(s.acks(), [3], 'acked past it: the inbox trims it instead of replaying it on every resume');
  assert.equal(s.live, true, 'not closed');
  assert.equal(r.client.state, 'connected');
  // Replayed after a resume (acks lost): reported once only, still no close.
  s.text(`{"op":"push","seq":2,"id":"poison","ts":1,"data":${'['.repeat(65)}1${']'.repeat(65)}}`);
  assert.equal(errors.length, 1);
  assert.equal(s.live, true);
});

test('pushes: each once, in order, duplicates after a resume dropped; acks cumulative and batched', async () => {
  const r = setup({ ackDelayMs: 100, ackBatch: 3 });
  const s = await connect(r);
  s.hello();
  s.push(1).push(2);
  assert.deepEqual(s.acks(), [], 'batched: nothing yet');
  r.timers.advance(99);
  assert.deepEqual(s.acks(), []);
  r.timers.advance(1);
  assert.deepEqual(s.acks(), [2], 'one cumulative ack after ackDelayMs');
  s.push(3).push(4).push(5);
  assert.deepEqual(s.acks(), [2, 5], 'ackBatch pushes: ack at once');
  s.push(9);
  s.drop();
  r.timers.advance(1000);
  await flushMicrotasks();
  const s2 = r.tr.last;
  assert.equal(s2.url.searchParams.get('last_seq'), '9');
  s2.hello({ resumed: true });
  r.timers.advance(0);
  assert.deepEqual(s2.acks(), [], 'the ack owed for 9 waits for its batch');
  s2.push(8).push(9).push(10).push(12);
  r.timers.advance(100);
  assert.deepEqual(r.pushes, [1, 2, 3, 4, 5, 9, 10, 12]);
  assert.deepEqual(s2.acks(), [9, 12], '9 was owed from the dropped connection');
  assert.equal(r.client.stats.duplicates, 2);
  assert.equal(r.client.lastSeq, 12);
});

test('an ack owed when the connection dropped is sent on the next one', async () => {
  const r = setup({ ackDelayMs: 100 });
  const s = await connect(r);
  s.hello();
  s.push(3);
  s.drop();
  r.timers.advance(1000);
  await flushMicrotasks();
  const s2 = r.tr.last;
  s2.hello();
  r.timers.advance(100);
  assert.deepEqual(s.acks(), []);
  assert.deepEqual(s2.acks(), [3]);
});

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

test('send(): a topic or id the gateway would refuse is rejected locally, nothing is sent, the connection stays', async () => {
  const r = setup();
  const s = await connect(r);
  s.hello();
  for (const topic of ['.', '..', 'a..b', '.x', 'x.', 'a b', 'a.*']) {
    await assert.rejects(r.client.send(topic, 1), (e: unknown) => e instanceof SendError && e.kind === 'rejected' && /^topic must be 1-128 characters: words of/.test(e.message), topic);
  }
  await assert.rejects(r.client.send('chat', 1, { id: 'm\u0000' }), (e: unknown) => e instanceof SendError && /^id must not contain control characters/.test(e.message));
  assert.deepEqual(s.frames().filter((f) => f.op === 'send'), [], 'nothing written');
  assert.equal(r.client.state, 'connected');
  assert.throws(() => setup({ device: 'my phone' }), /device must be 1-64 characters of A-Z a-z 0-9 \. _ -/);
});

test('send(): resolves on sent, rejects on error or timeout, waits for a connection, resends after a drop', async () => {
  const r = setup({ sendTimeoutMs: 5000 });
  await assert.rejects(r.client.send('t', 1), (e: unknown) => e instanceof SendError && e.kind === 'closed', 'idle client');
  const s = await connect(r);
  const early = r.client.send('chat.typing', { room: 'r9' }, { id: 'u-1' });
  assert.equal(s.sent.length, 0, 'waits for hello');
  s.hello();
  assert.deepEqual(s.frames().filter((f) => f.op === 'send'), [{ op: 'send', id: 'u-1', topic: 'chat.typing', data: { room: 'r9' } }]);
  s.sentAck('u-1');
  await early;
  const bad = r.client.send('t', 2, { id: 'u-2' });
  s.sentAck('u-2', 'upstream unavailable');
  await assert.rejects(bad, (e: unknown) => e instanceof SendError && e.kind === 'rejected' && e.message === 'upstream unavailable');
  const slow = r.client.send('t', 3, { id: 'u-3', timeoutMs: 1000 });
  r.timers.advance(1000);
  await assert.rejects(slow, (e: unknown) => e instanceof SendError && e.kind === 'timeout');
  const lost = r.client.send('t', 4, { id: 'u-4' });
  s.drop();
  r.timers.advance(500);
  await flushMicrotasks();
  const s2 = r.tr.last;
  s2.hello();
  assert.deepEqual(s2.frames().filter((f) => f.op === 'send').map((f) => f.op === 'send' && f.id), ['u-4'], 'same id again');
  s2.sentAck('u-4');
  await lost;
});

test('many clients per process are independent', async () => {
  const a = setup();
  const b = setup();
  (await connect(a)).hello();
  const sb = await connect(b);
  sb.hello();
  sb.serverClose(Close.KICKED);
  assert.equal(a.client.state, 'connected');
  assert.equal(b.client.state, 'kicked');
});

test('a throwing push listener does not break delivery; the error is reported', async () => {
  const r = setup();
  const errors: string[] = [];
  r.client.on('error', (e) => errors.push(e.message));
  r.client.on('push', () => { throw new Error('app bug'); });
  const s = await connect(r);
  s.hello();
  s.push(1).push(2);
  assert.deepEqual(r.pushes, [1, 2]);
  assert.deepEqual(errors, ['app bug', 'app bug']);
});

test('an undecodable server frame closes with the decoder code (terminal 4008)', async () => {
  const r = setup();
  const s = await connect(r);
  s.hello();
  s.text('{"op":"bogus"}');
  assert.equal(s.clientClosed?.code, Close.INVALID_FRAME);
  assert.equal(r.client.state, 'failed');
});

test('a server whose sequence restarted (hello.seq below ours, fresh session) is followed, not ignored', async () => {
  const r = setup({ resume: { session: 'old', lastSeq: 500 } });
  const s = await connect(r);
  s.hello({ session: 'new', resumed: false, seq: 2 });
  s.push(1).push(2);
  assert.deepEqual(r.pushes, [1, 2]);
  const r2 = setup({ resume: { session: 'S', lastSeq: 5 } });
  const s2 = await connect(r2);
  s2.hello({ session: 'S', resumed: true, seq: 7 });
  s2.push(5).push(6).push(7);
  assert.deepEqual(r2.pushes, [6, 7], 'a normal resume still de-duplicates');
});

test('epochs: resume names the epoch; a new one in hello or on a push starts over and reports what could not be recovered', async () => {
  const E1 = 1_000_000, E2 = 2_000_000, E3 = 3_000_000;
  const r = setup();
  const lost: unknown[] = [];
  r.client.on('unrecoverable', (e) => lost.push(e));
  const s = await connect(r);
  s.open().hello({ session: 'S', epoch: E1, seq: 0 });
  s.push(1, 'a', 'm1', E1).push(2, 'b', 'm2', E1);
  assert.deepEqual(r.client.resumeState, { session: 'S', lastSeq: 2, epoch: E1 });
  s.drop();
  r.timers.advance(1000);
  await flushMicrotasks();
  const s2 = r.tr.last;
  assert.deepEqual([s2.url.searchParams.get('last_seq'), s2.url.searchParams.get('epoch')], ['2', String(E1)]);
  // The server lost the sequence: hello says which pushes are gone; seqs 1-2 of E2 are new.
  s2.open().hello({ session: 'S', resumed: true, epoch: E2, seq: 2, lost: { epoch: E1, afterSeq: 2 } });
  s2.push(1, 'x', 'n1', E2).push(2, 'y', 'n2', E2);
  assert.deepEqual(r.pushes, [1, 2, 1, 2]);
  assert.deepEqual(lost, [{ epoch: E1, afterSeq: 2, newEpoch: E2 }]);
  // Mid-connection: a push of a newer epoch starts over too, and is reported by the client itself.
  s2.push(1, 'z', 'o1', E3);
  s2.push(3, 'late', 'n3', E2); // of the older epoch: dropped
  assert.deepEqual(r.pushes, [1, 2, 1, 2, 1]);
  assert.deepEqual(lost[1], { epoch: E2, afterSeq: 2, newEpoch: E3 });
  assert.equal(r.client.epoch, E3);
  r.timers.advance(200);
  assert.equal(s2.acks().at(-1), 1, 'acks the new sequence');
});

test('a malformed or non-WebSocket URL is refused at construction', () => {
  assert.throws(() => setup({ url: 'not a url' }), TypeError);
  assert.throws(() => setup({ url: 'http://gw.test/ws' }), /ws:\/\/ or wss:\/\//);
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
