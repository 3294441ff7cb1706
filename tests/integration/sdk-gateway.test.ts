/**
 * The Node SDK (ws transport) against a real standalone gateway + router:
 * pushes in order, resume after an RST cut with no lost push, upstream send,
 * and the close codes a real gateway sends (replaced, kicked, logged out,
 * token expired) plus a 503 + Retry-After refusal seen through `ws`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRig, type Rig } from '../../loadtest/nat-sim/harness.js';
import { createClient, type LonglinkClient, type NodeClientOptions } from '../../sdk/src/node.js';
import { waitForEvent } from '../../sdk/src/testing.js';

let rig: Rig;
const clients: LonglinkClient[] = [];

before(async () => {
  rig = await startRig({ natTimeoutMs: 0 });
});

after(async () => {
  for (const c of clients) c.close();
  await rig.close();
});

function client(user: string, over: Partial<NodeClientOptions> = {}): { c: LonglinkClient; seqs: number[]; data: unknown[] } {
  const c = createClient({
    url: rig.url, device: 'd1', token: () => rig.token(user, 'd1'),
    heartbeat: { minMs: 1000, maxMs: 5000, stepMs: 1000, marginMs: 100, timeoutMs: 2000 },
    backoff: { baseMs: 200, capMs: 1000, healthyAfterMs: 500 },
    ackDelayMs: 20,
    ...over,
  });
  clients.push(c);
  const seqs: number[] = [];
  const data: unknown[] = [];
  c.on('push', (p) => { seqs.push(p.seq); data.push(p.data); });
  return { c, seqs, data };
}

const until = async (cond: () => boolean, ms: number, what: string): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('connects, receives pushes once and in order, acks them; a restarted app resumes from resumeState', async () => {
  const { c, seqs, data } = client('alice');
  const connected = waitForEvent(c, 'connected');
  c.connect();
  const hello = await connected;
  assert.equal(hello.resumed, false);
  assert.equal(c.state, 'connected');
  for (let i = 1; i <= 5; i++) await rig.push('alice', { i });
  await until(() => seqs.length === 5, 5000, '5 pushes');
  assert.deepEqual(data, [1, 2, 3, 4, 5].map((i) => ({ i })));
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  await until(() => c.stats.acksSent > 0, 2000, 'an ack');
  const saved = c.resumeState;
  c.close();
  // "Page reload": a new client resumes the saved session and sees only what is new.
  const again = client('alice', { resume: saved });
  const back = waitForEvent(again.c, 'connected');
  again.c.connect();
  assert.equal((await back).resumed, true);
  await rig.push('alice', { i: 6 });
  await until(() => again.seqs.length >= 1, 5000, 'push 6');
  assert.deepEqual(again.data, [{ i: 6 }]);
  again.c.close();
});

test('a forced disconnect (RST through the NAT simulator) resumes with no lost push', async () => {
  const { c, seqs, data } = client('bob');
  c.connect();
  await c.whenConnected(5000);
  await rig.push('bob', 'a');
  await until(() => seqs.length === 1, 5000, 'push a');
  const session = c.session;
  const down = waitForEvent(c, 'disconnected');
  rig.proxy.resetAll();
  const d = await down;
  assert.equal(d.code, 1006);
  assert.equal(d.terminal, undefined);
  await rig.push('bob', 'b'); // while disconnected
  const back = await waitForEvent(c, 'connected', () => true, 10_000);
  assert.equal(back.resumed, true);
  assert.equal(back.session, session);
  await rig.push('bob', 'c');
  await until(() => seqs.length === 3, 5000, 'pushes b and c');
  assert.deepEqual(data, ['a', 'b', 'c']);
  c.close();
});

test('upstream send resolves on the gateway\'s "sent"', async () => {
  const { c } = client('carol');
  c.connect();
  await c.whenConnected(5000);
  await c.send('chat.typing', { room: 'r9' }, { timeoutMs: 5000 });
  c.close();
});

test('replaced: a second connection for the same user and device ends the first for good', async () => {
  const first = client('dave');
  first.c.connect();
  await first.c.whenConnected(5000);
  const second = client('dave');
  const gone = waitForEvent(first.c, 'disconnected');
  second.c.connect();
  const d = await gone;
  assert.equal(d.code, 4003);
  assert.equal(d.terminal, 'replaced');
  assert.equal(first.c.state, 'replaced');
  await second.c.whenConnected(5000);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(second.c.state, 'connected', 'the first does not come back and steal it');
  second.c.close();
});

test('kicked and logged out through the API are terminal', async () => {
  for (const [type, state] of [['kick', 'kicked'], ['logout', 'logged-out']] as const) {
    const { c } = client(`erin-${type}`);
    c.connect();
    await c.whenConnected(5000);
    const gone = waitForEvent(c, 'disconnected');
    await rig.kick(`erin-${type}`, type);
    assert.equal((await gone).terminal, state);
    assert.equal(c.state, state);
  }
});

test('token expired during the session (in-band refresh off): the app is asked for a fresh token, then the client resumes', async () => {
  const asked: boolean[] = [];
  const { c, seqs } = client('frank', {
    token: ({ refresh }) => { asked.push(refresh); return rig.token('frank', 'd1', refresh ? 600 : 3); },
    tokenRefresh: { enabled: false },
  });
  c.connect();
  await c.whenConnected(5000);
  const session = c.session;
  const d = await waitForEvent(c, 'disconnected', () => true, 10_000);
  assert.equal(d.code, 4002);
  const back = await waitForEvent(c, 'connected', () => true, 10_000);
  assert.deepEqual(asked, [false, true]);
  assert.equal(back.session, session);
  await rig.push('frank', 'after refresh');
  await until(() => seqs.length === 1, 5000, 'push after refresh');
  c.close();
});

test('token about to expire: refreshed in-band, no disconnect, the session goes on', async () => {
  const asked: boolean[] = [];
  const { c, seqs } = client('gina', {
    token: ({ refresh }) => { asked.push(refresh); return rig.token('gina', 'd1', refresh ? 600 : 3); },
  });
  let lost = 0;
  c.on('disconnected', () => { lost++; });
  c.connect();
  await c.whenConnected(5000);
  await new Promise((r) => setTimeout(r, 4500));
  assert.equal(lost, 0, 'still connected past the first token\'s expiry');
  assert.deepEqual(asked, [false, true]);
  assert.equal(c.stats.tokenRefreshes, 1);
  await rig.push('gina', 'after refresh');
  await until(() => seqs.length === 1, 5000, 'push after refresh');
  c.close();
});

test('503 with Retry-After on the upgrade is honoured (Node sees the status)', async () => {
  const busy = await startRig({ natTimeoutMs: 0, env: { LONGLINK_CONNECT_RATE: '1', LONGLINK_CONNECT_BURST: '1' } });
  try {
    const a = createClient({ url: busy.url, token: () => busy.token('g1'), backoff: { baseMs: 50, capMs: 100 } });
    const b = createClient({ url: busy.url, token: () => busy.token('g2'), backoff: { baseMs: 50, capMs: 100 } });
    clients.push(a, b);
    a.connect();
    await a.whenConnected(5000);
    const refused = waitForEvent(b, 'disconnected');
    const t0 = performance.now();
    b.connect();
    const d = await refused;
    assert.ok((d.retryInMs ?? 0) >= 1000, `waits at least Retry-After (>= 1 s), not the 50 ms backoff: ${d.retryInMs}`);
    await b.whenConnected(10_000);
    assert.ok(performance.now() - t0 >= 1000);
    a.close();
    b.close();
  } finally {
    await busy.close();
  }
});
