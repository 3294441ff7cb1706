/**
 * Cluster-wide session rules on real processes: one live session per
 * (user, device) across gateways (the older one gets REPLACED), and kick /
 * logout through the API reach whichever gateway holds the user.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close } from '../../protocol/index.js';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { mustConnect, type TestClient } from '../helpers/client.js';

describe('cluster sessions', () => {
  let c: Cluster | undefined;
  const clients: TestClient[] = [];
  after(async () => { for (const x of clients) x.close(); await c?.stop(); });

  it('a connection on gateway B replaces the same user and device on gateway A; other devices stay', async () => {
    c = await startCluster({ gateways: 2 });
    const [a, b] = c.gateways as [typeof c.gateways[0], typeof c.gateways[0]];
    const onA = await mustConnect(a.url, { token: await c.token('zoe', 'phone') });
    const laptop = await mustConnect(a.url, { token: await c.token('zoe', 'laptop') });
    clients.push(onA, laptop);
    await onA.frame('hello');
    await laptop.frame('hello');
    await new Promise((r) => setTimeout(r, 300)); // presence of the first connections reaches the router
    const onB = await mustConnect(b.url, { token: await c.token('zoe', 'phone') });
    clients.push(onB);
    assert.equal((await onB.frame('hello')).gateway, b.id);
    const closed = await onA.closeEvent(10_000);
    assert.equal(closed.code, Close.REPLACED);
    assert.equal(onB.closed, undefined);
    assert.equal(laptop.closed, undefined);
  });

  it('kick and logout through the API close the right device on whichever gateway holds it', async () => {
    const cl = c!;
    const phone = await mustConnect(cl.gateways[0]!.url, { token: await cl.token('yann', 'phone') });
    const tablet = await mustConnect(cl.gateways[1]!.url, { token: await cl.token('yann', 'tablet') });
    clients.push(phone, tablet);
    await phone.frame('hello');
    await tablet.frame('hello');
    await new Promise((r) => setTimeout(r, 300));
    const r1 = await cl.api('POST', '/v1/kick', { user: 'yann', device: 'tablet', type: 'logout' });
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    assert.equal((await tablet.closeEvent(10_000)).code, Close.LOGGED_OUT);
    assert.equal(phone.closed, undefined);
    const r2 = await cl.api('POST', '/v1/kick', { user: 'yann' });
    assert.equal(r2.status, 200);
    assert.equal((await phone.closeEvent(10_000)).code, Close.KICKED);
  });
});
