/**
 * Channel webhooks on a real cluster: 2 gateway processes, 2 routers (one
 * queue group, so one gateway's reports are handled by either), NATS with
 * JetStream (the webhook queue), Redis (the occupancy store), and node:http
 * receivers that verify every delivery with the `standardwebhooks` library.
 * One endpoint takes channel.occupied / channel.vacated, another
 * channel.subscribed / channel.unsubscribed (per-endpoint configuration).
 * Checks: one occupied per channel when its first subscriber anywhere joins
 * and one vacated when its last one anywhere leaves (not per gateway),
 * through concurrent joins and leaves on both gateways; per-user join and
 * leave events without session ids; the broadcast channel never reported.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall } from '../../infra/local/api-call.js';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { mintToken } from '../../services/standalone/dev-token.js';
import type { SubscribedFrame } from '../../protocol/index.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import { waitFor } from '../helpers/sdk-clients.js';
import { newSecret, WebhookReceiver, type Received } from '../helpers/webhook-receiver.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const subscribed = (c: TestClient, channel: string): SubscribedFrame | undefined => c.frames.find((f): f is SubscribedFrame => f.op === 'subscribed' && f.channel === channel);

describe('channel webhooks on a cluster', () => {
  let c: Cluster | undefined;
  const [roomsSecret, membersSecret] = [newSecret(), newSecret()];
  const rooms = new WebhookReceiver([roomsSecret]);
  const members = new WebhookReceiver([membersSecret]);
  const clients: TestClient[] = [];
  const api = (method: string, path: string, body?: unknown) => apiCall(c!.routers[0]!.apiUrl, CLUSTER_API_KEY, method, path, body);
  /** Distinct events (at-least-once: a duplicate keeps its webhook-id). */
  const events = (rx: WebhookReceiver, type: string, channel: string): Received[] => {
    const seen = new Set<string>();
    return rx.received.filter((r) => r.type === type && r.body.data.channel === channel && !seen.has(r.id) && seen.add(r.id) !== undefined);
  };
  const open = async (gw: number, user: string, channels: string[]): Promise<TestClient> => {
    const token = await mintToken(CLUSTER_SECRET, user, { ttlSeconds: 3600, channels });
    const client = await mustConnect(c!.gateways[gw]!.url, { token, query: { channels: '1' } });
    clients.push(client);
    for (const ch of channels) await client.until(() => subscribed(client, ch), 10_000, `subscribed ${ch}`);
    return client;
  };

  before(async () => {
    await Promise.all([rooms.start(), members.start()]);
    c = await startCluster({
      gateways: 2, routers: 2, jetstream: true,
      gatewayEnv: { LONGLINK_CHANNEL_PRESENCE_EVENTS: 'true' },
      routerEnv: {
        LONGLINK_WEBHOOKS: JSON.stringify([
          { name: 'rooms', url: rooms.url, events: ['channel.occupied', 'channel.vacated'], secrets: [roomsSecret] },
          { name: 'members', url: members.url, events: ['channel.subscribed', 'channel.unsubscribed'], secrets: [membersSecret] },
        ]),
        LONGLINK_WEBHOOK_RETRY_BASE_MS: '200', LONGLINK_WEBHOOK_TIMEOUT_MS: '2000',
      },
    });
  });
  after(async () => {
    for (const x of clients) x.close();
    await c?.stop();
    await Promise.all([rooms.stop(), members.stop()]);
  });

  it('channel.occupied on the first subscriber anywhere, channel.vacated when the last one anywhere leaves', async () => {
    const ch = 'room:occ';
    const a = await open(0, 'occ-a', [ch]);
    await waitFor(() => events(rooms, 'channel.occupied', ch).length === 1, 10_000, 'channel.occupied');
    const occupied = events(rooms, 'channel.occupied', ch)[0]!;
    assert.deepEqual(Object.keys(occupied.body.data).sort(), ['at', 'channel']);
    assert.equal(typeof occupied.body.data.at, 'number');
    assert.match(occupied.id, /^msg_/);

    // More subscribers, on both gateways: still one occupied.
    const b = await open(1, 'occ-b', [ch]);
    const a2 = await open(0, 'occ-a2', [ch]);
    // gateway 0 loses its subscribers, gateway 1 keeps one: not vacated.
    a.close();
    a2.close();
    for (let t = 0; ((await api('GET', `/v1/channels/${encodeURIComponent(ch)}`)).body as { subscribers: number }).subscribers !== 1; t++) {
      assert.ok(t < 100, 'one subscriber left');
      await sleep(50);
    }
    await sleep(1000);
    assert.equal(events(rooms, 'channel.occupied', ch).length, 1);
    assert.equal(events(rooms, 'channel.vacated', ch).length, 0, 'a subscriber is left on the other gateway');

    b.close();
    await waitFor(() => events(rooms, 'channel.vacated', ch).length === 1, 10_000, 'channel.vacated');
    assert.deepEqual(Object.keys(events(rooms, 'channel.vacated', ch)[0]!.body.data).sort(), ['at', 'channel']);
    await sleep(500);
    assert.equal(events(rooms, 'channel.occupied', ch).length, 1);
    assert.equal(events(rooms, 'channel.vacated', ch).length, 1);
    assert.deepEqual(rooms.rejected, [], 'every delivery verified with standardwebhooks');
    assert.equal(rooms.received.filter((r) => r.body.data.channel === '$all').length, 0, 'the broadcast channel is never reported');
    assert.equal(rooms.received.filter((r) => !r.type.startsWith('channel.o') && !r.type.startsWith('channel.v')).length, 0, 'only the endpoint\'s types');
  });

  it('concurrent joins and leaves on both gateways give one occupied and one vacated per cycle', async () => {
    const ch = 'room:race';
    const CYCLES = 3;
    for (let k = 1; k <= CYCLES; k++) {
      const xs = await Promise.all(Array.from({ length: 6 }, (_, i) => open(i % 2, `race-${k}-${i}`, [ch])));
      await waitFor(() => events(rooms, 'channel.occupied', ch).length === k, 10_000, `occupied ${k}`);
      for (const x of xs) x.close();
      await waitFor(() => events(rooms, 'channel.vacated', ch).length === k, 10_000, `vacated ${k}`);
    }
    await sleep(1000);
    assert.equal(events(rooms, 'channel.occupied', ch).length, CYCLES);
    assert.equal(events(rooms, 'channel.vacated', ch).length, CYCLES);
  });

  it('an API unsubscribe that empties the channel reports it vacated', async () => {
    const ch = 'room:api';
    await open(0, 'api-a', [ch]);
    await open(1, 'api-b', [ch]);
    await waitFor(() => events(rooms, 'channel.occupied', ch).length === 1, 10_000, 'occupied');
    const r = await api('POST', '/v1/unsubscribe', { user: 'api-a', channels: [ch] });
    assert.equal(r.status, 200);
    await sleep(800);
    assert.equal(events(rooms, 'channel.vacated', ch).length, 0);
    await api('POST', '/v1/unsubscribe', { user: 'api-b', channels: [ch] });
    await waitFor(() => events(rooms, 'channel.vacated', ch).length === 1, 10_000, 'vacated');
  });

  it('channel.subscribed / unsubscribed per connection, without session ids, to the endpoint that takes them', async () => {
    const ch = 'room:members';
    const x = await open(1, 'mem-1', [ch]);
    await waitFor(() => events(members, 'channel.subscribed', ch).length === 1, 10_000, 'channel.subscribed');
    x.close();
    await waitFor(() => events(members, 'channel.unsubscribed', ch).length === 1, 10_000, 'channel.unsubscribed');
    const [sub, unsub] = [events(members, 'channel.subscribed', ch)[0]!.body.data, events(members, 'channel.unsubscribed', ch)[0]!.body.data];
    assert.deepEqual(Object.keys(sub).sort(), ['at', 'channel', 'conn', 'device', 'gateway', 'user']);
    assert.deepEqual({ ...sub, at: 0, conn: '' }, { channel: ch, user: 'mem-1', device: sub.device, gateway: c!.gateways[1]!.id, at: 0, conn: '' });
    assert.equal(unsub.conn, sub.conn);
    assert.ok(!JSON.stringify(members.received.map((r) => r.body)).includes('session'), 'no session ids');
    assert.deepEqual(members.rejected, []);
    assert.equal(members.received.filter((r) => r.body.data.channel === '$all').length, 0);
    assert.equal(members.received.filter((r) => r.type === 'channel.occupied' || r.type === 'channel.vacated').length, 0, 'only the endpoint\'s types');
  });
});
