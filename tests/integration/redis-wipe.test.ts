/**
 * Redis loses everything (FLUSHALL) under a live cluster, on real processes
 * (NATS, Redis without persistence, 2 routers, 2 gateways) with real SDK
 * clients connected and pushes flowing. The per-user seq counters restart at
 * 1, so without sequence epochs gateways and clients would drop the new
 * pushes as "already seen" (docs/protocol.md §7). What must hold:
 *  - every push accepted (200) after the wipe reaches its connected user,
 *    without a reconnect, in order of the new sequence;
 *  - the clients learn their old sequence is gone (`unrecoverable`);
 *  - a client that was offline across the wipe resumes with its old
 *    (epoch, last_seq), is told in hello which pushes could not be recovered,
 *    and gets every push stored since the wipe.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { createClient, type LonglinkClient } from '../../sdk/src/node.js';
import type { UnrecoverableEvent } from '../../sdk/src/types.js';
import { createRedis } from '../../services/router/stores/redis/client.js';
import { waitFor } from '../helpers/sdk-clients.js';

interface Seen { epoch: number | undefined; seq: number; n: number }
interface App { user: string; client: LonglinkClient; seen: Seen[]; lost: UnrecoverableEvent[]; connects: number; resumedWith: string[] }

function app(c: Cluster, user: string, resume?: { session: string; lastSeq: number; epoch?: number }): App {
  const client = createClient({
    url: c.url,
    token: () => c.token(user, 'd1'),
    heartbeat: { smart: false, intervalMs: 1000, timeoutMs: 2000 },
    backoff: { baseMs: 200, capMs: 1500, healthyAfterMs: 500 },
    connectTimeoutMs: 5000,
    ...(resume !== undefined ? { resume } : {}),
  });
  const a: App = { user, client, seen: [], lost: [], connects: 0, resumedWith: [] };
  client.on('push', (p) => a.seen.push({ epoch: p.epoch, seq: p.seq, n: (p.data as { n: number }).n }));
  client.on('unrecoverable', (e) => a.lost.push(e));
  client.on('connected', () => { a.connects++; });
  client.connect();
  return a;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Redis wiped under a live cluster (sequence epochs)', () => {
  let c: Cluster | undefined;
  const apps: App[] = [];
  after(async () => {
    for (const a of apps) a.client.close();
    await c?.stop();
  });

  it('every push accepted after a FLUSHALL is delivered; resume reports what could not be recovered', async (t) => {
    c = await startCluster({ gateways: 2, routers: 2 });
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
    for (const u of users) apps.push(app(c, u));
    const dave = app(c, 'dave');
    apps.push(dave);
    await waitFor(() => apps.every((a) => a.connects === 1), 30_000, 'all clients connected');

    // Before the wipe: a few rounds to everyone, then dave goes offline with his resume state,
    // and more pushes wait for him in the inbox (these will be lost with it).
    let n = 0;
    const accepted = new Map<number, { users: string[]; afterWipe: boolean }>();
    let wiped = false;
    const push = async (to: string[]): Promise<void> => {
      const id = ++n;
      const afterWipe = wiped;
      const r = await c!.push(to, { n: id });
      if (r.status === 200) accepted.set(id, { users: to, afterWipe });
    };
    for (let i = 0; i < 3; i++) await push([...users, 'dave']);
    await waitFor(() => dave.seen.length === 3, 10_000, 'dave got 3 pushes');
    await sleep(300); // his acks are applied
    const daveState = dave.client.resumeState!;
    assert.equal(daveState.lastSeq, 3);
    assert.ok(daveState.epoch !== undefined && daveState.epoch > 0, 'hello named the epoch');
    dave.client.close();
    for (let i = 0; i < 2; i++) await push(['dave']);

    // Pushes keep flowing from two senders while Redis is wiped.
    let flowing = true;
    const sender = async (): Promise<void> => {
      while (flowing) {
        await push(users);
        await sleep(20);
      }
    };
    const senders = [sender(), sender()];
    await sleep(500);
    const redis = await createRedis({ url: c.redis.url });
    try {
      assert.equal(await redis.flushall(), 'OK');
    } finally {
      redis.disconnect();
    }
    wiped = true;
    const wipedAtN = n;
    await sleep(2500); // past the 2 s presence lease: gateways re-register and re-announce
    for (let i = 0; i < 2; i++) await push(['dave']);
    await sleep(1000);
    flowing = false;
    await Promise.all(senders);

    const afterWipe = [...accepted].filter(([, v]) => v.afterWipe);
    assert.ok(afterWipe.length >= 20, `${afterWipe.length} pushes accepted after the wipe`);
    const want = (u: string): number[] => afterWipe.filter(([, v]) => v.users.includes(u)).map(([id]) => id);
    const missing = (a: App): number[] => { const got = new Set(a.seen.map((s) => s.n)); return want(a.user).filter((id) => !got.has(id)); };
    const live = apps.filter((a) => a !== dave);
    await waitFor(() => live.every((a) => missing(a).length === 0), 20_000, 'every push accepted after the wipe delivered',
      () => live.map((a) => `${a.user} missing ${missing(a).length}: ${missing(a).slice(0, 5).join(',')}… seen ${JSON.stringify(a.seen.slice(-6))} lost ${JSON.stringify(a.lost)}`).join('; '));

    for (const a of live) {
      assert.equal(a.connects, 1, `${a.user} stayed connected`);
      const epochs = [...new Set(a.seen.map((s) => s.epoch))];
      assert.equal(epochs.length, 2, `${a.user} saw two epochs: ${epochs.join(',')}`);
      assert.ok(epochs[1]! > epochs[0]!, 'the new epoch is greater');
      const fresh = a.seen.filter((s) => s.epoch === epochs[1]);
      assert.deepEqual(fresh.map((s) => s.seq), fresh.map((_, i) => i + 1), `${a.user}: the new sequence from 1, in order, none skipped`);
      assert.equal(a.lost.length, 1, `${a.user} was told its old sequence ended`);
      assert.deepEqual(a.lost[0], { epoch: epochs[0], afterSeq: a.seen.filter((s) => s.epoch === epochs[0]).at(-1)!.seq, newEpoch: epochs[1] });
    }

    // Dave comes back with his old (session, last_seq, epoch): hello says his old sequence after seq 3 is gone
    // (2 pushes were stored for him then), and he gets both pushes stored for him after the wipe.
    const dave2 = app(c, 'dave', daveState);
    apps.push(dave2);
    await waitFor(() => dave2.lost.length === 1 && dave2.seen.length === 2, 15_000, 'dave resumed',
      () => JSON.stringify({ lost: dave2.lost, seen: dave2.seen }));
    const newEpoch = dave2.client.epoch!;
    assert.deepEqual(dave2.lost[0], { epoch: daveState.epoch, afterSeq: 3, newEpoch });
    assert.ok(newEpoch > daveState.epoch!);
    assert.deepEqual(dave2.seen.map((s) => [s.seq, s.epoch]), [[1, newEpoch], [2, newEpoch]]);
    assert.deepEqual(dave2.seen.map((s) => s.n), want('dave'));
    t.diagnostic(`${n} pushes sent, ${accepted.size} accepted, ${afterWipe.length} after the wipe (from #${wipedAtN + 1}), all delivered`);
  });
});
