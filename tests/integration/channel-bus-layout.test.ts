/**
 * The channel bus layouts on a real cluster (docs/protocol.md §13.6): two
 * gateway processes, real NATS and Redis, one router still on the `record`
 * layout and one switched to `frame` — the fleet halfway through the second
 * step of the rollout. Messages of either layout fan out to every subscriber
 * on every gateway; publishes racing through both routers still arrive
 * exactly once and in offset order; each gateway took every bus message
 * once, in the layout its router wrote; and malformed messages on the
 * channel's subject are dropped without disturbing anything.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { mintToken } from '../../services/standalone/dev-token.js';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { encodePubRaw, type PubFrame, type SubscribedFrame } from '../../protocol/index.js';
import { silent } from '../helpers/log.js';
import { apiCall } from '../../infra/local/api-call.js';
import { mustConnect, type TestClient } from '../helpers/client.js';

const CH = 'room:layout';
const pubs = (c: TestClient): PubFrame[] => c.frames.filter((f): f is PubFrame => f.op === 'pub' && f.channel === CH);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('channel bus layouts on a cluster: record and frame routers, gateways reading both', () => {
  let c: Cluster;
  const clients: TestClient[] = [];
  const sent = { record: 0, frame: 0 };
  /** Router 0 writes `record`, router 1 `frame`. */
  const publish = async (router: 0 | 1, data: unknown): Promise<number> => {
    const r = await apiCall(c.routers[router]!.apiUrl, CLUSTER_API_KEY, 'POST', '/v1/publish', { channel: CH, data });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    sent[router === 0 ? 'record' : 'frame']++;
    return (r.body as { offset: number }).offset;
  };
  const allGot = async (n: number): Promise<void> => {
    for (const s of clients) await s.until(() => pubs(s).length >= n, 20_000, `${n} messages`);
    await sleep(300); // a duplicate would show up now
    for (const s of clients) assert.deepEqual(pubs(s).map((p) => p.offset), range(1, n));
  };
  const layoutCounts = async (httpUrl: string): Promise<{ record: number; frame: number }> => {
    const text = await (await fetch(`${httpUrl}/metrics`)).text();
    const at = (layout: string): number => Number(new RegExp(`longlink_gateway_channel_bus_messages_total\\{layout="${layout}"\\} (\\d+)`).exec(text)?.[1] ?? NaN);
    return { record: at('record'), frame: at('frame') };
  };

  before(async () => {
    c = await startCluster({ gateways: 2, routers: 0 });
    await c.startRouter({ LONGLINK_CHANNEL_BUS_LAYOUT: 'record' });
    await c.startRouter({ LONGLINK_CHANNEL_BUS_LAYOUT: 'frame' });
    for (const [i, gw] of [0, 0, 1, 1].entries()) {
      const token = await mintToken(CLUSTER_SECRET, `lay${i}`, { ttlSeconds: 3600, channels: [CH] });
      clients.push(await mustConnect(c.gateways[gw]!.url, { token, query: { channels: '1' } }));
    }
    for (const s of clients) await s.until(() => s.frames.find((f): f is SubscribedFrame => f.op === 'subscribed' && f.channel === CH), 10_000, 'subscribed');
  });
  after(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  });

  it('frame-layout messages alone reach every subscriber, byte for byte the frame the router wrote', async () => {
    for (let i = 1; i <= 30; i++) assert.equal(await publish(1, { i, s: 'é "q" ✓' }), i);
    await allGot(30);
    for (const s of clients) assert.deepEqual(pubs(s)[4]!.data, { i: 5, s: 'é "q" ✓' });
  });

  it('record-layout messages too, and both racing through the two routers arrive exactly once, in offset order', async () => {
    for (let i = 31; i <= 40; i++) assert.equal(await publish(0, { i }), i);
    await allGot(40);
    const N = 200;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < N) { next++; await publish((next % 2) as 0 | 1, { n: next }); }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await allGot(40 + N);
  });

  it('malformed messages on the subject are dropped; the channel goes on', async () => {
    const bus = await connectNatsBus({ servers: c.nats.urls, name: 'layout-garbage', log: silent });
    const good = encodePubRaw(CH, 241, 'E', 'x', 1, '1');
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
    // Frame-shaped ones carry the layout's marker (#), so they reach the frame reader; the unmarked frame with a JSON
    // string as data is what a router from before the marker wrote.
    for (const bad of ['#' + good.slice(0, -1), '#' + encodePubRaw('room:other', 241, 'E', 'x', 1, '1'), '#' + good.replace('"epoch":"E"', '"epoch":"E E"'),
      '#{"op":"pub","channel":', encodePubRaw(CH, 241, 'E', 'x', 1, '"unmarked"'), 'not json',
      JSON.stringify({ channel: CH, offset: 241, epoch: 'E', id: 'x', ts: 1, data: 5 })]) {
      bus.publish(`longlink.ch.${CH}`, enc(bad));
    }
    await bus.flush();
    await bus.close();
    for (let i = 241; i <= 250; i++) assert.equal(await publish((i % 2) as 0 | 1, { i }), i);
    await allGot(250);
  });

  it('each gateway took every bus message once, in the layout its router wrote', async () => {
    for (const gw of c.gateways) assert.deepEqual(await layoutCounts(gw.httpUrl), sent, gw.id);
  });
});
