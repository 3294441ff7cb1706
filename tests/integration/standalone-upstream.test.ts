/**
 * Standalone mode's in-process upstream handler: the SDK's request() against
 * a real standalone gateway is answered by a handler registered with
 * handleUpstream(); a topic without one is LL_UPSTREAM_NO_BACKEND, a handler
 * that throws sends no reply (LL_UPSTREAM_TIMEOUT), and unregistering works.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, RequestError, type LonglinkClient } from '../../sdk/src/node.js';
import type { Standalone } from '../../services/standalone/app.js';
import { start } from '../helpers/standalone.js';

describe('standalone: in-process upstream handler', () => {
  let s: Standalone;
  let client: LonglinkClient;
  before(async () => {
    s = await start();
    client = createClient({ url: s.gatewayUrl, device: 'd1', token: () => s.mintToken('sue', { device: 'd1' }), heartbeat: { smart: false, intervalMs: 5000 } });
    client.connect();
    await client.whenConnected(10_000);
  });
  after(async () => { client?.close(); await s?.close(); });

  const kindOf = async (p: Promise<unknown>): Promise<string> => {
    try { await p; } catch (err) { assert.ok(err instanceof RequestError, String(err)); return `${err.kind}/${err.code}`; }
    return 'resolved';
  };

  it('answers requests, reports no backend and timeouts, and stops when unregistered', async () => {
    const stop = s.handleUpstream('demo.*', async (msg) => ({ topic: msg.topic, user: msg.user, device: msg.device, got: msg.data }));
    assert.deepEqual(await client.request('demo.echo', { hi: 1 }), { topic: 'demo.echo', user: 'sue', device: 'd1', got: { hi: 1 } });
    assert.equal(await kindOf(client.request('other.topic', 1)), 'no-backend/LL_UPSTREAM_NO_BACKEND');
    const stopBroken = s.handleUpstream('broken', () => { throw new Error('handler bug'); });
    assert.equal(await kindOf(client.request('broken', 1, { timeoutMs: 300 })), 'timeout/LL_UPSTREAM_TIMEOUT');
    stopBroken();
    // A plain send still gets `sent` (the handler ignores it: no reply expected).
    await client.send('demo.echo', { plain: true });
    stop();
    assert.equal(await kindOf(client.request('demo.echo', 1)), 'no-backend/LL_UPSTREAM_NO_BACKEND');
  });
});
