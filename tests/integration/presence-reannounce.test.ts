/**
 * The presence directory converges after repeated Redis stalls, each longer
 * than the presence lease plus the routers' Redis command timeout (the
 * reconnect-storm finding: pushes answered "offline" while their clients
 * stayed connected, and the directory never listed them again).
 *
 * A stall makes the gateway's beacons fail, so its lease lapses and its
 * entries are dropped; the next stall can hit the re-registration and the
 * re-announcement that should follow it. Whatever of that failed, once Redis
 * answers again every connection the gateway still holds must be back in the
 * directory within a bounded time, and pushes must reach them live, without
 * the clients reconnecting.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { fleetClient, waitFor, type Recorded } from '../helpers/sdk-clients.js';

type PresenceBody = { online: boolean };
type PushBody = { results: Array<{ user: string; status: string }> };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('presence after repeated Redis stalls', () => {
  let c: Cluster | undefined;
  const fleet: Recorded[] = [];
  after(async () => {
    for (const r of fleet) r.client.close();
    await c?.stop();
  });

  it('every connection that stayed up is listed again, and pushes reach it live', async () => {
    c = await startCluster({ gateways: 1 });
    const cl = c;
    const users = Array.from({ length: 24 }, (_, i) => `stall-${i}`);
    const rs = users.map((u) => fleetClient(cl, u));
    fleet.push(...rs);
    await waitFor(() => rs.every((r) => r.gateways.length === 1), 20_000, 'clients connected');
    const online = async (u: string): Promise<boolean> => ((await cl.api('GET', `/v1/presence/${u}`)).body as PresenceBody).online;
    assert.ok((await Promise.all(users.map(online))).every(Boolean), 'all listed before the stalls');

    // Stalls longer than the 2 s lease plus the 1 s command timeout, with short gaps between them:
    // the first lets the lease lapse, the later ones hit the re-registration and the re-announcement.
    for (const gapMs of [700, 400, 0]) {
      cl.redis.pause();
      await sleep(3200);
      cl.redis.resume();
      await sleep(gapMs);
    }

    const t0 = Date.now();
    let missing = users;
    while (Date.now() - t0 < 8000) {
      const listed = await Promise.all(users.map(async (u) => { try { return await online(u); } catch { return false; } }));
      missing = users.filter((_, i) => !listed[i]);
      if (missing.length === 0) break;
      await sleep(250);
    }
    assert.deepEqual(missing, [], `listed again within 8 s of Redis answering (missing ${missing.length} of ${users.length})`);
    assert.ok(rs.every((r) => r.gateways.length === 1), 'no client reconnected: the connections stayed up through the stalls');

    const res = await cl.api('POST', '/v1/push', { users, data: { after: 'stalls' }, await_ms: 3000 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const statuses = (res.body as PushBody).results.map((x) => x.status);
    assert.deepEqual(statuses.filter((s) => s !== 'delivered'), [], `delivered live, not stored offline: ${JSON.stringify(statuses)}`);
  });
});
