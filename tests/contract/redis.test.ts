/**
 * Runs the store contracts against the Redis implementations on real
 * redis-servers started by the harness (own ports and temp dirs): a
 * standalone server, and a one-node Redis Cluster through ioredis' Cluster
 * client, where the server enforces the single-slot rule on every script
 * (see redis/script.ts). Time is real: `advance` sleeps, and the stores read
 * the server's TIME.
 *
 * Every store instance gets its own key prefix, so each behaves like a fresh
 * MemoryX (presence's sweep and gateways() see only their own gateways)
 * while all share one client, as the router's stores do.
 *
 * After the contracts: Redis-specific checks (key layout, call order of
 * calls that are not awaited) that the memory stores satisfy trivially.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisInbox } from '../../services/router/core/inbox-redis.js';
import { RedisPresence } from '../../services/router/core/presence-redis.js';
import { RedisSessions } from '../../services/router/core/sessions-redis.js';
import { createRedis, type RedisClient } from '../../services/router/core/redis/client.js';
import { startRedis } from '../helpers/redis.js';
import { inboxContract } from './inbox.contract.js';
import { presenceContract } from './presence.contract.js';
import { sessionsContract } from './sessions.contract.js';

const [server, clusterNode] = await Promise.all([startRedis(), startRedis({ cluster: true })]);
const [redis, cluster] = await Promise.all([createRedis({ url: server.url }), createRedis({ nodes: [clusterNode.url] })]);

after(async () => {
  redis.disconnect();
  cluster.disconnect();
  await Promise.all([server.cleanup(), clusterNode.cleanup()]);
});

let n = 0;
const prefix = (): string => `ct${++n}`;
// "At least ms": timers may fire a hair early against the server's clock.
const advance = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms + 5));

function contracts(name: string, client: RedisClient): void {
  inboxContract(name, async (limits) => ({ inbox: new RedisInbox({ redis: client, prefix: prefix(), ...limits }), advance }));
  sessionsContract(name, async (limits) => ({ sessions: new RedisSessions({ redis: client, prefix: prefix(), ...limits }), advance }));
  presenceContract(name, async (limits) => ({ presence: new RedisPresence({ redis: client, prefix: prefix(), ...limits }), advance }));
}

contracts('redis', redis);
contracts('redis cluster (one node)', cluster);

describe('Redis stores: layout and call order', () => {
  it('user ids with braces and % get their own escaped hash tag', async () => {
    const p = prefix();
    const inbox = new RedisInbox({ redis, prefix: p });
    const users = ['a}b', 'a%7Db', '{x}', 'plain'];
    for (const [i, u] of users.entries()) for (let j = 0; j <= i; j++) await inbox.append(u, { id: `m${j}`, ts: 1, data: '1' });
    for (const [i, u] of users.entries()) assert.equal(await inbox.latestSeq(u), i + 1, `seq of ${u}`);
    const keys = (await redis.keys(`${p}:*`)).sort();
    assert.deepEqual(keys, [
      `${p}:{u:%7Bx%7D}:inbox`, `${p}:{u:%7Bx%7D}:seq`, `${p}:{u:a%257Db}:inbox`, `${p}:{u:a%257Db}:seq`,
      `${p}:{u:a%7Db}:inbox`, `${p}:{u:a%7Db}:seq`, `${p}:{u:plain}:inbox`, `${p}:{u:plain}:seq`,
    ]);
  });

  it('the seq counter never expires; the inbox expires with its newest entry', async () => {
    const p = prefix();
    const inbox = new RedisInbox({ redis, prefix: p, ttlMs: 60_000 });
    await inbox.append('u', { id: 'm1', ts: 1, data: '1' });
    assert.equal(await redis.pttl(`${p}:{u:u}:seq`), -1);
    const ttl = await redis.pttl(`${p}:{u:u}:inbox`);
    assert.ok(ttl > 55_000 && ttl <= 60_000, `inbox pttl ${ttl}`);
  });

  it('inbox calls that are not awaited apply in call order', async () => {
    const inbox = new RedisInbox({ redis: cluster, prefix: prefix() });
    const appends = [1, 2, 3, 4, 5].map((i) => inbox.append('u', { id: `m${i}`, ts: 1, data: '1' }));
    const ack = inbox.ack('u', 'phone', 3);
    const since = inbox.since('u', 0, 10);
    assert.deepEqual((await Promise.all(appends)).map((r) => r.record.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(await ack, { cursor: 3, trimmed: 3 });
    assert.deepEqual((await since).map((r) => r.seq), [4, 5]);
  });

  it('presence calls that are not awaited apply in call order', async () => {
    const presence = new RedisPresence({ redis: cluster, prefix: prefix() });
    const ev = (type: 'online' | 'offline', device: string, conn: string) => ({ type, user: 'u', device, conn, session: `s-${conn}`, gateway: 'gw', at: 5 });
    const beacon = (boot: string) => ({ gateway: 'gw', boot, connections: 0, draining: false, at: 5 });
    const calls = [
      presence.beacon(beacon('b1')),
      presence.online(ev('online', 'phone', 'c1')),
      presence.offline(ev('offline', 'phone', 'c1')),
      presence.online(ev('online', 'tablet', 'c2')),
      presence.lookup('u'),
      presence.beacon(beacon('b2')),
      presence.online(ev('online', 'laptop', 'c3')),
      presence.lookup('u'),
      presence.gateways(),
    ] as const;
    const [, , removed, , before, , , afterRestart, gws] = await Promise.all(calls);
    assert.equal(removed, true, 'the offline saw the online before it');
    assert.deepEqual(before.map((e) => e.conn), ['c2']);
    assert.deepEqual(afterRestart.map((e) => e.conn), ['c3'], 'the new boot dropped c2, not c3 that came after it');
    assert.deepEqual(gws.map((g) => [g.gateway, g.boot, g.entries]), [['gw', 'b2', 1]]);
  });
});
