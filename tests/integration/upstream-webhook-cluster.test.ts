/**
 * Upstream requests answered by the webhook receiver on a real cluster
 * (gateway and router processes over NATS): the gateway's deadline crosses
 * the bus as a header and ends the router's POST when the client stops
 * waiting, and the router's per-user cap refuses the rest at once with
 * LL_UPSTREAM_OVERLOADED, which the gateway hands to the client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerFrame } from '../../protocol/index.js';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import { HoldingReceiver } from '../helpers/holding-receiver.js';
import { waitFor } from '../helpers/sdk-clients.js';
import { connect } from '@nats-io/transport-node';

type Reply = Extract<ServerFrame, { op: 'reply' }>;

describe('upstream requests on a cluster: deadline and caps at the router', () => {
  let c: Cluster | undefined;
  const rx = new HoldingReceiver();
  const clients: TestClient[] = [];
  before(async () => {
    await rx.start();
    c = await startCluster({
      gateways: 1, routers: 1, jetstream: true,
      routerEnv: {
        LONGLINK_WEBHOOKS: JSON.stringify([{ name: 'backend', url: rx.url, events: ['upstream.message'], secrets: ['whsec_' + 'b'.repeat(32)] }]),
        LONGLINK_WEBHOOK_UPSTREAM_MAX_PER_USER: '2', LONGLINK_WEBHOOK_UPSTREAM_MAX_IN_FLIGHT: '4',
      },
    });
  });
  after(async () => {
    for (const cl of clients) cl.close();
    await c?.stop();
    await rx.stop();
  });

  it('held requests end at the client\'s timeout (not the 10 s attempt limit); past the user\'s cap, LL_UPSTREAM_OVERLOADED at once', async () => {
    const cl = await mustConnect(c!.url, { token: await c!.token('flooder', 'd1') });
    clients.push(cl);
    await cl.frame('hello');
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) cl.send(JSON.stringify({ op: 'send', id: `h${i}`, topic: 'chat', data: 'hold', reply: true, timeoutMs: 1500 }));
    const reply = (id: string): Promise<Reply> => cl.until(() => cl.frames.find((f): f is Reply => f.op === 'reply' && f.id === id), 5000, `reply ${id}`);
    const refused = await reply('h2');
    assert.deepEqual(['error' in refused && refused.error, Date.now() - t0 < 1200], ['LL_UPSTREAM_OVERLOADED', true], `refused at once (${Date.now() - t0} ms)`);
    await waitFor(() => rx.open === 2, 3000, 'two held at the receiver', () => `${rx.open} open`);
    for (const id of ['h0', 'h1']) { const r = await reply(id); assert.equal('error' in r && r.error, 'LL_UPSTREAM_TIMEOUT'); }
    // Before: both stayed open at the receiver until LONGLINK_WEBHOOK_TIMEOUT_MS (10 s) passed.
    await waitFor(() => rx.open === 0, 1500, 'the receiver\'s requests closed', () => `${rx.open} open`);
    assert.equal(rx.received, 2, 'the refused one was never sent');
    // Room again: the next request goes through (answered at once).
    cl.send(JSON.stringify({ op: 'send', id: 'n0', topic: 'chat', data: 'now', reply: true, timeoutMs: 3000 }));
    const ok = await reply('n0');
    assert.deepEqual('data' in ok && ok.data, { ok: true });
  });

  it('a request without the timeout header (a gateway of an earlier release) is not answered with the refusal header it cannot read', async () => {
    const nc = await connect({ servers: c!.nats.urls });
    try {
      const body = (id: string): Uint8Array => new TextEncoder().encode(JSON.stringify({ user: 'old-gw-user', device: 'd', conn: 'c1', gateway: 'gw-old', topic: 'chat', id, data: 'hold' }));
      const held = [0, 1].map((i) => nc.request('longlink.upstream.chat', body(`o${i}`), { timeout: 4000 }).catch(() => undefined));
      await waitFor(() => rx.open === 2, 3000, 'the user\'s two slots held', () => `${rx.open} open`);
      // Over the user's cap: a new gateway would get LL_UPSTREAM_OVERLOADED in a header; an old one would read the
      // detail text as the backend's reply (LL_UPSTREAM_BAD_REPLY to its client). No answer, as before the caps.
      const t0 = Date.now();
      const third = await nc.request('longlink.upstream.chat', body('o2'), { timeout: 1000 }).then((m) => m.string(), (e: Error) => e.name);
      assert.notEqual(typeof third === 'string' && third.includes('in flight'), true, `no refusal text as a reply: ${third}`);
      assert.ok(Date.now() - t0 >= 900, 'the request timed out at its own deadline');
      await Promise.all(held);
    } finally {
      await nc.close();
    }
  });
});
