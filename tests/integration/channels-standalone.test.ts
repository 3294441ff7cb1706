/**
 * Channels in standalone mode (real uWS gateway, memory bus and history):
 * token-claim subscriptions, publish and broadcast, API (un)subscribe,
 * recovery on resume (covered and not), subscriber counts and every limit's
 * documented code.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Standalone } from '../../services/standalone/app.js';
import { apiCall } from '../../infra/local/api-call.js';
import { mustConnect, connect, type TestClient } from '../helpers/client.js';
import { start } from '../helpers/standalone.js';
import type { PubFrame, SubscribedFrame } from '../../protocol/index.js';

const pubs = (c: TestClient, channel: string): PubFrame[] => c.frames.filter((f): f is PubFrame => f.op === 'pub' && f.channel === channel);
const subscribed = (c: TestClient, channel: string): SubscribedFrame | undefined => c.frames.find((f): f is SubscribedFrame => f.op === 'subscribed' && f.channel === channel);

describe('channels (standalone)', () => {
  let s: Standalone;
  const clients: TestClient[] = [];
  const api = (method: string, path: string, body?: unknown) => apiCall(s.apiUrl, s.apiKey, method, path, body);
  const open = async (user: string, channels?: string[], query?: Record<string, string>): Promise<TestClient> => {
    const c = await mustConnect(s.gatewayUrl, { token: await s.mintToken(user, channels ? { channels } : {}), query: query ?? { channels: '1' } });
    clients.push(c);
    return c;
  };
  before(async () => {
    s = await start({ LONGLINK_MAX_CHANNELS_PER_CONNECTION: '3', LONGLINK_CHANNEL_HISTORY_SIZE: '5', LONGLINK_MAX_PUBLISH_BYTES: '1000', LONGLINK_PUBLISH_RATE: '20', LONGLINK_PUBLISH_BURST: '80' });
  });
  after(async () => {
    for (const c of clients) c.close();
    await s.close();
  });

  it('a token channel receives publishes in offset order; others do not; broadcast reaches everyone', async () => {
    const a = await open('alice', ['room:1']);
    const b = await open('bob', ['room:2']);
    await a.until(() => subscribed(a, 'room:1'), 5000, 'subscribed room:1');
    await b.until(() => subscribed(b, '$all'), 5000, 'subscribed $all');
    const first = subscribed(a, 'room:1')!;
    assert.equal(first.offset, 0);
    for (let i = 1; i <= 3; i++) {
      const r = await api('POST', '/v1/publish', { channel: 'room:1', data: { i } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual((r.body as { offset: number }).offset, i);
    }
    await a.until(() => pubs(a, 'room:1').length === 3, 5000, '3 pubs');
    assert.deepEqual(pubs(a, 'room:1').map((p) => [p.offset, p.epoch, (p.data as { i: number }).i]), [1, 2, 3].map((i) => [i, first.epoch, i]));
    const r = await api('POST', '/v1/broadcast', { data: 'hello all', id: 'b1' });
    assert.equal(r.status, 200);
    for (const c of [a, b]) await c.until(() => pubs(c, '$all').length === 1, 5000, 'broadcast');
    assert.equal(pubs(b, 'room:1').length, 0, 'bob is not in room:1');
    assert.equal(pubs(a, '$all')[0]!.id, 'b1');
  });

  it('a client that does not say channels=1 gets no channel frame, even with a channels claim', async () => {
    const old = await mustConnect(s.gatewayUrl, { token: await s.mintToken('olga', { channels: ['room:1'] }) });
    clients.push(old);
    await old.frame('hello');
    const r = await api('POST', '/v1/subscribe', { user: 'olga', channels: ['room:9'] });
    assert.deepEqual(r.body, { gateways: 1, connections: 1 }, 'the connection is online; the gateway skips it');
    await api('POST', '/v1/publish', { channel: 'room:1', data: 'x' });
    await api('POST', '/v1/broadcast', { data: 'y' });
    await new Promise((res) => setTimeout(res, 300));
    assert.deepEqual(old.frames.map((f) => f.op), ['hello']);
    assert.equal(old.closed, undefined);
  });

  it('API subscribe and unsubscribe reach live connections; counts follow', async () => {
    const c = await open('carol');
    await c.until(() => subscribed(c, '$all'));
    const r = await api('POST', '/v1/subscribe', { user: 'carol', channels: ['news.eu'] });
    assert.deepEqual(r.body, { gateways: 1, connections: 1 });
    await c.until(() => subscribed(c, 'news.eu'), 5000, 'subscribed news.eu');
    assert.deepEqual((await api('GET', '/v1/channels/news.eu')).body, { channel: 'news.eu', subscribers: 1, gateways: 1, answered: 1 });
    await api('POST', '/v1/publish', { channel: 'news.eu', data: 1 });
    await c.until(() => pubs(c, 'news.eu').length === 1);
    await api('POST', '/v1/unsubscribe', { user: 'carol', channels: ['news.eu'] });
    await c.until(() => c.frames.some((f) => f.op === 'unsubscribed' && f.channel === 'news.eu'), 5000, 'unsubscribed');
    await api('POST', '/v1/publish', { channel: 'news.eu', data: 2 });
    await api('POST', '/v1/broadcast', { data: 'marker' });
    await c.until(() => pubs(c, '$all').some((p) => p.data === 'marker'));
    assert.equal(pubs(c, 'news.eu').length, 1, 'nothing after the unsubscribe');
    assert.equal(((await api('GET', '/v1/channels/news.eu')).body as { subscribers: number }).subscribers, 0, 'the count follows the unsubscribe');
  });

  it('resume with recover=1 gets what it missed; past the history it is told recovered:false', async () => {
    const d = await open('dave', ['room:r']);
    const sub = await d.until(() => subscribed(d, 'room:r'));
    await api('POST', '/v1/publish', { channel: 'room:r', data: 1 });
    await d.until(() => pubs(d, 'room:r').length === 1);
    d.close();
    for (let i = 2; i <= 4; i++) await api('POST', '/v1/publish', { channel: 'room:r', data: i });
    const d2 = await open('dave', ['room:r'], { recover: '1' });
    await d2.frame('hello');
    d2.send(JSON.stringify({ op: 'recover', channels: [{ channel: 'room:r', offset: 1, epoch: sub.epoch }] }));
    await d2.until(() => pubs(d2, 'room:r').length === 3, 5000, 'recovered pubs');
    assert.equal(subscribed(d2, 'room:r')!.recovered, true);
    assert.deepEqual(pubs(d2, 'room:r').map((p) => p.data), [2, 3, 4]);
    await api('POST', '/v1/publish', { channel: 'room:r', data: 5 });
    await d2.until(() => pubs(d2, 'room:r').length === 4, 5000, 'live after recovery');
    d2.close();
    for (let i = 6; i <= 12; i++) await api('POST', '/v1/publish', { channel: 'room:r', data: i });
    const d3 = await open('dave', ['room:r'], { recover: '1' });
    await d3.frame('hello');
    d3.send(JSON.stringify({ op: 'recover', channels: [{ channel: 'room:r', offset: 5, epoch: sub.epoch }] }));
    const s3 = await d3.until(() => subscribed(d3, 'room:r'));
    assert.deepEqual({ recovered: s3.recovered, offset: s3.offset }, { recovered: false, offset: 12 }, 'history holds 5: offsets 6 and 7 are gone');
    assert.equal(pubs(d3, 'room:r').length, 0, 'nothing partial');
  });

  it('limits refuse with their documented codes', async () => {
    const tooMany = await connect(s.gatewayUrl, { token: await s.mintToken('erin', { channels: ['a', 'b', 'c', 'd'] }) });
    assert.equal(tooMany.ok, false);
    if (!tooMany.ok) { assert.equal(tooMany.status, 400); assert.match(tooMany.body, /LL_CHANNEL_LIMIT/); }
    const e = await open('erin', ['a', 'b', 'c']);
    await e.until(() => subscribed(e, 'c'));
    await api('POST', '/v1/subscribe', { user: 'erin', channels: ['d'] });
    const refused = await e.until(() => e.frames.find((f) => f.op === 'unsubscribed' && f.channel === 'd'));
    assert.deepEqual(refused, { op: 'unsubscribed', channel: 'd', error: 'LL_CHANNEL_LIMIT' });
    const big = await api('POST', '/v1/publish', { channel: 'a', data: 'x'.repeat(2000) });
    assert.equal(big.status, 413);
    assert.equal((big.body as { error: { code: string } }).error.code, 'LL_PUBLISH_TOO_LARGE');
    const bad = await api('POST', '/v1/publish', { channel: 'bad channel', data: 1 });
    assert.equal(bad.status, 400);
    const results = await Promise.all(Array.from({ length: 200 }, () => api('POST', '/v1/publish', { channel: 'a', data: 1 })));
    const limited = results.filter((r) => r.status === 429);
    assert.ok(limited.length > 0, 'some publishes over the burst were refused');
    assert.equal((limited[0]!.body as { error: { code: string } }).error.code, 'LL_PUBLISH_RATE');
  });
});
