/**
 * Memory held by channel recovery for clients that do not read, end to end
 * (standalone gateway, real WebSocket clients): a connection recovering 64
 * channels whose socket stops reading holds at most PAGES_PER_CONNECTION (4)
 * history pages in the gateway, not one per channel. Each channel's first
 * page comes with its join whatever the socket's state; on the previous code
 * every one stayed held until the socket drained (56-64 per connection here;
 * on a cluster, 20 such connections raised the gateway's RSS by ~410 MB for
 * as long as they kept their send buffers full). Once the clients read again
 * each gets every missed message of every channel, in order, once, then live
 * ones: a page let go is read again from where the client is.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Standalone } from '../../services/standalone/app.js';
import { apiCall } from '../../infra/local/api-call.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import { start, sleep } from '../helpers/standalone.js';
import type { PubFrame, SubscribedFrame } from '../../protocol/index.js';
import { PAGES_PER_CONNECTION } from '../../services/gateway/core/channel-pager.js';

const CHANNELS = Array.from({ length: 64 }, (_, i) => `room:held${i}`);
const MISSED = 8;
const PAD = 'x'.repeat(60_000); // 8 x ~60 KB a channel: two history pages each (256 KiB reply bound)
const CLIENTS = 4;

interface HeldCatchUp { fromRing: boolean; next: number; page: unknown[] }

/** Catch-ups holding a history page not yet written to their socket, by connection (the pager's own state). */
function heldPages(s: Standalone): number[] {
  const pager = (s.gateway.core.channels as unknown as { pager: { byConn: Map<unknown, Set<HeldCatchUp>> } }).pager;
  return [...pager.byConn.values()].map((set) => [...set].filter((cu) => !cu.fromRing && cu.next < cu.page.length).length);
}

describe('channel recovery: clients that stop reading', () => {
  let s: Standalone;
  const clients: TestClient[] = [];
  before(async () => { s = await start({ LONGLINK_WRITE_TIMEOUT_MS: '60000' }); });
  after(async () => {
    for (const x of clients) x.close();
    await s?.close();
  });

  it('hold at most 4 history pages per connection; every missed message still arrives once, in order, when they read', async () => {
    const publish = async (channel: string, data: unknown): Promise<number> => {
      const r = await apiCall(s.apiUrl, s.apiKey, 'POST', '/v1/publish', { channel, data });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (r.body as { offset: number }).offset;
    };
    const probe = await mustConnect(s.gatewayUrl, { token: await s.mintToken('probe', { channels: CHANNELS }), query: { channels: '1' } });
    clients.push(probe);
    await probe.until(() => probe.frames.filter((f) => f.op === 'subscribed').length === CHANNELS.length + 1, 10_000, 'subscribed');
    const epochs = new Map(probe.frames.filter((f): f is SubscribedFrame => f.op === 'subscribed').map((f) => [f.channel, f.epoch]));
    probe.close();
    await Promise.all(CHANNELS.map(async (ch) => { for (let i = 1; i <= MISSED; i++) await publish(ch, { i, pad: PAD }); }));

    const sockets: Array<{ pause(): void; resume(): void }> = [];
    for (let k = 0; k < CLIENTS; k++) {
      const x = await mustConnect(s.gatewayUrl, { token: await s.mintToken(`held${k}`, { channels: CHANNELS }), query: { recover: '1' } });
      clients.push(x);
      await x.frame('hello', 0, 5000);
      x.send(JSON.stringify({ op: 'recover', channels: CHANNELS.map((channel) => ({ channel, offset: 0, epoch: epochs.get(channel)! })) }));
      const sock = (x.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      sock.pause(); // reads nothing more: the kernel's buffers fill, then the gateway's send buffer
      sockets.push(sock);
    }
    const joined = (): number => s.gateway.core.channels!.stats.joins.get('recovered') ?? 0;
    for (const end = Date.now() + 20_000; joined() < CLIENTS * CHANNELS.length;) {
      assert.ok(Date.now() < end, `${joined()} recovering joins answered`);
      await sleep(50);
    }
    await sleep(500);
    const held = heldPages(s);
    assert.ok(held.length > 0, 'the clients are still being caught up');
    assert.ok(held.every((n) => n <= PAGES_PER_CONNECTION), `history pages held per connection: ${held.join(', ')}`);

    for (const sock of sockets) sock.resume();
    const recovered = clients.slice(1);
    const pubsOf = (x: TestClient, ch: string): PubFrame[] => x.frames.filter((f): f is PubFrame => f.op === 'pub' && f.channel === ch);
    for (const x of recovered) await x.until(() => CHANNELS.every((ch) => pubsOf(x, ch).length >= MISSED), 60_000, 'every missed message');
    const live = await Promise.all(CHANNELS.map((ch) => publish(ch, { live: true })));
    for (const x of recovered) await x.until(() => CHANNELS.every((ch) => pubsOf(x, ch).length >= MISSED + 1), 10_000, 'live messages');
    await sleep(200);
    for (const x of recovered) {
      assert.equal(x.closed, undefined);
      for (const [j, ch] of CHANNELS.entries()) {
        assert.deepEqual(pubsOf(x, ch).map((p) => p.offset), [...Array.from({ length: MISSED }, (_, i) => i + 1), live[j]], `${ch}: in order, once`);
        const told = x.frames.filter((f): f is SubscribedFrame => f.op === 'subscribed' && f.channel === ch);
        assert.deepEqual(told.map((f) => f.recovered), [true], `${ch}: recovered, told once`);
      }
    }
  });
});
