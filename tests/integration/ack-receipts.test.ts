/**
 * Ack receipts on real processes: two routers, one gateway, real NATS and
 * Redis, a real WebSocket client. A push with `await: "acked"` is answered
 * only after the client acks it (the ack may reach the other router of the
 * queue group), `delivered` when the client does not ack within `await_ms`,
 * and a backend on NATS gets every ack as a receipt on `longlink.acked`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAck } from '../../protocol/index.js';
import { connectNatsBus, type NatsBus } from '../../services/shared/bus/nats-bus.js';
import { decodeMsg } from '../../services/shared/bus/bus.js';
import { subjects } from '../../services/shared/bus/subjects.js';
import type { AckEvent } from '../../services/shared/bus/messages.js';
import { apiCall } from '../../infra/local/api-call.js';
import { CLUSTER_API_KEY, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import { silent } from '../helpers/log.js';

interface Result { user: string; seq: number; id: string; status: string }

describe('ack receipts (await "acked" and the acked subject)', () => {
  let c: Cluster;
  let backend: NatsBus;
  const receipts: AckEvent[] = [];
  const raw: Array<Record<string, unknown>> = [];
  let client: TestClient | undefined;
  before(async () => {
    c = await startCluster({ gateways: 1, routers: 2 });
    backend = await connectNatsBus({ servers: c.nats.urls, name: 'test-backend', log: silent });
    backend.subscribe(subjects().acked, (m) => {
      const ev = decodeMsg<AckEvent & Record<string, unknown>>(m.data)!;
      raw.push(ev);
      receipts.push(ev);
    });
    await backend.flush();
  });
  after(async () => {
    client?.close();
    await backend?.close();
    await c?.stop();
  });

  const push = (router: number, body: unknown) => apiCall(c.routers[router]!.apiUrl, CLUSTER_API_KEY, 'POST', '/v1/push', body);

  it('answers acked only after the client acks, and the backend gets the receipt', async () => {
    const cl = await mustConnect(c.url, { token: await c.token('ack-user', 'phone') });
    client = cl;
    await cl.frame('hello');
    await new Promise((r) => setTimeout(r, 200));
    for (const router of [0, 1]) {
      const id = `msg-${router}`;
      let answered = false;
      const pending = push(router, { user: 'ack-user', data: { router }, id, await: 'acked', await_ms: 8000 }).then((r) => { answered = true; return r; });
      const p = await cl.frame('push', router);
      assert.equal(p.id, id);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(answered, false, 'written to the socket, not acked yet: still waiting');
      const t0 = Date.now();
      cl.send(encodeAck(p.seq));
      const res = await pending;
      assert.equal(res.status, 200);
      const r = (res.body as { results: Result[] }).results[0]!;
      assert.deepEqual([r.status, r.seq, r.id], ['acked', p.seq, id]);
      assert.ok(Date.now() - t0 < 4000, 'answered soon after the ack');
    }
    const deadline = Date.now() + 5000;
    while (receipts.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(receipts.map(({ ts: _, ...e }) => e), [
      { user: 'ack-user', device: 'phone', seq: 1, id: 'msg-0' },
      { user: 'ack-user', device: 'phone', seq: 2, id: 'msg-1' },
    ]);
    for (const e of receipts) assert.ok(Math.abs(e.ts - Date.now()) < 30_000, 'ts is the ack time (epoch ms)');
    for (const e of raw) assert.deepEqual(Object.keys(e).sort(), ['device', 'id', 'seq', 'ts', 'user'], 'no session or connection ids');
  });

  it('answers delivered after await_ms when the client does not ack; a later ack still sends the receipt', async () => {
    const t0 = Date.now();
    const res = await push(1, { users: ['ack-user', 'ack-nobody'], data: 'late', id: 'msg-late', await: 'acked', await_ms: 700 });
    const elapsed = Date.now() - t0;
    const results = (res.body as { results: Result[] }).results;
    assert.deepEqual(results.map((r) => r.status), ['delivered', 'offline']);
    assert.ok(elapsed >= 690, `waited the whole await_ms (${elapsed} ms)`);
    const p = await client!.frame('push', 2);
    assert.equal(p.id, 'msg-late');
    client!.send(encodeAck(p.seq));
    const deadline = Date.now() + 5000;
    while (receipts.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(receipts.slice(2).map((e) => [e.seq, e.id]), [[p.seq, 'msg-late']]);
  });
});
