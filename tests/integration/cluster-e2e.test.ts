/**
 * End to end on real processes: 2 gateways, 1 router, real NATS and Redis,
 * 200 SDK clients behind a balancer, 10,000 pushes to random users (some
 * offline, some reconnecting), one gateway killed with SIGKILL mid-run.
 * Every accepted push reaches its user's app exactly once, in seq order;
 * the dead gateway's presence stops routing within the lease.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { fleetClient, waitFor, type Recorded } from '../helpers/sdk-clients.js';

const ONLINE = 200;
const OFFLINE = 40;
const PUSHES = 10_000;
const KILL_AT = 3_000;

describe('cluster end-to-end', () => {
  let c: Cluster | undefined;
  const fleet: Recorded[] = [];
  after(async () => {
    for (const r of fleet) r.client.close();
    await c?.stop();
  });

  it('delivers 10,000 pushes exactly once and in order through a gateway crash', async () => {
    c = await startCluster({ gateways: 2 });
    const cluster = c;
    for (let i = 0; i < ONLINE; i++) fleet.push(fleetClient(cluster, `u${i}`));
    await waitFor(() => fleet.every((r) => r.gateways.length > 0), 60_000, 'all clients connected');
    const onGw0 = fleet.filter((r) => r.gateways[0] === 'gw0');
    assert.ok(onGw0.length > 20 && onGw0.length < ONLINE - 20, `balancer spread clients (${onGw0.length} on gw0)`);

    const accepted = new Map<string, number[]>();
    let next = 0;
    let killed = false;
    let rejected = 0;
    const users = ONLINE + OFFLINE;
    const worker = async (): Promise<void> => {
      while (next < PUSHES) {
        const i = next++;
        if (i === KILL_AT && !killed) {
          killed = true;
          await cluster.killGateway(0);
        }
        if (i % 500 === 250) {
          // Some clients drop and come back (resume with their last seq).
          const r = fleet[(i * 7) % ONLINE]!;
          r.client.close();
          setTimeout(() => r.client.connect(), 100 + (i % 300));
        }
        const user = `u${(i * 7919) % users}`;
        const res = await cluster.push([user], { i });
        if (res.status !== 200) { rejected++; continue; }
        const result = (res.body as { results: Array<{ user: string; seq: number }> }).results[0]!;
        const list = accepted.get(user) ?? [];
        list.push(result.seq);
        accepted.set(user, list);
      }
    };
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 16 }, worker));
    const pushMs = Date.now() - t0;
    assert.equal(rejected, 0, 'every push accepted (the router and Redis never went away)');

    // The offline users come online now and must get their whole inbox.
    for (let i = ONLINE; i < users; i++) fleet.push(fleetClient(cluster, `u${i}`));
    const expected = (r: Recorded): number[] => [...(accepted.get(r.user) ?? [])].sort((a, b) => a - b);
    await waitFor(
      () => fleet.every((r) => r.seqs.length >= expected(r).length),
      90_000, 'every push received',
      () => fleet.filter((r) => r.seqs.length < expected(r).length).slice(0, 5).map((r) => `${r.user}: ${r.seqs.length}/${expected(r).length}`).join(', '),
    );
    await new Promise((r) => setTimeout(r, 500)); // anything extra (a duplicate) would show up now
    let total = 0;
    for (const r of fleet) {
      assert.deepEqual(r.seqs, expected(r), `${r.user}: exactly once, in seq order`);
      total += r.seqs.length;
    }
    assert.equal(total, PUSHES);

    // The killed gateway's clients moved to the survivor and resumed.
    for (const r of onGw0) {
      assert.ok(r.gateways.includes('gw1'), `${r.user} reconnected to gw1 (${r.gateways.join(',')})`);
      assert.equal(r.resumed.at(-1), true, `${r.user} resumed its session`);
    }
    // Within the lease (2 s in this cluster) the dead gateway no longer routes.
    const deadline = Date.now() + 5_000;
    let stale = -1;
    while (Date.now() < deadline) {
      const view = await cluster.api('GET', '/v1/cluster');
      const gws = (view.body as { gateways: Array<{ gateway: string }> }).gateways.map((g) => g.gateway);
      const p = await cluster.api('GET', `/v1/presence/${onGw0[0]!.user}`);
      stale = (p.body as { connections: Array<{ gateway: string }> }).connections.filter((x) => x.gateway === 'gw0').length;
      if (!gws.includes('gw0') && stale === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(stale, 0, 'no presence entry of the dead gateway');
    console.log(`# e2e: ${PUSHES} pushes in ${pushMs} ms (${Math.round(PUSHES / (pushMs / 1000))}/s via HTTP, 16 concurrent), ${onGw0.length} clients moved from the killed gateway`);
  });
});
