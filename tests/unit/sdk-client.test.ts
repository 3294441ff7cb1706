/** The SDK client on a live connection: handshake, pushes and acks, upstream sends, listeners, epochs, many clients per process (losses and reconnects: sdk-client-reconnect.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Close, SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from '../../protocol/index.js';
import { flushMicrotasks } from '../../sdk/src/testing.js';
import { SendError } from '../../sdk/src/upstream.js';
import { connect, setup } from '../helpers/sdk-client-harness.js';

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
