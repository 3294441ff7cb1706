/**
 * Channel history reads on a real cluster (NATS + Redis), at the default
 * limits: a recovery whose missed messages exceed the reply bound (half the
 * bus message bound) is read in pages that each fit, and recovers (before
 * paging it was answered `recovered:false`; before the bound, the one reply
 * was dropped by NATS (max_payload) and turned into `unsubscribed`
 * LL_STORE_UNAVAILABLE after the gateway's timeout); and a gateway sends one history read for
 * recovering clients that ask for the same channel and offset together, and
 * none for a client whose epoch it knows is not the channel's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
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
const answer = (c: TestClient, channel: string) => c.frames.find((f) => (f.op === 'subscribed' || f.op === 'unsubscribed') && 'channel' in f && f.channel === channel);

describe('channel history reads on a cluster: bounded replies, shared reads', () => {
  let c: Cluster;
  const clients: TestClient[] = [];
  const api = (method: string, path: string, body?: unknown) => apiCall(c.routers[0]!.apiUrl, CLUSTER_API_KEY, method, path, body);
  const open = async (user: string, channels: string[], query: Record<string, string>): Promise<TestClient> => {
    const token = await mintToken(CLUSTER_SECRET, user, { ttlSeconds: 3600, channels });
    const client = await mustConnect(c.gateways[0]!.url, { token, query });
    clients.push(client);
    return client;
  };
  const publish = async (channel: string, data: unknown): Promise<void> => {
    const r = await api('POST', '/v1/publish', { channel, data });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  /** The channel's epoch, as a plain join shows it (then that client leaves, and the gateway drops the channel). */
  const epochOf = async (channel: string): Promise<string> => {
    const x = await open('probe', [channel], { channels: '1' });
    await x.until(() => answer(x, channel), 10_000, 'subscribed');
    x.close();
    return (answer(x, channel) as SubscribedFrame).epoch;
  };

  before(async () => {
    // Default limits: 64 KiB publishes, 100 messages of history, NATS' 1 MiB max_payload.
    c = await startCluster({ gateways: 1, routers: 1 });
  });
  after(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  });

  it('a recovery past the reply bound is read in pages and recovers, promptly; a small one recovers', async () => {
    const blob = 'x'.repeat(60_000);
    for (let i = 0; i < 20; i++) await publish('room:big', blob); // 1.2 MB of history: over NATS' max_payload
    for (let i = 0; i < 3; i++) await publish('room:small', { i });
    const [big, small] = [await epochOf('room:big'), await epochOf('room:small')];
    const y = await open('victim', ['room:big', 'room:small'], { recover: '1' });
    await y.frame('hello');
    const t0 = Date.now();
    y.send(JSON.stringify({ op: 'recover', channels: [{ channel: 'room:big', offset: 1, epoch: big }, { channel: 'room:small', offset: 1, epoch: small }] }));
    await y.until(() => answer(y, 'room:big') && answer(y, 'room:small'), 10_000, 'both answered');
    const took = Date.now() - t0;
    assert.deepEqual(answer(y, 'room:big'), { op: 'subscribed', channel: 'room:big', offset: 20, epoch: big, recovered: true });
    assert.ok(took < 3000, `answered in ${took} ms (the gateway's history timeout is 5 s)`);
    assert.deepEqual(answer(y, 'room:small'), { op: 'subscribed', channel: 'room:small', offset: 3, epoch: small, recovered: true });
    await y.until(() => pubs(y, 'room:small').length === 2, 5000, 'recovered small');
    assert.deepEqual(pubs(y, 'room:small').map((p) => p.offset), [2, 3]);
    await y.until(() => pubs(y, 'room:big').length === 19, 10_000, 'recovered big, in pages');
    assert.deepEqual(pubs(y, 'room:big').map((p) => p.offset), Array.from({ length: 19 }, (_, i) => i + 2));
    await publish('room:big', 'live');
    await y.until(() => pubs(y, 'room:big').length === 20, 5000, 'live message on the big channel');
    assert.deepEqual(pubs(y, 'room:big').map((p) => [p.offset, p.data]).at(-1), [21, 'live']);
    assert.equal(y.frames.filter((f) => f.op === 'subscribed' && f.channel === 'room:big').length, 1);
  });

  it('recovering clients asking for the same channel and offset together share one history read', async () => {
    for (let i = 0; i < 5; i++) await publish('room:co', { i });
    const epoch = await epochOf('room:co');
    const bus = await connectNatsBus({ servers: c.nats.urls, name: 'history-read-watcher', log: silent });
    const reads: ChannelHistoryRequest[] = [];
    const sub = bus.subscribe('longlink.chhistory', (m) => { const r = decodeMsg<ChannelHistoryRequest>(m.data); if (r?.channel === 'room:co') reads.push(r); });
    await bus.flush();
    try {
      const N = 10;
      const ys = await Promise.all(Array.from({ length: N }, (_, i) => open(`co${i}`, ['room:co'], { recover: '1' })));
      await Promise.all(ys.map((y) => y.frame('hello')));
      for (const y of ys) y.send(JSON.stringify({ op: 'recover', channels: [{ channel: 'room:co', offset: 2, epoch }] }));
      for (const y of ys) await y.until(() => answer(y, 'room:co'), 10_000, 'subscribed');
      for (const y of ys) {
        assert.deepEqual(answer(y, 'room:co'), { op: 'subscribed', channel: 'room:co', offset: 5, epoch, recovered: true });
        await y.until(() => pubs(y, 'room:co').length === 3, 5000, 'recovered');
        assert.deepEqual(pubs(y, 'room:co').map((p) => p.offset), [3, 4, 5]);
      }
      const shared = reads.length;
      assert.ok(shared <= N / 2, `${shared} history reads for ${N} recovering clients (one each before)`);
      // The gateway now follows the channel: a client from another epoch cannot recover, and costs no read.
      const z = await open('other-epoch', ['room:co'], { recover: '1' });
      await z.frame('hello');
      z.send(JSON.stringify({ op: 'recover', channels: [{ channel: 'room:co', offset: 0, epoch: 'whatever' }] }));
      await z.until(() => answer(z, 'room:co'), 10_000, 'subscribed');
      assert.deepEqual(answer(z, 'room:co'), { op: 'subscribed', channel: 'room:co', offset: 5, epoch, recovered: false });
      await bus.flush();
      assert.equal(reads.length, shared, 'no read for an epoch the gateway knows is not the channel\'s');
    } finally {
      sub.unsubscribe();
      await bus.close();
    }
  });
});
