/**
 * Upstream request/reply on real processes (a gateway and a router, real
 * NATS and Redis): a client's `send` with `reply: true` reaches a backend on
 * NATS as a request and the client gets the backend's answer in a `reply`
 * frame, or LL_UPSTREAM_NO_BACKEND (nobody subscribed: NATS no-responders),
 * LL_UPSTREAM_TIMEOUT or LL_UPSTREAM_BAD_REPLY; the connection stays. The
 * SDK's request() does the same against the real gateway, with typed errors.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, RequestError, type LonglinkClient } from '../../sdk/src/node.js';
import { connectNatsBus, type NatsBus } from '../../services/shared/bus/nats-bus.js';
import { subjects } from '../../services/shared/bus/subjects.js';
import { serveUpstream } from '../../services/shared/bus/upstream.js';
import type { UpstreamMessage } from '../../services/shared/bus/messages.js';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import { silent } from '../helpers/log.js';

describe('upstream request/reply over NATS', () => {
  let c: Cluster;
  let backend: NatsBus;
  let raw: TestClient | undefined;
  let sdk: LonglinkClient | undefined;
  const seen: Array<{ msg: UpstreamMessage; headers: Record<string, string> | undefined }> = [];
  before(async () => {
    c = await startCluster({ gateways: 1, routers: 1 });
    backend = await connectNatsBus({ servers: c.nats.urls, name: 'test-backend', log: silent });
    const s = subjects();
    serveUpstream(backend, s, 'calc.add', (msg) => {
      const d = msg.data as { a: number; b: number };
      return { sum: d.a + d.b, for: msg.user };
    }, { queue: 'calc' });
    // Listens but never answers.
    backend.subscribe(s.upstream('slow.never'), (m) => { seen.push({ msg: JSON.parse(new TextDecoder().decode(m.data)) as UpstreamMessage, headers: m.headers }); });
    // Answers with something that is not JSON.
    backend.subscribe(s.upstream('broken.reply'), (m) => backend.respond(m, new TextEncoder().encode('not json {')));
    // Refuses as a router over its caps does; and a backend's reply that merely carries the header with another code.
    backend.subscribe(s.upstream('refuse.me'), (m) => backend.respond(m, new TextEncoder().encode('128 in flight at this router'), { 'longlink-error': 'LL_UPSTREAM_OVERLOADED' }));
    backend.subscribe(s.upstream('odd.header'), (m) => backend.respond(m, new TextEncoder().encode('{"a":1}'), { 'longlink-error': 'LL_INTERNAL' }));
    await backend.flush();
  });
  after(async () => {
    raw?.close();
    sdk?.close();
    await backend?.close();
    await c?.stop();
  });

  it('a raw client gets the reply, or no-backend, timeout and bad-reply errors; plain sends still get sent', async () => {
    const cl = await mustConnect(c.url, { token: await c.token('req-user', 'phone') });
    raw = cl;
    await cl.frame('hello');
    const ask = (id: string, topic: string, data: unknown, extra: Record<string, unknown> = {}) => cl.send(JSON.stringify({ op: 'send', id, topic, data, reply: true, ...extra }));
    const replyTo = (id: string, timeoutMs = 5000) => cl.until(() => cl.frames.find((f) => f.op === 'reply' && f.id === id), timeoutMs, `reply ${id}`);

    ask('r1', 'calc.add', { a: 2, b: 40 });
    assert.deepEqual(await replyTo('r1'), { op: 'reply', id: 'r1', data: { sum: 42, for: 'req-user' } });

    const t0 = Date.now();
    ask('r2', 'nobody.home', {});
    const none = await replyTo('r2');
    assert.equal('error' in none && none.error, 'LL_UPSTREAM_NO_BACKEND');
    assert.ok(Date.now() - t0 < 2000, 'no-responders answers at once, not after a timeout');

    const t1 = Date.now();
    ask('r3', 'slow.never', { q: 1 }, { timeoutMs: 400 });
    const slow = await replyTo('r3');
    assert.equal('error' in slow && slow.error, 'LL_UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - t1 >= 390, 'waited the requested timeoutMs');
    assert.equal(seen.at(-1)!.msg.id, 'r3');
    assert.equal(seen.at(-1)!.headers?.['longlink-user'], 'req-user', 'a request carries the upstream headers');
    assert.equal(seen.at(-1)!.headers?.['longlink-timeout-ms'], '400', 'and how long the gateway waits');

    ask('r4', 'broken.reply', {});
    const broken = await replyTo('r4');
    assert.equal('error' in broken && broken.error, 'LL_UPSTREAM_BAD_REPLY');

    const t2 = Date.now();
    ask('r5', 'refuse.me', {}, { timeoutMs: 3000 });
    assert.deepEqual(await replyTo('r5'), { op: 'reply', id: 'r5', error: 'LL_UPSTREAM_OVERLOADED', message: 'Too many upstream requests in flight at the router, for this user or in all; retry shortly: 128 in flight at this router' });
    assert.ok(Date.now() - t2 < 2000, 'a refusal is answered at once');
    ask('r6', 'odd.header', {});
    assert.deepEqual(await replyTo('r6'), { op: 'reply', id: 'r6', data: { a: 1 } }, 'only the refusal codes are read off the header');

    cl.send(JSON.stringify({ op: 'send', id: 'p1', topic: 'calc.add', data: { a: 1, b: 1 } }));
    assert.deepEqual(await cl.until(() => cl.frames.find((f) => f.op === 'sent' && f.id === 'p1')), { op: 'sent', id: 'p1' });
    assert.equal(cl.frames.filter((f) => f.op === 'reply').length, 6, 'no reply for a plain send');
    assert.equal(cl.closed, undefined, 'the connection stays open throughout');
  });

  it('SDK request() resolves with the reply and rejects with typed errors', async () => {
    const client = createClient({ url: c.url, token: () => c.token('sdk-req', 'laptop'), heartbeat: { smart: false, intervalMs: 5000 } });
    sdk = client;
    client.connect();
    await client.whenConnected(10_000);
    assert.deepEqual(await client.request('calc.add', { a: 1, b: 2 }), { sum: 3, for: 'sdk-req' });
    const fails = async (p: Promise<unknown>): Promise<RequestError> => {
      try { await p; } catch (err) { assert.ok(err instanceof RequestError, String(err)); return err; }
      throw new Error('resolved');
    };
    const none = await fails(client.request('nobody.home', {}));
    assert.deepEqual([none.kind, none.code], ['no-backend', 'LL_UPSTREAM_NO_BACKEND']);
    const slow = await fails(client.request('slow.never', {}, { timeoutMs: 300 }));
    assert.deepEqual([slow.kind, slow.code], ['timeout', 'LL_UPSTREAM_TIMEOUT']);
    const bad = await fails(client.request('Not a topic!', {}));
    assert.equal(bad.kind, 'rejected', 'refused locally, nothing sent');
    // Several at once, answered by id.
    const many = await Promise.all([1, 2, 3].map((n) => client.request('calc.add', { a: n, b: n })));
    assert.deepEqual(many.map((r) => (r as { sum: number }).sum), [2, 4, 6]);
  });
});
