/**
 * Attack cases on identifiers, against real processes (router, gateway, NATS,
 * Redis): two user ids that one layer would store as the same key.
 *
 * UTF-8 encoders (ioredis, NATS, JSON writers) turn a lone UTF-16 surrogate
 * into U+FFFD, so "\ud800victim" and "\ufffdvictim" name the same Redis keys.
 * Before the identifier rules, a token with sub "\ud800victim" read the
 * stored pushes of "\ufffdvictim". Now every entry point refuses the
 * ill-formed id: the gateway's token check (401), the push API (400) and the
 * router's bus validation (error reply), and the real user's inbox is intact.
 * And the other direction: a non-ASCII id reaches a NATS backend of upstream
 * sends unchanged in the body and percent-encoded in the headers (api.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { connectNatsBus, type NatsBus } from '../../services/shared/bus/nats-bus.js';
import { decodeMsg, encodeMsg } from '../../services/shared/bus/bus.js';
import { subjects } from '../../services/shared/bus/subjects.js';
import { connect, mustConnect } from '../helpers/client.js';
import { silent } from '../helpers/log.js';

const VICTIM = '\ufffdvictim';
const ATTACKER = '\ud800victim';

describe('identifier attacks (real router, gateway, NATS, Redis)', () => {
  let c: Cluster;
  let bus: NatsBus | undefined;
  before(async () => { c = await startCluster({ gateways: 1 }); });
  after(async () => { await bus?.close(); await c.stop(); });

  it('the collapse is real: Redis stores a lone surrogate as U+FFFD (what the rules must keep out)', async () => {
    const r = new Redis(c.redis.url, { lazyConnect: true });
    await r.connect();
    try {
      await r.set(`probe:${ATTACKER}`, 'x');
      assert.equal(await r.get(`probe:${VICTIM}`), 'x', 'same key: without the rules both users would share an inbox');
    } finally {
      r.disconnect();
    }
  });

  it('"\\ud800victim" cannot read "\\ufffdvictim"\'s inbox, push to it, or reach it over the bus', async () => {
    const stored = await c.push([VICTIM], { secret: 'for the victim only' });
    assert.equal(stored.status, 200);
    assert.equal((stored.body as { results: Array<{ status: string; seq: number }> }).results[0]!.status, 'offline');

    // Push API: refused with a clear message, nothing stored.
    const pushed = await c.push([ATTACKER], { spoof: true });
    assert.equal(pushed.status, 400);
    assert.match(JSON.stringify(pushed.body), /LL_API_VALIDATION.*users\[0\]: must be well-formed Unicode \(lone surrogate\) \(user id\)/);
    for (const [path, body] of [['/v1/kick', { user: ATTACKER }], ['/v1/presence/' + encodeURIComponent('\ufffd') + '%ED%A0%80', undefined]] as const) {
      const r = await c.api(body === undefined ? 'GET' : 'POST', path, body);
      assert.equal(r.status, 400, path);
    }

    // Gateway: the token's sub is refused before the upgrade.
    const token = await c.token(ATTACKER);
    const refused = await connect(c.gateways[0]!.url, { token });
    assert.equal(refused.ok ? 101 : refused.status, 401);
    if (!refused.ok) assert.match(refused.body, /LL_AUTH_INVALID_TOKEN/);

    // Bus: a resume request naming the attacker (a rogue or buggy gateway) gets an error, not the inbox.
    bus = await connectNatsBus({ servers: c.nats.urls, name: 'abuse-test', log: silent });
    const req = { user: ATTACKER, device: 'default', gateway: 'gw-rogue', conn: 'c1', timeoutMs: 2000 };
    const reply = decodeMsg<{ error?: { code: string }; pushes?: unknown[] }>((await bus.request(subjects().resume, encodeMsg(req), { timeoutMs: 5000 })).data);
    assert.equal(reply?.error?.code, 'LL_API_VALIDATION');
    assert.equal(reply?.pushes, undefined);

    // The real owner still gets the push, once, as seq 1 (no spoofed push got in).
    const victim = await mustConnect(c.gateways[0]!.url, { token: await c.token(VICTIM) });
    try {
      const p = await victim.frame('push');
      assert.deepEqual([p.seq, p.data], [1, { secret: 'for the victim only' }]);
      assert.equal((await victim.frame('hello')).seq, 1, 'one push in the inbox: the attacker added none');
    } finally {
      victim.close();
    }
  });
  // api.md "Receiving upstream send messages": what a backend on real NATS gets.
  it('a send from a non-ASCII user reaches a NATS backend: ids as is in the body, percent-encoded in the headers', async () => {
    bus ??= await connectNatsBus({ servers: c.nats.urls, name: 'abuse-test', log: silent });
    const got: Array<{ subject: string; body: unknown; headers: Record<string, string> | undefined }> = [];
    const sub = bus.subscribe('longlink.upstream.>', (m) => { got.push({ subject: m.subject, body: decodeMsg(m.data), headers: m.headers }); });
    await bus.flush();
    const user = 'zo\u00eb%';
    const client = await mustConnect(c.gateways[0]!.url, { token: await c.token(user), query: { device: 'web-1' } });
    try {
      const hello = await client.frame('hello');
      client.send(JSON.stringify({ op: 'send', topic: 'chat.room1', id: 'm-17', data: { text: 'hi' } }));
      assert.equal((await client.frame('sent')).id, 'm-17');
      const deadline = Date.now() + 5000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(got.length, 1, 'one message on the bus');
      assert.equal(got[0]!.subject, 'longlink.upstream.chat.room1');
      assert.deepEqual(got[0]!.body, { user, device: 'web-1', conn: hello.conn, gateway: hello.gateway, topic: 'chat.room1', id: 'm-17', data: { text: 'hi' } });
      assert.deepEqual(got[0]!.headers, { 'longlink-user': 'zo%C3%AB%25', 'longlink-device': 'web-1', 'longlink-conn': hello.conn, 'longlink-gateway': hello.gateway });
    } finally {
      client.close();
      sub.unsubscribe();
    }
  });
});
