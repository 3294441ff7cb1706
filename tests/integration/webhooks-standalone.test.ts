/**
 * Webhooks in standalone mode (memory queue): a real SDK client's connection,
 * an offline push and an ack reach a node:http receiver, each verified with
 * the `standardwebhooks` library; the webhook API and metrics are served on
 * the API port.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type LonglinkClient } from '../../sdk/src/node.js';
import type { Standalone } from '../../services/standalone/app.js';
import { start } from '../helpers/standalone.js';
import { waitFor } from '../helpers/sdk-clients.js';
import { newSecret, WebhookReceiver } from '../helpers/webhook-receiver.js';

describe('standalone: webhooks over the memory queue', () => {
  const secret = newSecret();
  const rx = new WebhookReceiver([secret]);
  let s: Standalone;
  let client: LonglinkClient | undefined;
  before(async () => {
    await rx.start();
    s = await start({ LONGLINK_WEBHOOKS: JSON.stringify([{ name: 'app', url: rx.url, events: ['*'], secrets: [secret] }]) });
  });
  after(async () => { client?.close(); await s?.close(); await rx.stop(); });

  it('connection, offline push and ack events arrive signed; the API and metrics report them', async () => {
    client = createClient({ url: s.gatewayUrl, device: 'tab', token: () => s.mintToken('sam', { device: 'tab' }), heartbeat: { smart: false, intervalMs: 5000 } });
    client.connect();
    await client.whenConnected(10_000);
    const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
      const res = await fetch(`${s.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${s.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return { status: res.status, body: await res.json() };
    };
    await call('POST', '/v1/push', { user: 'sam', data: { live: true }, id: 'live-1' });
    await call('POST', '/v1/push', { user: 'nobody', data: { off: true }, id: 'off-1' });
    const types = (): string[] => rx.received.map((r) => r.type);
    await waitFor(() => ['connection.opened', 'push.acked', 'push.offline'].every((t) => types().includes(t)), 10_000, 'the events', () => types().join(','));
    assert.deepEqual(rx.rejected, []);
    assert.equal(rx.received.find((r) => r.type === 'push.acked')!.body.data.id, 'live-1');
    assert.deepEqual(rx.received.find((r) => r.type === 'push.offline')!.body.data.payload, { off: true });
    const st = await call('GET', '/v1/webhooks');
    assert.equal(st.status, 200);
    const ep = (st.body as { endpoints: Array<{ name: string; secrets: number; dead: number; stats: { delivered: number } }> }).endpoints[0]!;
    assert.deepEqual([ep.name, ep.secrets, ep.dead], ['app', 1, 0]);
    assert.ok(!JSON.stringify(st.body).includes(secret.slice(6, 20)), 'no secret in the API');
    const metrics = await (await fetch(`${s.apiUrl}/metrics`)).text();
    assert.match(metrics, /longlink_router_webhook_deliveries_total\{endpoint="app"\} [1-9]/);
  });
});
