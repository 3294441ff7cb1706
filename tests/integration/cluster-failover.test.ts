/**
 * Failure behaviour of the cluster on real processes: Redis going away and
 * coming back (with AOF, nothing stored or acked is lost; away longer than
 * the presence lease, connected clients are re-announced), a NATS node dying
 * under a 3-node cluster, and NATS briefly away (presence catches up: no
 * ghost, no missing online user).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { fleetClient, waitFor, type Recorded } from '../helpers/sdk-clients.js';

type PresenceBody = { online: boolean; connections: Array<{ gateway: string; device: string }> };

describe('cluster failure behaviour', () => {
  const clusters: Cluster[] = [];
  const fleet: Recorded[] = [];
  after(async () => {
    for (const r of fleet) r.client.close();
    for (const c of clusters) await c.stop();
  });

  it('Redis stopped: the push API answers 503 fast; Redis back: it recovers; with AOF nothing stored or acked is lost', async () => {
    const c = await startCluster({ gateways: 1, redisAof: true });
    clusters.push(c);
    for (let i = 1; i <= 3; i++) assert.equal((await c.push(['offline-bob'], { n: i })).status, 200);
    const alice = fleetClient(c, 'alice');
    fleet.push(alice);
    await waitFor(() => alice.gateways.length > 0, 20_000, 'alice connected');
    assert.equal((await c.push(['alice'], { n: 1 })).status, 200);
    await waitFor(() => alice.seqs.length === 1, 10_000, 'alice got her push');
    await new Promise((r) => setTimeout(r, 400)); // her ack is batched, forwarded and applied

    await c.redis.kill();
    const t0 = Date.now();
    const down = await c.push(['alice'], { n: 2 });
    const tookMs = Date.now() - t0;
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.match(JSON.stringify(down.body), /LL_STORE_UNAVAILABLE/);
    assert.ok(tookMs < 5000, `answered in ${tookMs} ms, not a hang`);

    await c.redis.restart();
    let status = 0;
    const poll = async (): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && status !== 200) {
        status = (await c.push(['alice'], { n: 3 })).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 250));
      }
    };
    await poll();
    assert.equal(status, 200);
    await waitFor(() => alice.seqs.length === 2, 10_000, 'alice got the push after recovery');
    assert.deepEqual(alice.seqs, [1, 2], 'seq continues after the restart (no reuse)');

    const bob = fleetClient(c, 'offline-bob');
    fleet.push(bob);
    await waitFor(() => bob.seqs.length === 3, 15_000, 'bob got his stored inbox', () => JSON.stringify(bob.seqs));
    assert.deepEqual(bob.seqs, [1, 2, 3]);
  });

  it('Redis away longer than the presence lease: a client that stayed connected gets live pushes again, without reconnecting', async () => {
    const c = await startCluster({ gateways: 1, redisAof: true });
    clusters.push(c);
    const carol = fleetClient(c, 'carol');
    fleet.push(carol);
    await waitFor(() => carol.gateways.length > 0, 20_000, 'carol connected');
    assert.equal((await c.push(['carol'], { n: 1 })).status, 200);
    await waitFor(() => carol.seqs.length === 1, 10_000, 'carol got her push');
    await c.redis.kill();
    // Beacons fail while Redis is away: once it is back, the gateway's lease has lapsed and its entries are dropped.
    await new Promise((r) => setTimeout(r, 3000)); // > the 2 s lease
    await c.redis.restart();
    // The first beacon after the return re-registers the gateway; the router asks it to re-announce.
    const deadline = Date.now() + 20_000;
    let sent = 0;
    while (Date.now() < deadline && carol.seqs.length < 2) {
      if ((await c.push(['carol'], { n: 'after' })).status === 200) sent++;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(carol.seqs.length >= 2, `a push reached carol live after Redis returned (${sent} accepted)`);
    assert.equal(carol.gateways.length, 1, 'on the connection she kept through the outage');
    // Pushes stored while the directory had no entry for her come through the gap repair, in order.
    await waitFor(() => carol.seqs.length >= sent + 1, 10_000, 'every accepted push', () => JSON.stringify(carol.seqs));
    assert.deepEqual(carol.seqs, Array.from({ length: carol.seqs.length }, (_, i) => i + 1), 'all of them, in order, none twice');
  });

  it('a NATS node dies under a 3-node cluster: gateways and routers reconnect and delivery continues', async () => {
    const c = await startCluster({ gateways: 2, natsNodes: 3 });
    clusters.push(c);
    const users = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
    const rs = users.map((u) => fleetClient(c, u));
    fleet.push(...rs);
    await waitFor(() => rs.every((r) => r.gateways.length > 0), 20_000, 'clients connected');
    const before = await Promise.all(users.map((u) => c.push([u], { phase: 'before' })));
    assert.ok(before.every((b) => b.status === 200));
    await waitFor(() => rs.every((r) => r.seqs.length === 1), 10_000, 'pushes before the kill');
    // Kill the node with the most client connections (gateways and the router sit on it).
    const conns = await Promise.all([0, 1, 2].map((i) => c.nats.monitor<{ num_connections: number }>(i, 'connz').then((z) => z.num_connections)));
    const victim = conns.indexOf(Math.max(...conns));
    await c.nats.kill(victim);
    // Delivery continues: push to each user until a push sent after the kill has arrived.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !rs.every((r) => r.seqs.length >= 2)) {
      for (const r of rs) if (r.seqs.length < 2) await c.push([r.user], { phase: 'after' });
      await new Promise((res) => setTimeout(res, 500));
    }
    assert.ok(rs.every((r) => r.seqs.length >= 2), `delivery after the NATS node died: ${rs.map((r) => r.seqs.length).join(',')}`);
    for (const r of rs) {
      assert.equal(new Set(r.seqs).size, r.seqs.length, 'no duplicates to the app');
      assert.deepEqual(r.seqs, [...r.seqs].sort((a, b) => a - b), 'in order');
    }
  });

  it('NATS briefly away (longer than the presence lease): presence catches up, no ghost and no missing online user', async () => {
    const c = await startCluster({ gateways: 1 });
    clusters.push(c);
    const stay = fleetClient(c, 'stays');
    const leave = fleetClient(c, 'leaves');
    fleet.push(stay, leave);
    await waitFor(() => stay.gateways.length > 0 && leave.gateways.length > 0, 20_000, 'connected');
    const online = async (u: string): Promise<boolean> => ((await c.api('GET', `/v1/presence/${u}`)).body as PresenceBody).online;
    const readyz = async (): Promise<{ status: number; body: string }> => {
      const r = await fetch(`${c.gateways[0]!.httpUrl}/readyz`);
      return { status: r.status, body: await r.text() };
    };
    assert.equal((await readyz()).status, 200);
    await c.nats.kill(0);
    // The gateway keeps its sockets and heartbeats but reports degraded so no new traffic is sent to it.
    let rz = await readyz();
    for (let i = 0; i < 40 && rz.status !== 503; i++) { await new Promise((r) => setTimeout(r, 100)); rz = await readyz(); }
    assert.deepEqual(rz, { status: 503, body: '{"status":"degraded"}' });
    leave.client.close(); // its offline event is published while NATS is away
    const arrive = fleetClient(c, 'arrives'); // cannot finish its handshake until NATS is back
    fleet.push(arrive);
    await new Promise((r) => setTimeout(r, 3000)); // > the 2 s lease: routers would expire the gateway
    await c.nats.restart(0);
    await waitFor(() => arrive.gateways.length > 0, 30_000, 'the new client connected after NATS came back');
    let state = { stays: false, leaves: true, arrives: false };
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      state = { stays: await online('stays'), leaves: await online('leaves'), arrives: await online('arrives') };
      if (state.stays && !state.leaves && state.arrives) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(state, { stays: true, leaves: false, arrives: true });
    assert.equal((await readyz()).status, 200, 'ready again once NATS is back');
    assert.equal(stay.gateways.length, 1, 'the client that stayed kept its connection through the outage');
    assert.equal((await c.push(['stays'], { after: 'outage' })).status, 200);
    await waitFor(() => stay.seqs.length === 1, 10_000, 'the user who stayed connected still gets pushes');
  });
});
