/**
 * Channels on a real cluster: 2 gateway processes, 2 routers, real NATS and
 * Redis. A publish reaches every subscriber on every gateway exactly once
 * and in offset order (publishes spread over both routers, so gateways do
 * see them out of order); a gateway holds a channel's bus subscription only
 * while it has local subscribers (checked on the NATS server itself);
 * unsubscribe via the API takes effect on every gateway; history loss
 * (Redis flushed) changes the epoch and clients are told; limits refuse with
 * their documented codes; and after a gateway is killed, a client resuming
 * on the other one recovers what it missed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { mintToken } from '../../services/standalone/dev-token.js';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { decodeMsg } from '../../services/shared/bus/bus.js';
import type { ChannelPresenceEvent } from '../../services/shared/bus/messages.js';
import { silent } from '../helpers/log.js';
import { apiCall } from '../../infra/local/api-call.js';
import { connect, mustConnect, type TestClient } from '../helpers/client.js';
import type { PubFrame, SubscribedFrame } from '../../protocol/index.js';

const pubs = (c: TestClient, channel: string): PubFrame[] => c.frames.filter((f): f is PubFrame => f.op === 'pub' && f.channel === channel);
const subscribed = (c: TestClient, channel: string): SubscribedFrame | undefined => c.frames.find((f): f is SubscribedFrame => f.op === 'subscribed' && f.channel === channel);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Connz { connections: Array<{ name?: string; subscriptions_list?: string[] }> }

describe('channels on a cluster (NATS + Redis)', () => {
  let c: Cluster;
  const clients: TestClient[] = [];
  let turn = 0;
  /** Alternates routers, so one channel's publishes race through two processes. */
  const api = (method: string, path: string, body?: unknown) => apiCall(c.routers[turn++ % c.routers.length]!.apiUrl, CLUSTER_API_KEY, method, path, body);
  const open = async (gw: number, user: string, channels: string[], query: Record<string, string> = { channels: '1' }, device?: string): Promise<TestClient> => {
    const token = await mintToken(CLUSTER_SECRET, user, { ttlSeconds: 3600, channels, ...(device ? { device } : {}) });
    const client = await mustConnect(c.gateways[gw]!.url, { token, query });
    clients.push(client);
    return client;
  };
  /** Channel subjects gateway `id`'s bus connection subscribes to, as the NATS server lists them. */
  const busSubjects = async (id: string): Promise<string[]> => {
    const z = await c.nats.monitor<Connz>(0, 'connz?subs=1&limit=1000');
    return z.connections.filter((x) => x.name === `gateway-${id}`).flatMap((x) => x.subscriptions_list ?? []).filter((s) => s.startsWith('longlink.ch.'));
  };
  const waitFor = async (pred: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> => {
    const end = Date.now() + ms;
    while (!(await pred())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  };

  before(async () => {
    c = await startCluster({
      gateways: 2, routers: 2,
      gatewayEnv: { LONGLINK_MAX_CHANNELS_PER_CONNECTION: '4', LONGLINK_CHANNEL_PRESENCE_EVENTS: 'true' },
      routerEnv: { LONGLINK_MAX_PUBLISH_BYTES: '2048', LONGLINK_PUBLISH_RATE: '50', LONGLINK_PUBLISH_BURST: '400', LONGLINK_CHANNEL_HISTORY_SIZE: '50' },
    });
  });
  after(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  });

  it('a publish reaches every subscriber on every gateway exactly once, in offset order, through two routers', async () => {
    const subs = [await open(0, 'e0', ['room:e2e']), await open(0, 'e1', ['room:e2e']), await open(1, 'e2', ['room:e2e']), await open(1, 'e3', ['room:e2e'])];
    for (const s of subs) await s.until(() => subscribed(s, 'room:e2e'), 10_000, 'subscribed');
    const N = 300;
    let next = 0;
    const offsets: number[] = [];
    const worker = async (): Promise<void> => {
      while (next < N) {
        const i = next++;
        const r = await api('POST', '/v1/publish', { channel: 'room:e2e', data: { i } });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        offsets.push((r.body as { offset: number }).offset);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    assert.deepEqual([...offsets].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i + 1), 'one offset per publish');
    for (const s of subs) await s.until(() => pubs(s, 'room:e2e').length >= N, 20_000, 'every message');
    await sleep(300); // a duplicate would show up now
    for (const s of subs) assert.deepEqual(pubs(s, 'room:e2e').map((p) => p.offset), Array.from({ length: N }, (_, i) => i + 1));
    const count = await api('GET', '/v1/channels/room:e2e');
    assert.deepEqual(count.body, { channel: 'room:e2e', subscribers: 4, gateways: 2, answered: 2 });
  });

  it('a gateway subscribes on the bus only to channels it has subscribers for, and drops it when the last leaves', async () => {
    const [gw0, gw1] = [c.gateways[0]!.id, c.gateways[1]!.id];
    assert.ok(!(await busSubjects(gw0)).includes('longlink.ch.room:interest'));
    const a = await open(0, 'i0', ['room:interest']);
    const b = await open(0, 'i1', ['room:interest']);
    for (const x of [a, b]) await x.until(() => subscribed(x, 'room:interest'));
    await waitFor(async () => (await busSubjects(gw0)).includes('longlink.ch.room:interest'), 5000, 'gw0 subscribed');
    assert.ok(!(await busSubjects(gw1)).includes('longlink.ch.room:interest'), 'gw1 has no subscriber: no bus subscription');
    a.close();
    await sleep(300);
    assert.ok((await busSubjects(gw0)).includes('longlink.ch.room:interest'), 'one subscriber left');
    b.close();
    await waitFor(async () => !(await busSubjects(gw0)).includes('longlink.ch.room:interest'), 5000, 'gw0 dropped the subscription');
  });

  it('with LONGLINK_CHANNEL_PRESENCE_EVENTS, gateways publish join and leave events for backends', async () => {
    const bus = await connectNatsBus({ servers: c.nats.urls, name: 'channel-presence-watcher', log: silent });
    const events: ChannelPresenceEvent[] = [];
    const sub = bus.subscribe('longlink.chpresence.>', (m) => { events.push(decodeMsg<ChannelPresenceEvent>(m.data)!); });
    await bus.flush();
    try {
      const x = await open(1, 'watched', ['room:pe']);
      await x.until(() => subscribed(x, 'room:pe'));
      await waitFor(() => events.some((e) => e.type === 'join'), 5000, 'join event');
      x.close();
      await waitFor(() => events.some((e) => e.type === 'leave'), 5000, 'leave event');
      assert.deepEqual(events.map((e) => [e.type, e.channel, e.user, e.gateway]), [['join', 'room:pe', 'watched', c.gateways[1]!.id], ['leave', 'room:pe', 'watched', c.gateways[1]!.id]]);
      assert.equal(events[0]!.conn, events[1]!.conn);
    } finally {
      sub.unsubscribe();
      await bus.close();
    }
  });

  it('unsubscribe via the API takes effect on every gateway', async () => {
    const d0 = await open(0, 'multi', ['room:u'], { channels: '1' }, 'phone');
    const d1 = await open(1, 'multi', ['room:u'], { channels: '1' }, 'laptop');
    for (const x of [d0, d1]) await x.until(() => subscribed(x, 'room:u'));
    const r = await api('POST', '/v1/unsubscribe', { user: 'multi', channels: ['room:u'] });
    assert.deepEqual(r.body, { gateways: 2, connections: 2 });
    for (const x of [d0, d1]) await x.until(() => x.frames.some((f) => f.op === 'unsubscribed' && f.channel === 'room:u'), 5000, 'unsubscribed');
    await api('POST', '/v1/publish', { channel: 'room:u', data: 'after' });
    await api('POST', '/v1/broadcast', { data: 'marker-u' });
    for (const x of [d0, d1]) await x.until(() => pubs(x, '$all').some((p) => p.data === 'marker-u'), 5000, 'broadcast marker');
    await sleep(200);
    for (const x of [d0, d1]) assert.equal(pubs(x, 'room:u').length, 0);
  });

  it('history loss changes the epoch, and the client is told', async () => {
    const x = await open(0, 'loss', ['room:loss']);
    const first = await x.until(() => subscribed(x, 'room:loss'));
    for (let i = 0; i < 2; i++) await api('POST', '/v1/publish', { channel: 'room:loss', data: i });
    await x.until(() => pubs(x, 'room:loss').length === 2);
    const redis = new Redis(c.redis.url);
    await redis.flushall();
    redis.disconnect();
    await api('POST', '/v1/publish', { channel: 'room:loss', data: 'after the loss' });
    const p = await x.until(() => pubs(x, 'room:loss')[2]);
    assert.notEqual(p.epoch, first.epoch, 'a new epoch on the frame');
    assert.equal(p.offset, 1, 'offsets restarted');
    const y = await open(1, 'loss2', ['room:loss'], { recover: '1' });
    await y.frame('hello');
    y.send(JSON.stringify({ op: 'recover', channels: [{ channel: 'room:loss', offset: 2, epoch: first.epoch }] }));
    const s = await y.until(() => subscribed(y, 'room:loss'));
    assert.deepEqual({ recovered: s.recovered, epoch: s.epoch, offset: s.offset }, { recovered: false, epoch: p.epoch, offset: 1 });
  });

  it('resume recovers missed channel messages after a gateway is killed', async () => {
    const x = await open(1, 'survivor', ['room:k']);
    const sub = await x.until(() => subscribed(x, 'room:k'));
    for (let i = 1; i <= 5; i++) assert.equal((await api('POST', '/v1/publish', { channel: 'room:k', data: i })).status, 200);
    await x.until(() => pubs(x, 'room:k').length === 5);
    const last = pubs(x, 'room:k')[4]!;
    await c.killGateway(1);
    await x.closeEvent(10_000);
    for (let i = 6; i <= 10; i++) assert.equal((await api('POST', '/v1/publish', { channel: 'room:k', data: i })).status, 200);
    const y = await open(0, 'survivor', ['room:k'], { recover: '1' });
    await y.frame('hello');
    y.send(JSON.stringify({ op: 'recover', channels: [{ channel: 'room:k', offset: last.offset, epoch: sub.epoch }] }));
    await y.until(() => pubs(y, 'room:k').length === 5, 10_000, 'the five missed');
    assert.equal(subscribed(y, 'room:k')!.recovered, true);
    await api('POST', '/v1/publish', { channel: 'room:k', data: 11 });
    await y.until(() => pubs(y, 'room:k').length === 6, 10_000, 'live after recovery');
    assert.deepEqual(pubs(y, 'room:k').map((p) => p.data), [6, 7, 8, 9, 10, 11]);
    assert.deepEqual(pubs(y, 'room:k').map((p) => p.offset), [6, 7, 8, 9, 10, 11]);
  });

  // Last: it spends one router's publish burst, which refills at 50/s, and later publishes would get 429.
  it('limits refuse with the documented codes', async () => {
    const token = await mintToken(CLUSTER_SECRET, 'lim', { channels: ['a', 'b', 'c', 'd', 'e'] });
    const r = await connect(c.gateways[0]!.url, { token, query: { channels: '1' } });
    assert.equal(r.ok, false);
    if (!r.ok) { assert.equal(r.status, 400); assert.equal(JSON.parse(r.body).error.code, 'LL_CHANNEL_LIMIT'); }
    const big = await api('POST', '/v1/publish', { channel: 'a', data: 'x'.repeat(4000) });
    assert.deepEqual([big.status, (big.body as { error: { code: string } }).error.code], [413, 'LL_PUBLISH_TOO_LARGE']);
    const router = c.routers[0]!.apiUrl;
    const results = await Promise.all(Array.from({ length: 700 }, () => apiCall(router, CLUSTER_API_KEY, 'POST', '/v1/publish', { channel: 'a', data: 1 })));
    const limited = results.filter((x) => x.status === 429);
    assert.ok(limited.length > 0, 'over the burst some were refused');
    assert.equal((limited[0]!.body as { error: { code: string } }).error.code, 'LL_PUBLISH_RATE');
  });
});
