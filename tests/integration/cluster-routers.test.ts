/**
 * Several stateless routers behind the NATS queue group: pushes for the same
 * users through both routers' APIs at once still reach each app exactly once
 * and in seq order (seq assignment is atomic in Redis; the gateway restores
 * order if the routers publish out of order), and backends can push over NATS.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { decodeMsg, encodeMsg } from '../../services/shared/bus/bus.js';
import { subjects } from '../../services/shared/bus/subjects.js';
import { CLUSTER_API_KEY, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { fleetClient, waitFor, type Recorded } from '../helpers/sdk-clients.js';
import { silent } from '../helpers/log.js';


describe('router replicas', () => {
  let c: Cluster | undefined;
  const fleet: Recorded[] = [];
  after(async () => { for (const r of fleet) r.client.close(); await c?.stop(); });

  it('two routers push concurrently to the same users: exactly once, in order', async () => {
    c = await startCluster({ gateways: 2, routers: 2 });
    const cl = c;
    const users = ['r0', 'r1', 'r2', 'r3'];
    for (const u of users) fleet.push(fleetClient(cl, u));
    await waitFor(() => fleet.every((r) => r.gateways.length > 0), 20_000, 'connected');
    await new Promise((r) => setTimeout(r, 300));
    const per = 150;
    const sendVia = async (apiUrl: string, n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${apiUrl}/v1/push`, {
          method: 'POST',
          headers: { authorization: `Bearer ${CLUSTER_API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ users, data: { i } }),
        });
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
    };
    await Promise.all([sendVia(cl.routers[0]!.apiUrl, per), sendVia(cl.routers[1]!.apiUrl, per), sendVia(cl.routers[0]!.apiUrl, per), sendVia(cl.routers[1]!.apiUrl, per)]);
    const total = per * 4;
    await waitFor(() => fleet.every((r) => r.seqs.length >= total), 30_000, 'all pushes received', () => fleet.map((r) => r.seqs.length).join(','));
    for (const r of fleet) {
      assert.equal(r.seqs.length, total, `${r.user}: exactly once`);
      assert.deepEqual(r.seqs, Array.from({ length: total }, (_, i) => i + 1), `${r.user}: every seq, in order`);
    }
  });

  it('a backend pushes over NATS (request to the routers\' queue group)', async () => {
    const cl = c!;
    const bus = await connectNatsBus({ servers: cl.nats.urls, name: 'test-backend', log: silent });
    try {
      const before = fleet[0]!.seqs.length;
      const reply = await bus.request(subjects().push, encodeMsg({ users: ['r0'], data: { via: 'nats' } }), { timeoutMs: 5000 });
      const out = decodeMsg<{ results: Array<{ user: string; status: string; seq: number }> }>(reply.data);
      assert.equal(out?.results[0]?.status, 'sent');
      await waitFor(() => fleet[0]!.seqs.length === before + 1, 10_000, 'push via NATS received');
    } finally {
      await bus.close();
    }
  });
});
