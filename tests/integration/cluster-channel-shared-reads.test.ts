/**
 * Channel history reads shared across gateways on a real cluster (NATS +
 * Redis): when several gateways recover the same channel at the same offset
 * at once (every gateway's subscribers of a hot channel resuming after a bus
 * blip), the router answers their requests with fewer store reads than
 * requests (services/router/core/read-coalescer.ts), and every client still
 * recovers exactly what it missed. Redis is paused for a moment while the
 * requests arrive, so they are in flight together whatever the machine's
 * speed (the router's Redis command timeout is 1 s; the pause is shorter).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { mintToken } from '../../services/standalone/dev-token.js';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { decodeMsg } from '../../services/shared/bus/bus.js';
import type { ChannelHistoryRequest } from '../../services/shared/bus/messages.js';
import { silent } from '../helpers/log.js';
import { apiCall } from '../../infra/local/api-call.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import type { PubFrame, SubscribedFrame } from '../../protocol/index.js';

const pubs = (c: TestClient, channel: string): PubFrame[] => c.frames.filter((f): f is PubFrame => f.op === 'pub' && f.channel === channel);
const subscribed = (c: TestClient, channel: string): SubscribedFrame | undefined => c.frames.find((f): f is SubscribedFrame => f.op === 'subscribed' && f.channel === channel);

describe('channel history reads shared by the router across gateways (NATS + Redis)', () => {
  let c: Cluster;
  const clients: TestClient[] = [];
  const api = (method: string, path: string, body?: unknown) => apiCall(c.routers[0]!.apiUrl, CLUSTER_API_KEY, method, path, body);
  const open = async (gw: number, user: string, channels: string[], query: Record<string, string>): Promise<TestClient> => {
    const token = await mintToken(CLUSTER_SECRET, user, { ttlSeconds: 3600, channels });
    const client = await mustConnect(c.gateways[gw]!.url, { token, query });
    clients.push(client);
    return client;
  };
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${c.routers[0]!.apiUrl}/metrics`)).text();
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    assert.ok(m, `${name} exported`);
    return Number(m[1]);
  };

  before(async () => {
    c = await startCluster({ gateways: 2, routers: 1 });
  });
  after(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  });

  it('two gateways recovering one channel at one offset together cost fewer store reads than requests', async () => {
    const channel = 'room:hot';
    for (let i = 0; i < 5; i++) {
      const r = await api('POST', '/v1/publish', { channel, data: { i } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const probe = await open(0, 'probe', [channel], { channels: '1' });
    await probe.until(() => subscribed(probe, channel), 10_000, 'probe subscribed');
    probe.close();
    const epoch = subscribed(probe, channel)!.epoch;

    const bus = await connectNatsBus({ servers: c.nats.urls, name: 'history-read-watcher', log: silent });
    // Every history request (a recovering client also makes its gateway join the broadcast channel: a position read).
    const requests: ChannelHistoryRequest[] = [];
    const sub = bus.subscribe('longlink.chhistory', (m) => { const r = decodeMsg<ChannelHistoryRequest>(m.data); if (r) requests.push(r); });
    await bus.flush();
    const redis = new Redis(c.redis.url);
    try {
      const ys = await Promise.all([0, 1, 0, 1].map((gw, i) => open(gw, `r${i}`, [channel], { recover: '1' })));
      await Promise.all(ys.map((y) => y.frame('hello')));
      const [reads0, shared0] = [await metric('longlink_router_channel_history_reads_total'), await metric('longlink_router_channel_reads_shared_total')];
      // Hold the store while both gateways' requests reach the router (a command sent now waits in Redis).
      await redis.call('CLIENT', 'PAUSE', '500', 'ALL');
      for (const y of ys) y.send(JSON.stringify({ op: 'recover', channels: [{ channel, offset: 2, epoch }] }));
      for (const y of ys) {
        await y.until(() => subscribed(y, channel), 10_000, 'subscribed');
        assert.deepEqual(subscribed(y, channel), { op: 'subscribed', channel, offset: 5, epoch, recovered: true });
        await y.until(() => pubs(y, channel).length === 3, 5000, 'recovered');
        assert.deepEqual(pubs(y, channel).map((p) => p.offset), [3, 4, 5]);
      }
      await bus.flush();
      const reads = await metric('longlink_router_channel_history_reads_total') - reads0;
      const shared = await metric('longlink_router_channel_reads_shared_total') - shared0;
      assert.equal(reads, requests.length, 'the router counts every request the gateways sent');
      const hot = requests.filter((r) => r.channel === channel);
      assert.equal(hot.length, 2, 'each gateway asked once for its recovering clients (they share reads locally)');
      assert.ok(hot.every((r) => r.afterOffset === 2));
      assert.ok(shared >= 1, `${shared} requests shared a read in flight (${JSON.stringify(requests)})`);
      assert.ok(reads - shared < requests.length, `${reads - shared} store reads for ${requests.length} requests`);
    } finally {
      sub.unsubscribe();
      await bus.close();
      redis.disconnect();
    }
  });
});
