/**
 * Webhooks on a real cluster: NATS with JetStream (the queue), Redis, router
 * and gateway processes, real SDK clients, and a node:http receiver that
 * verifies every delivery with the `standardwebhooks` library. The router
 * signs with a new and an old secret (rotation); the receiver knows only the
 * old one. Checks: connection and push.offline events; a router killed while
 * events are queued loses none (duplicates only under the same webhook-id);
 * 500-then-200 delivers after a backoff; a receiver down past the horizon
 * yields counted dead letters that a replay delivers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall } from '../../infra/local/api-call.js';
import { CLUSTER_API_KEY, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { fleetClient, waitFor, type Recorded } from '../helpers/sdk-clients.js';
import { newSecret, WebhookReceiver, type Received } from '../helpers/webhook-receiver.js';

const HORIZON_MS = 15_000;

describe('webhooks on a cluster (JetStream queue)', () => {
  let c: Cluster | undefined;
  const [oldSecret, newSecret_] = [newSecret(), newSecret()];
  const rx = new WebhookReceiver([oldSecret]);
  const fleet: Recorded[] = [];
  const api = (method: string, path: string, body?: unknown) => apiCall(c!.routers.at(-1)!.apiUrl, CLUSTER_API_KEY, method, path, body);
  const ofType = (t: string, pred: (r: Received) => boolean = () => true): Received[] => rx.received.filter((r) => r.type === t && pred(r));
  const status = async (): Promise<{ depth: number; dead: number }> => {
    const r = await api('GET', '/v1/webhooks');
    assert.equal(r.status, 200);
    return (r.body as { endpoints: Array<{ depth: number; dead: number }> }).endpoints[0]!;
  };

  before(async () => {
    await rx.start();
    c = await startCluster({
      gateways: 1, routers: 1, jetstream: true,
      routerEnv: {
        LONGLINK_WEBHOOKS: JSON.stringify([{ name: 'backend', url: rx.url, events: ['*'], secrets: [newSecret_, oldSecret] }]),
        LONGLINK_WEBHOOK_RETRY_BASE_MS: '200', LONGLINK_WEBHOOK_RETRY_MAX_MS: '1000', LONGLINK_WEBHOOK_TIMEOUT_MS: '1000',
        LONGLINK_WEBHOOK_HORIZON_MS: String(HORIZON_MS), LONGLINK_WEBHOOK_INLINE_MAX_BYTES: '64',
      },
    });
  });
  after(async () => {
    for (const f of fleet) f.client.close();
    await c?.stop();
    await rx.stop();
  });

  it('only the webhook thread, which buries, keeps the dead letters\' share: the router\'s main thread does not listen to it', async () => {
    // The main thread only queues: a dead-letter share there listened to every router's dead-letter charges and kept them for the dead TTL, on the push path's thread.
    type Connz = { connections: Array<{ name?: string; subscriptions_list?: string[] }> };
    const listeners = async (): Promise<Connz['connections']> => (await c!.nats.monitor<Connz>(0, 'connz?subs=1&limit=1000')).connections
      .filter((x) => (x.subscriptions_list ?? []).some((s) => s.endsWith('.webhooks.dead_charged.*')));
    // The webhook thread opens its queue after the router is up.
    for (const end = Date.now() + 10_000; !(await listeners()).some((x) => /^router-webhooks-/.test(x.name ?? '')) && Date.now() < end;) await new Promise((r) => setTimeout(r, 100));
    const z = await c!.nats.monitor<Connz>(0, 'connz?subs=1&limit=1000');
    const listening = await listeners();
    assert.equal(listening.length, 1, `connections listening to the dead-letter charges: ${listening.map((x) => x.name).join(', ')}`);
    assert.match(listening[0]!.name ?? '', /^router-webhooks-/, 'the webhook thread\'s connection');
    assert.ok(z.connections.some((x) => (x.subscriptions_list ?? []).some((s) => s.endsWith('.webhooks.charged.*'))), 'the queue\'s share is still kept (main thread)');
  });

  it('connection.opened / closed and push.offline arrive signed, without session ids', async () => {
    const alice = fleetClient(c!, 'wh-alice', 'phone');
    fleet.push(alice);
    await waitFor(() => ofType('connection.opened', (r) => r.body.data.user === 'wh-alice').length > 0, 20_000, 'connection.opened');
    const opened = ofType('connection.opened')[0]!.body.data;
    assert.deepEqual(Object.keys(opened).sort(), ['at', 'conn', 'device', 'gateway', 'resumed', 'user']);
    assert.equal(opened.device, 'phone');
    assert.equal(opened.gateway, c!.gateways[0]!.id);

    // The app receives a push and its SDK acks it: the receipt arrives as push.acked.
    const live = await api('POST', '/v1/push', { user: 'wh-alice', data: { n: 1 }, id: 'm-live' });
    assert.equal((live.body as { results: Array<{ status: string }> }).results[0]!.status, 'sent');
    await waitFor(() => ofType('push.acked', (r) => r.body.data.id === 'm-live').length > 0, 10_000, 'push.acked');
    const acked = ofType('push.acked', (r) => r.body.data.id === 'm-live')[0]!.body.data;
    assert.deepEqual({ ...acked, ts: 0 }, { user: 'wh-alice', device: 'phone', seq: 1, id: 'm-live', ts: 0 });

    const small = await api('POST', '/v1/push', { user: 'wh-bob', data: { text: 'hi' }, id: 'm-small' });
    assert.equal((small.body as { results: Array<{ status: string }> }).results[0]!.status, 'offline');
    await api('POST', '/v1/push', { user: 'wh-bob', data: { text: 'x'.repeat(100) }, id: 'm-big' });
    await waitFor(() => ofType('push.offline').length >= 2, 10_000, 'push.offline events');
    const byId = new Map(ofType('push.offline').map((r) => [r.body.data.id, r.body.data]));
    assert.deepEqual(byId.get('m-small'), { user: 'wh-bob', seq: 1, id: 'm-small', ts: byId.get('m-small')!.ts, size: 13, payload: { text: 'hi' } });
    assert.deepEqual(byId.get('m-big'), { user: 'wh-bob', seq: 2, id: 'm-big', ts: byId.get('m-big')!.ts, too_large: true, size: 111, fetch: '/v1/users/wh-bob/inbox?since=1&limit=1' });
    // The fetch path answers with that push.
    const fetched = await api('GET', String(byId.get('m-big')!.fetch));
    assert.deepEqual((fetched.body as { pushes: Array<{ seq: number; data: unknown }> }).pushes.map((p) => [p.seq, p.data]), [[2, { text: 'x'.repeat(100) }]]);

    // Upstream: a plain send becomes a queued upstream.message; a request is answered with the receiver's response body.
    await alice.client.send('chat.room1', { text: 'hi' });
    await waitFor(() => ofType('upstream.message', (r) => r.body.data.topic === 'chat.room1').length > 0, 10_000, 'upstream.message');
    const up = ofType('upstream.message', (r) => r.body.data.topic === 'chat.room1')[0]!.body.data;
    assert.deepEqual({ user: up.user, device: up.device, topic: up.topic, data: up.data, reply: up.reply }, { user: 'wh-alice', device: 'phone', topic: 'chat.room1', data: { text: 'hi' }, reply: undefined });
    rx.answer = (r) => (r.type === 'upstream.message' && r.body.data.reply === true ? { status: 200, body: JSON.stringify({ echo: r.body.data.data }) } : 200);
    assert.deepEqual(await alice.client.request('chat.echo', { q: 1 }, { timeoutMs: 5000 }), { echo: { q: 1 } });
    rx.answer = () => 200;

    alice.client.close();
    await waitFor(() => ofType('connection.closed').length > 0, 10_000, 'connection.closed');
    const closed = ofType('connection.closed')[0]!.body.data;
    assert.equal(closed.conn, opened.conn);
    assert.equal(closed.code, 1000);
    assert.equal(closed.reason, 'NORMAL');
    assert.deepEqual(rx.rejected, [], 'every delivery verified with the old secret alone');
    assert.ok(rx.received.every((r) => !/session/i.test(JSON.stringify(r.body))), 'no session ids in events');
  });

  it('a router killed while events are queued: every event arrives, duplicates only under the same webhook-id', async () => {
    await rx.stop();
    const before = rx.received.length;
    const N = 30;
    for (let i = 0; i < N / 2; i++) await api('POST', '/v1/push', { user: `wh-off${i % 3}`, data: { i }, id: `k-${i}` });
    // The other half all at once: events of one turn share a queue message (several jobs per message).
    await Promise.all(Array.from({ length: N / 2 }, (_, k) => api('POST', '/v1/push', { user: `wh-off${k % 3}`, data: { i: N / 2 + k }, id: `k-${N / 2 + k}` })));
    await until(async () => (await status()).depth >= N / 2 + 1, 10_000, 'the events queued');
    c!.routers[0]!.proc.kill('SIGKILL');
    await c!.routers[0]!.proc.exited(10_000);
    await c!.startRouter();
    await rx.start();
    await waitFor(() => new Set(ofType('push.offline', (r) => String(r.body.data.id).startsWith('k-') && r.status === 200).map((r) => r.body.data.id)).size === N,
      HORIZON_MS, 'every queued event after the restart', () => String(ofType('push.offline').length));
    const idOf = new Map<string, string>();
    for (const r of rx.received.slice(before).filter((x) => x.type === 'push.offline')) {
      const key = String(r.body.data.id);
      assert.equal(idOf.get(key) ?? r.id, r.id, `${key}: duplicates share one webhook-id`);
      idOf.set(key, r.id);
    }
    assert.equal(new Set(idOf.values()).size, N, 'one webhook-id per event');
  });

  it('a receiver answering 500 then 200 gets the event after a backoff', async () => {
    rx.answer = (r, nth) => (r.type === 'push.offline' && nth === 0 ? 500 : 200);
    await api('POST', '/v1/push', { user: 'wh-carol', data: 1, id: 'retry-1' });
    await waitFor(() => ofType('push.offline', (r) => r.body.data.id === 'retry-1' && r.status === 200).length === 1, 10_000, 'the retry');
    const [first, second] = ofType('push.offline', (r) => r.body.data.id === 'retry-1');
    assert.equal(first!.status, 500);
    assert.equal(first!.id, second!.id);
    assert.ok(second!.at - first!.at >= 100, `backoff of at least half the base delay: ${second!.at - first!.at} ms`);
    rx.answer = () => 200;
  });

  it('a receiver down past the horizon: dead letters counted (API and metrics), then a replay delivers them', async () => {
    rx.answer = (r) => (r.type === 'push.offline' ? 503 : 200);
    const ids = ['d-0', 'd-1', 'd-2'];
    const deadBefore = (await status()).dead;
    for (const id of ids) await api('POST', '/v1/push', { user: 'wh-dave', data: { id }, id });
    await until(async () => (await status()).dead - deadBefore === 3, HORIZON_MS + 15_000, 'three dead letters');
    assert.ok(ofType('push.offline', (r) => ids.includes(String(r.body.data.id))).length >= 6, 'retried before dying');
    // The gauge is refreshed in the background (at most every 2 s): it reaches the count.
    const gauge = new RegExp(`longlink_router_webhook_dead_letters\\{endpoint="backend"\\} ${deadBefore + 3}\\b`);
    await until(async () => gauge.test(await (await fetch(`${c!.routers.at(-1)!.apiUrl}/metrics`)).text()), 10_000, 'the dead-letter gauge');
    const listed = await api('GET', '/v1/webhooks/backend/dead-letters?limit=10');
    const dead = (listed.body as { dead: Array<{ id: string; reason: string; type: string }> }).dead;
    assert.deepEqual(dead.map((d) => d.reason), ['HTTP 503', 'HTTP 503', 'HTTP 503']);
    rx.answer = () => 200;
    const replay = await api('POST', '/v1/webhooks/backend/dead-letters/replay', {});
    assert.deepEqual(replay.body, { endpoint: 'backend', replayed: 3 });
    await until(async () => ofType('push.offline', (r) => ids.includes(String(r.body.data.id)) && r.status === 200).length >= 3, 10_000, 'the replayed events');
    const delivered = ofType('push.offline', (r) => ids.includes(String(r.body.data.id)) && r.status === 200);
    assert.deepEqual(new Set(delivered.map((r) => r.id)), new Set(dead.map((d) => d.id)), 'replays keep their webhook-ids');
    assert.equal((await status()).dead, deadBefore);
    assert.equal((await api('POST', '/v1/webhooks/nope/dead-letters/replay', {})).status, 404);
  });
});

async function until(pred: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
