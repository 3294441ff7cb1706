/**
 * Channel recovery past the history reply bound, end to end with real
 * WebSocket clients: on a cluster (NATS + Redis history) and in standalone
 * mode (memory history). A client leaves, 6.4 MB (25 x the 256 KiB reply
 * bound) is published to its channel, and it comes back with
 * `recover=1`: it is told `recovered:true` and gets every message it missed,
 * in offset order, once each; messages published while the gateway pages
 * through the history arrive after them, in order. On the previous code
 * the answer was `recovered:false` and none of the missed messages.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { mintToken } from '../../services/standalone/dev-token.js';
import type { Standalone } from '../../services/standalone/app.js';
import { apiCall } from '../../infra/local/api-call.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import { start } from '../helpers/standalone.js';
import type { PubFrame, SubscribedFrame } from '../../protocol/index.js';
import { createClient } from '../../sdk/src/node.js';
import type { ChannelMessage, ChannelReset } from '../../sdk/src/index.js';

const CHANNEL = 'room:paged';
const MISSED = 400;
const PAD = 'x'.repeat(16_000); // 400 x ~16 KB: 6.4 MB missed, 25 x the reply bound
const LIVE = 30;

interface Env {
  gatewayUrl: string;
  token(user: string): Promise<string>;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}

const pubs = (c: TestClient): PubFrame[] => c.frames.filter((f): f is PubFrame => f.op === 'pub' && f.channel === CHANNEL);
const subscribedFrames = (c: TestClient): SubscribedFrame[] => c.frames.filter((f): f is SubscribedFrame => f.op === 'subscribed' && f.channel === CHANNEL);

async function scenario(env: Env, clients: TestClient[]): Promise<void> {
  const publish = async (data: unknown): Promise<number> => {
    const r = await env.api('POST', '/v1/publish', { channel: CHANNEL, data });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body as { offset: number }).offset;
  };
  const open = async (query: Record<string, string>): Promise<TestClient> => {
    const c = await mustConnect(env.gatewayUrl, { token: await env.token('pager'), query });
    clients.push(c);
    return c;
  };
  // A client follows the channel, gets offset 1, and goes away.
  const a = await open({ channels: '1' });
  await a.until(() => subscribedFrames(a)[0], 10_000, 'subscribed');
  const epoch = subscribedFrames(a)[0]!.epoch;
  const base = await publish({ i: 0 });
  await a.until(() => pubs(a).length === 1, 10_000, 'first message');
  a.close();
  for (let i = 1; i <= MISSED; i++) await publish({ i, pad: PAD });
  // It comes back asking for what it missed; messages keep being published meanwhile.
  const b = await open({ recover: '1' });
  const arrivedAt = new Map<number, number>();
  b.ws.on('message', () => { const p = pubs(b).at(-1); if (p !== undefined && !arrivedAt.has(p.offset)) arrivedAt.set(p.offset, Date.now()); });
  await b.frame('hello', 0, 10_000);
  b.send(JSON.stringify({ op: 'recover', channels: [{ channel: CHANNEL, offset: base, epoch }] }));
  const liveAccepted: number[] = [];
  const live = (async () => {
    for (let i = 1; i <= LIVE; i++) { await publish({ live: i }); liveAccepted.push(Date.now()); }
  })();
  await live;
  const total = MISSED + LIVE;
  await b.until(() => pubs(b).length >= total, 30_000, `${total} messages`);
  await new Promise((r) => setTimeout(r, 200)); // nothing more (no duplicates) arrives
  assert.deepEqual(subscribedFrames(b), [{ op: 'subscribed', channel: CHANNEL, offset: subscribedFrames(b)[0]!.offset, epoch, recovered: true }], 'recovered, told once');
  const got = pubs(b);
  assert.equal(got.length, total, 'each once');
  assert.deepEqual(got.map((p) => p.offset), Array.from({ length: total }, (_, i) => base + 1 + i), 'in offset order, none missing');
  assert.ok(got.every((p) => p.epoch === epoch));
  assert.deepEqual(got.slice(0, MISSED).map((p) => (p.data as { i: number }).i), Array.from({ length: MISSED }, (_, i) => i + 1));
  assert.deepEqual(got.slice(MISSED).map((p) => (p.data as { live: number }).live), Array.from({ length: LIVE }, (_, i) => i + 1), 'live ones after the replay, in order');
  // Some live publishes were accepted before the replay of the missed ones ended: they were held behind it.
  const replayEnded = arrivedAt.get(base + MISSED)!;
  assert.ok(liveAccepted[0]! < replayEnded, `a live publish (${liveAccepted[0]! - replayEnded} ms) before the last missed message arrived`);
  assert.equal(b.closed, undefined, 'the connection stayed (paced by its send buffer)');
  await publish({ after: true });
  await b.until(() => pubs(b).length === total + 1, 10_000, 'live after the recovery');
}

describe('channel recovery in pages', () => {
  describe('cluster (NATS + Redis history)', () => {
    let c: Cluster;
    const clients: TestClient[] = [];
    before(async () => {
      c = await startCluster({ gateways: 1, routers: 1, routerEnv: { LONGLINK_CHANNEL_HISTORY_SIZE: '1000' } });
    });
    after(async () => {
      for (const x of clients) x.close();
      await c?.stop();
    });
    it('a client away while 6.4 MB was published recovers all of it in order, once, recovered:true; live ones follow', async () => {
      await scenario({
        gatewayUrl: c.gateways[0]!.url,
        token: (user) => mintToken(CLUSTER_SECRET, user, { ttlSeconds: 3600, channels: [CHANNEL] }),
        api: (method, path, body) => apiCall(c.routers[0]!.apiUrl, CLUSTER_API_KEY, method, path, body),
      }, clients);
    });
  });

  describe('standalone (memory history)', () => {
    let s: Standalone;
    const clients: TestClient[] = [];
    before(async () => {
      s = await start({ LONGLINK_CHANNEL_HISTORY_SIZE: '1000' });
    });
    after(async () => {
      for (const x of clients) x.close();
      await s?.close();
    });
    it('the same with the memory history', async () => {
      await scenario({
        gatewayUrl: s.gatewayUrl,
        token: (user) => s.mintToken(user, { channels: [CHANNEL] }),
        api: (method, path, body) => apiCall(s.apiUrl, s.apiKey, method, path, body),
      }, clients);
    });

    it('the SDK, unchanged, reconnects and recovers 1.6 MB it missed: recovered, every message once in order, no reset', async () => {
      const channel = 'room:sdkpaged';
      const c = createClient({ url: s.gatewayUrl, device: 'd1', token: () => s.mintToken('sdk-pager', { device: 'd1', channels: [channel] }), backoff: { baseMs: 50, capMs: 200 } });
      const got: ChannelMessage[] = [];
      const resets: ChannelReset[] = [];
      const recovered: Array<boolean | undefined> = [];
      c.channel(channel, (m) => got.push(m));
      c.on('channelReset', (r) => resets.push(r));
      c.on('subscribed', (f) => { if (f.channel === channel) recovered.push(f.recovered); });
      try {
        c.connect();
        const publish = async (data: unknown): Promise<void> => { assert.equal((await apiCall(s.apiUrl, s.apiKey, 'POST', '/v1/publish', { channel, data })).status, 200); };
        const until = async (cond: () => boolean, what: string): Promise<void> => {
          for (const end = Date.now() + 20_000; !cond();) {
            if (Date.now() > end) throw new Error(`timed out waiting for ${what} (${got.length} messages)`);
            await new Promise((r) => setTimeout(r, 20));
          }
        };
        await until(() => c.channels.includes(channel), 'subscribed');
        await publish({ i: 1 });
        await until(() => got.length === 1, 'the first message');
        c.close();
        for (let i = 2; i <= 101; i++) await publish({ i, pad: PAD });
        c.connect();
        await until(() => got.length === 101, 'the missed 100');
        assert.deepEqual(got.map((m) => [m.offset, (m.data as { i: number }).i]), Array.from({ length: 101 }, (_, i) => [i + 1, i + 1]));
        assert.deepEqual(recovered, [undefined, true]);
        assert.deepEqual(resets, [], 'nothing to refetch');
      } finally {
        c.close();
      }
    });
  });
});
