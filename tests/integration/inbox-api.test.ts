/**
 * The inbox API on the cluster's stores (real Redis behind a router process):
 * what pushes to an offline user left in the inbox, paged with since/limit,
 * byte-for-byte the data that was pushed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';

type View = { user: string; latestSeq: number; pushes: Array<{ seq: number; id: string; ts: number; data: unknown }>; more: boolean };

describe('GET /v1/users/:user/inbox in cluster mode (Redis)', () => {
  let c: Cluster;
  before(async () => { c = await startCluster({ gateways: 0, routers: 1 }); });
  after(async () => { await c?.stop(); });

  it('pages through what the inbox holds', async () => {
    const user = 'hist_ü';
    const sent: unknown[] = [];
    for (let i = 1; i <= 7; i++) {
      const data = { i, nested: { list: [i, 'x'.repeat(i)] }, s: 'q"\\' };
      sent.push(data);
      const r = await c.api('POST', '/v1/push', { user, data, id: `h${i}` });
      assert.equal((r.body as { results: Array<{ status: string }> }).results[0]!.status, 'offline');
    }
    const path = (q: string) => `/v1/users/${encodeURIComponent(user)}/inbox${q}`;
    const first = await c.api('GET', path('?limit=3'));
    assert.equal(first.status, 200);
    const a = first.body as View;
    assert.deepEqual([a.user, a.latestSeq, a.more, a.pushes.map((p) => p.id)], [user, 7, true, ['h1', 'h2', 'h3']]);
    const b = (await c.api('GET', path(`?since=${a.pushes.at(-1)!.seq}&limit=10`))).body as View;
    assert.deepEqual([b.more, b.pushes.map((p) => p.seq)], [false, [4, 5, 6, 7]]);
    assert.deepEqual([...a.pushes, ...b.pushes].map((p) => p.data), sent);
    const bad = await c.api('GET', path('?limit=9999'));
    assert.equal(bad.status, 400);
    assert.equal((bad.body as { error: { code: string } }).error.code, 'LL_API_VALIDATION');
  });
});
