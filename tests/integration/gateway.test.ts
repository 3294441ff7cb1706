/**
 * The gateway over real sockets: uWS server, `ws` clients, JWTs signed with
 * jose, the push API over HTTP. Timing assertions use scaled intervals (a few
 * hundred ms) and allow scheduling slack only on the late side.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { Close, encodeAck, encodeHeartbeat, type HelloFrame, type PushFrame } from '../../protocol/index.js';
import type { Standalone } from '../../services/standalone/app.js';
import { connect, mustConnect, type TestClient } from '../helpers/client.js';
import { TEST_SECRET, push, sleep, start } from '../helpers/standalone.js';

const FAST = { LONGLINK_HB_MIN_MS: '100', LONGLINK_HB_DEFAULT_MS: '400', LONGLINK_HB_GRACE_MS: '200', LONGLINK_WHEEL_TICK_MS: '50', LONGLINK_RATE_PER_SEC: '200', LONGLINK_RATE_BURST: '200' };
const TICK = 50;
const DEADLINE = 400 * 1.5 + 200;

describe('gateway over real sockets', () => {
  let s: Standalone;
  const clients: TestClient[] = [];
  const open = async (user: string, opts: Parameters<typeof mustConnect>[1] = {}): Promise<TestClient> => {
    const c = await mustConnect(s.gatewayUrl, { token: await s.mintToken(user), ...opts });
    clients.push(c);
    return c;
  };
  before(async () => { s = await start(FAST); });
  after(async () => { for (const c of clients) c.close(); await s.close(); });

  it('authenticates with a token in the subprotocol or the query; HELLO carries session, ids and bounds', async () => {
    const a = await open('alice');
    assert.equal(a.ws.protocol, 'longlink.v1', 'token subprotocol is never echoed');
    const hello = await a.frame('hello');
    assert.equal(hello.v, 1);
    assert.equal(hello.gateway, s.gateway.id);
    assert.equal(hello.resumed, false);
    assert.ok(hello.session.length > 0 && hello.conn.length > 0);
    assert.deepEqual(hello.hb, { minMs: 100, maxMs: 900_000, intervalMs: 400, graceMs: 200 });
    assert.equal(hello.limits.maxPayload, 65536);
    const b = await mustConnect(s.gatewayUrl, { protocols: [], query: { access_token: await s.mintToken('bob'), device: 'web' } });
    clients.push(b);
    assert.equal((await b.frame('hello')).resumed, false);
  });

  it('rejects missing, forged, expired and wrong-audience-free tokens with 401 before upgrade, and counts them', async () => {
    const missing = await connect(s.gatewayUrl, {});
    assert.equal(missing.ok, false);
    if (!missing.ok) { assert.equal(missing.status, 401); assert.match(missing.body, /LL_AUTH_MISSING_TOKEN/); }
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime('1h').sign(new TextEncoder().encode('another-secret-another-secret-another-secret'));
    const f = await connect(s.gatewayUrl, { token: forged });
    assert.equal(f.ok, false);
    if (!f.ok) { assert.equal(f.status, 401); assert.match(f.body, /LL_AUTH_INVALID_TOKEN/); assert.doesNotMatch(f.body, /mallory|eyJ/); }
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(TEST_SECRET));
    const e = await connect(s.gatewayUrl, { token: expired });
    assert.equal(e.ok, false);
    if (!e.ok) { assert.equal(e.status, 401); assert.match(e.body, /LL_AUTH_TOKEN_EXPIRED/); }
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').sign(new TextEncoder().encode(TEST_SECRET));
    const n = await connect(s.gatewayUrl, { token: noExp });
    assert.equal(n.ok ? 200 : n.status, 401, 'a token without exp is refused');
    const proto = await connect(s.gatewayUrl, { protocols: ['graphql-ws'] });
    assert.equal(proto.ok ? 101 : proto.status, 400);
    const badParam = await connect(s.gatewayUrl, { token: await s.mintToken('alice'), query: { session: 'abc' } });
    assert.equal(badParam.ok ? 101 : badParam.status, 400, 'session without last_seq');
    const metrics = await (await fetch(`${s.gatewayHttpUrl}/metrics`)).text();
    assert.match(metrics, /longlink_gateway_auth_failures_total\{reason="LL_AUTH_INVALID_TOKEN"\} [2-9]/);
    assert.match(metrics, /longlink_gateway_auth_failures_total\{reason="LL_AUTH_TOKEN_EXPIRED"\} 1/);
  });

  it('clamps an out-of-range hb query value to the gateway\'s bounds (docs/protocol.md 2.2); refuses a non-integer one', async () => {
    for (const [hb, want] of [['1', 100], ['99999999999', 900_000], ['250', 250]] as const) {
      const c = await open(`hb-${hb}`, { query: { hb } });
      assert.equal((await c.frame('hello')).hb.intervalMs, want, `hb=${hb}`);
    }
    const bad = await connect(s.gatewayUrl, { token: await s.mintToken('alice'), query: { hb: '1.5' } });
    assert.equal(bad.ok ? 101 : bad.status, 400);
  });

  it('refuses ill-formed and control-character identifiers in token claims and handshake parameters', async () => {
    const secret = new TextEncoder().encode(TEST_SECRET);
    const tok = (sub: string, did?: string): Promise<string> =>
      new SignJWT(did === undefined ? {} : { did }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(secret);
    for (const sub of ['\ud800victim', 'a\u0000b', 'a\u001bb', 'a b']) {
      const r = await connect(s.gatewayUrl, { token: await tok(sub) });
      assert.equal(r.ok ? 101 : r.status, 401, JSON.stringify(sub));
      if (!r.ok) assert.match(r.body, /LL_AUTH_INVALID_TOKEN/);
    }
    const did = await connect(s.gatewayUrl, { token: await tok('alice', 'ph\u0007one') });
    assert.equal(did.ok ? 101 : did.status, 401);
    const queries: Array<Record<string, string>> = [{ device: 'ph\u0000one' }, { device: 'a b' }, { session: 'a.b', last_seq: '0' }];
    for (const query of queries) {
      const r = await connect(s.gatewayUrl, { token: await s.mintToken('alice'), query });
      assert.equal(r.ok ? 101 : r.status, 400, JSON.stringify(query));
      if (!r.ok) assert.match(r.body, /LL_BAD_HANDSHAKE/);
    }
    const fine = await open('\ufffdvictim');
    assert.equal((await fine.frame('hello')).resumed, false, 'U+FFFD itself is a well-formed character');
  });

  it('refuses upstream topics that no backend could receive (., .., a..b, .x, x.) with a clear error, not "sent"', async () => {
    for (const topic of ['.', '..', 'a..b', '.x', 'x.']) {
      const c = await open(`topic-${clients.length}`);
      await c.frame('hello');
      c.send(JSON.stringify({ op: 'send', id: 'm1', topic, data: 1 }));
      const err = await c.frame('error');
      assert.equal(err.code, Close.INVALID_FRAME, topic);
      assert.match(err.message, /send\.topic must be 1-128 characters: words of A-Z a-z 0-9 _ - joined by single dots/, topic);
      assert.equal((await c.closeEvent()).code, Close.INVALID_FRAME);
      assert.ok(!c.frames.some((f) => f.op === 'sent'), `${topic}: no "sent"`);
    }
    const ok = await open('topic-ok');
    await ok.frame('hello');
    ok.send(JSON.stringify({ op: 'send', id: 'm2', topic: 'chat.room-1', data: 1 }));
    assert.equal((await ok.frame('sent')).id, 'm2');
  });

  it('answers a 1-byte heartbeat with a 1-byte ack', async () => {
    const c = await open('hb-user');
    await c.frame('hello');
    const acks = new Promise<Buffer>((resolve) => c.ws.on('message', (d: Buffer, bin) => { if (bin) resolve(d); }));
    c.send(encodeHeartbeat());
    assert.deepEqual([...(await acks)], [0x02]);
  });

  it('closes an idle client within interval x 1.5 + grace (+ one tick) with HEARTBEAT_TIMEOUT', async () => {
    const c = await open('idle-user');
    await c.frame('hello');
    const t0 = performance.now();
    c.send(encodeHeartbeat()); // last packet
    const closed = await c.closeEvent(5000);
    const elapsed = performance.now() - t0;
    assert.equal(closed.code, Close.HEARTBEAT_TIMEOUT);
    assert.ok(c.frames.some((f) => f.op === 'error' && f.code === Close.HEARTBEAT_TIMEOUT), 'error frame before close');
    assert.ok(elapsed >= DEADLINE - 5, `closed too early: ${elapsed.toFixed(0)} ms < ${DEADLINE} ms`);
    assert.ok(elapsed <= DEADLINE + TICK + 250, `closed too late: ${elapsed.toFixed(0)} ms (deadline ${DEADLINE} + tick ${TICK} + 250 ms scheduling slack)`);
  });

  it('any frame resets the deadline', async () => {
    const c = await open('busy-user');
    await c.frame('hello');
    for (let i = 0; i < 6; i++) { await sleep(350); c.send(encodeAck(0)); }
    assert.equal(c.closed, undefined, `still open after ${6 * 350} ms of acks only`);
  });

  it('bad frames and oversize frames get their close codes while other clients keep working', async () => {
    const bystander = await open('bystander');
    await bystander.frame('hello');
    const bad = await open('bad-user');
    await bad.frame('hello');
    bad.send('{"op":"heartbeat"}');
    assert.equal((await bad.closeEvent()).code, Close.INVALID_FRAME);
    const garbage = await open('garbage-user');
    await garbage.frame('hello');
    garbage.send(Uint8Array.of(0xff, 0x00, 0x13));
    assert.equal((await garbage.closeEvent()).code, Close.INVALID_FRAME);
    const big = await open('big-user');
    await big.frame('hello');
    big.send(JSON.stringify({ op: 'send', id: 'x', topic: 't', data: 'x'.repeat(70_000) }));
    assert.equal((await big.closeEvent()).code, Close.MESSAGE_TOO_BIG);
    bystander.send(encodeHeartbeat());
    await bystander.frame('heartbeat_ack');
    assert.equal(bystander.closed, undefined);
  });

  // protocol.md 4.3: uWS checks UTF-8 before the gateway sees a text frame and
  // drops the TCP connection without a close frame, so no 1007 can be sent.
  // This pins what clients actually get, so the doc cannot drift from it.
  it('a text frame that is not valid UTF-8 drops the connection (1006, no error frame); others keep working', async () => {
    const bystander = await open('utf8-bystander');
    await bystander.frame('hello');
    const c = await open('utf8-user');
    await c.frame('hello');
    c.ws.send(Buffer.from('{"op":"\xc3\x28"}', 'latin1'), { binary: false });
    assert.equal((await c.closeEvent()).code, Close.ABNORMAL);
    assert.deepEqual(c.frames.map((f) => f.op), ['hello']);
    bystander.send(encodeHeartbeat());
    await bystander.frame('heartbeat_ack');
    assert.equal(bystander.closed, undefined);
  });

  it('a newer connection for the same user and device replaces the older one', async () => {
    const first = await open('carol', { query: { device: 'phone' } });
    await first.frame('hello');
    const second = await open('carol', { query: { device: 'phone' } });
    await second.frame('hello');
    assert.equal((await first.closeEvent()).code, Close.REPLACED);
    assert.equal(second.closed, undefined);
  });

  it('a push through the API reaches the connected user; resume replays what was missed', async () => {
    const c = await open('dave', { query: { device: 'd1' } });
    const hello = await c.frame('hello');
    const r = await push(s, ['dave'], { text: 'hi' });
    assert.equal(r.status, 200);
    const p = await c.frame('push');
    assert.deepEqual(p.data, { text: 'hi' });
    assert.equal(p.seq, hello.seq + 1);
    c.send(encodeAck(p.seq));
    c.close();
    await c.closeEvent();
    await push(s, ['dave'], { n: 1 });
    await push(s, ['dave'], { n: 2 });
    const again = await open('dave', { query: { device: 'd1', session: hello.session, last_seq: String(p.seq) } });
    const h2 = await again.frame('hello') as HelloFrame;
    assert.equal(h2.resumed, true);
    assert.equal(h2.session, hello.session);
    const missed = [await again.frame('push', 0), await again.frame('push', 1)] as PushFrame[];
    assert.deepEqual(missed.map((m) => m.data), [{ n: 1 }, { n: 2 }]);
    assert.deepEqual(missed.map((m) => m.seq), [p.seq + 1, p.seq + 2]);
  });

  it('push with await_ms reports delivered once the gateway wrote it to the socket', async () => {
    const c = await open('erin');
    await c.frame('hello');
    const res = await fetch(`${s.apiUrl}/v1/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ users: ['erin', 'nobody-home'], data: { hi: 1 }, await_ms: 2000 }),
    });
    const body = await res.json() as { results: Array<{ user: string; status: string }> };
    assert.deepEqual(body.results.map((r) => [r.user, r.status]), [['erin', 'delivered'], ['nobody-home', 'offline']]);
    assert.deepEqual((await c.frame('push')).data, { hi: 1 });
  });

  it('serves /healthz, /readyz and /metrics with the live connection count', async () => {
    assert.equal((await fetch(`${s.gatewayHttpUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${s.gatewayHttpUrl}/readyz`)).status, 200);
    const live = s.gateway.core.connections;
    const text = await (await fetch(`${s.gatewayHttpUrl}/metrics`)).text();
    assert.match(text, new RegExp(`^longlink_gateway_connections ${live}$`, 'm'));
    assert.match(text, /longlink_gateway_heartbeats_total [1-9]/);
    assert.match(text, /longlink_gateway_connections_closed_total\{reason="HEARTBEAT_TIMEOUT"\} [1-9]/);
    assert.equal((await fetch(`${s.gatewayHttpUrl}/nope`)).status, 404);
  });
});

describe('gateway switches and limits', () => {
  it('with heartbeat checking off an idle client stays open', async () => {
    const s = await start({ ...FAST, LONGLINK_HB_CHECK: 'false' });
    try {
      const c = await mustConnect(s.gatewayUrl, { token: await s.mintToken('idle') });
      await c.frame('hello');
      await sleep(DEADLINE * 2 + 200);
      assert.equal(c.closed, undefined);
      c.close();
    } finally { await s.close(); }
  });

  it('over the connection limit the upgrade gets 503 with Retry-After; existing sessions are unaffected', async () => {
    const s = await start({ ...FAST, LONGLINK_MAX_CONNECTIONS: '2' });
    try {
      const a = await mustConnect(s.gatewayUrl, { token: await s.mintToken('a') });
      const b = await mustConnect(s.gatewayUrl, { token: await s.mintToken('b') });
      await a.frame('hello');
      await b.frame('hello');
      const c = await connect(s.gatewayUrl, { token: await s.mintToken('c') });
      assert.equal(c.ok, false);
      if (!c.ok) {
        assert.equal(c.status, 503);
        assert.ok(Number(c.headers['retry-after']) >= 1);
        assert.match(c.body, /LL_ADMISSION_MAX_CONNECTIONS/);
      }
      a.send(encodeHeartbeat());
      await a.frame('heartbeat_ack');
      assert.equal(a.closed, undefined);
      a.close(); b.close();
    } finally { await s.close(); }
  });

  it('standalone (memory stores) applies LONGLINK_MAX_DEVICES_PER_USER: device 3 of 2 closes with 4011, device 1 reconnecting replaces itself', async () => {
    const s = await start({ ...FAST, LONGLINK_MAX_DEVICES_PER_USER: '2' });
    try {
      const token = await s.mintToken('capped');
      const open = (device: string) => mustConnect(s.gatewayUrl, { token, query: { device } });
      const [d1, d2] = [await open('d1'), await open('d2')];
      await d1.frame('hello');
      await d2.frame('hello');
      const d3 = await open('d3');
      assert.equal((await d3.closeEvent()).code, Close.DEVICE_LIMIT);
      const again = await open('d1');
      await again.frame('hello');
      assert.equal((await d1.closeEvent()).code, Close.REPLACED);
      assert.equal(d2.closed, undefined);
      again.close(); d2.close();
    } finally { await s.close(); }
  });

  it('over the connect rate the upgrade gets 503 with Retry-After', async () => {
    const s = await start({ ...FAST, LONGLINK_CONNECT_RATE: '1', LONGLINK_CONNECT_BURST: '2' });
    try {
      const token = await s.mintToken('r');
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await connect(s.gatewayUrl, { token, query: { device: `d${i}` } }));
      const refused = results.filter((r) => !r.ok);
      assert.ok(refused.length >= 1, 'some upgrades refused');
      for (const r of refused) if (!r.ok) { assert.equal(r.status, 503); assert.ok(Number(r.headers['retry-after']) >= 1); assert.match(r.body, /LL_ADMISSION_RATE/); }
      for (const r of results) if (r.ok) r.client.close();
    } finally { await s.close(); }
  });
});
