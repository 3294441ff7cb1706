/**
 * Runs the store contracts against the Redis implementations on real
 * redis-servers started by the harness (own ports and temp dirs): a
 * standalone server, and a one-node Redis Cluster through ioredis' Cluster
 * client, where the server enforces the single-slot rule on every script
 * (see redis/script.ts). Where a store judges expiries in its scripts
 * (leases, tombstones, sessions, inbox entries) the contracts run on an
 * injected clock that only `advance` moves (see `manualWall`); where Redis
 * expires whole keys on its own (ack cursors, idempotency records, a
 * channel's epoch) time is real: `advance` sleeps, and the stores read the
 * server's TIME.
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
import { RedisInbox } from '../../services/router/stores/redis/inbox.js';
import type { GatewayBeacon, Presence, PresenceEntry, PresenceEvent } from '../../services/router/core/presence.js';
import { MemoryPresence } from '../../services/router/stores/memory/presence.js';
import { RedisPresence } from '../../services/router/stores/redis/presence.js';
import { RedisSessions } from '../../services/router/stores/redis/sessions.js';
import { createRedis, type RedisClient } from '../../services/router/stores/redis/client.js';
import { ManualClock, systemClock } from '../../services/shared/clock.js';
import { startRedis } from '../../infra/local/redis.js';
import { inboxContract } from './inbox.contract.js';
import { presenceContract } from './presence.contract.js';
import { sessionsContract } from './sessions.contract.js';
import { pushStoreContract } from './push-store.contract.js';
import { RedisPushStore } from '../../services/router/stores/redis/push-store.js';
import { RedisChannelHistory } from '../../services/router/stores/redis/channel-history.js';
import { channelHistoryContract } from './channel-history.contract.js';
import { channelOccupancyContract } from './channel-occupancy.contract.js';
import { RedisChannelOccupancy } from '../../services/router/stores/redis/channel-occupancy.js';
import { resumeReadContract } from './resume-read.contract.js';
import { RedisResumeRead } from '../../services/router/stores/redis/resume-read.js';

const [server, clusterNode] = await Promise.all([startRedis(), startRedis({ cluster: true })]);
const [redis, cluster] = await Promise.all([createRedis({ url: server.url }), createRedis({ nodes: [clusterNode.url] })]);

after(async () => {
  redis.disconnect();
  cluster.disconnect();
  await Promise.all([server.cleanup(), clusterNode.cleanup()]);
});

let n = 0;
const prefix = (): string => `ct${++n}`;

/** Deletes every key under `p`, on each master of a cluster (KEYS is per node). */
async function wipePrefix(client: RedisClient, p: string): Promise<void> {
  const nodes = 'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client];
  for (const node of nodes as RedisClient[]) {
    for (const k of await node.keys(`${p}:*`)) await client.del(k);
  }
}
// "At least ms": timers may fire a hair early against the server's clock.
const advance = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms + 5));
/**
 * Many cases hold a lease or TTL for part of its length and expect it to
 * hold, then let it lapse: on real time a scheduling stall
 * longer than the margin (a loaded machine's timers and Redis replies run
 * late by more than any fixed margin) decides the case instead of the store.
 * So their stores take an injected clock (every script's `now`, redis/script.ts)
 * that only `advance` moves: the same Lua judges the same lease arithmetic,
 * independent of how long the calls took. It runs an hour ahead of the
 * server's clock so that Redis never expires a whole key (PEXPIREAT, set at
 * the clock's times) while a case still reads it: only the scripts' own
 * judgement of `now` counts. The server-TIME path of these stores is covered
 * below (sweep pacing, the memory-vs-Redis call order replay).
 */
const manualWall = (): { clock: ManualClock; advance(ms: number): Promise<void> } => {
  const clock = new ManualClock(0, Date.now() + 3_600_000);
  return { clock, advance: async (ms) => clock.advance(ms) };
};

function contracts(name: string, client: RedisClient): void {
  inboxContract(name, async (limits) => {
    const p = prefix();
    // Ack cursors and idempotency records live as whole keys that Redis expires on its own clock, so their
    // cases keep real time (they only wait for an expiry, which a stall makes surer); entries carry their
    // own expiry, judged by the scripts, so the entry cases hold on the injected clock.
    const real = limits.cursorTtlMs !== undefined || limits.idempotencyTtlMs !== undefined;
    const { clock, advance: step } = real ? { clock: undefined, advance } : manualWall();
    const inbox = new RedisInbox({ redis: client, prefix: p, clock, ...limits });
    // This store's keys only (others share the server): what a FLUSHALL does to them.
    return { inbox, advance: step, wipe: async () => { await wipePrefix(client, p); return inbox; } };
  });
  // Each device's expiry is in its value, judged by the scripts (redis/sessions.ts).
  sessionsContract(name, async (limits) => {
    const { clock, advance: step } = manualWall();
    return { sessions: new RedisSessions({ redis: client, prefix: prefix(), clock, ...limits }), advance: step };
  });
  resumeReadContract(name, async (limits) => {
    const p = prefix();
    const { clock, advance: step } = manualWall();
    return { resume: new RedisResumeRead({ redis: client, prefix: p, clock }), inbox: new RedisInbox({ redis: client, prefix: p, clock, ...limits }), advance: step };
  });
  presenceContract(name, async (limits) => {
    const { clock, advance: step } = manualWall();
    return { presence: new RedisPresence({ redis: client, prefix: prefix(), clock, ...limits }), advance: step };
  });
  pushStoreContract(name, async (limits) => {
    const p = prefix();
    const { clock, advance: step } = manualWall();
    const inbox = new RedisInbox({ redis: client, prefix: p, clock });
    const presence = new RedisPresence({ redis: client, prefix: p, clock, ...limits });
    return { store: new RedisPushStore(inbox, presence), inbox, presence, advance: step };
  });
  channelHistoryContract(name, async (limits) => {
    const p = prefix();
    // Loses this store's keys only (the server is shared by every contract): what FLUSHALL does to it.
    const lose = async (): Promise<void> => { for (const k of await client.keys(`${p}:*`)) await client.del(k); };
    // Entries carry their own expiry, judged by the scripts; a channel's epoch lives as its meta key, which
    // Redis expires on its own clock, so the epoch case keeps real time (it only waits for that expiry).
    const { clock, advance: step } = limits.epochTtlMs !== undefined ? { clock: undefined, advance } : manualWall();
    return { history: new RedisChannelHistory({ redis: client, prefix: p, clock, ...limits }), advance: step, lose };
  });
  channelOccupancyContract(name, async () => new RedisChannelOccupancy({ redis: client, prefix: prefix() }));
}

contracts('redis', redis);
contracts('redis cluster (one node)', cluster);

describe('Redis stores: layout and call order', () => {
  it('a counter written before epochs existed gets an epoch on first read, kept from then on', async () => {
    const p = prefix();
    const inbox = new RedisInbox({ redis, prefix: p });
    await redis.set(`${p}:{u:legacy}:seq`, '41');
    const pos = await inbox.position('legacy');
    assert.equal(pos.seq, 41);
    assert.ok(pos.epoch > 0);
    const r = await inbox.append('legacy', { id: 'm42', ts: 1, data: '1' });
    assert.deepEqual([r.record.seq, r.record.epoch], [42, pos.epoch], 'the sequence continues in the same epoch');
  });

  it('user ids with braces and % get their own escaped hash tag', async () => {
    const p = prefix();
    const inbox = new RedisInbox({ redis, prefix: p });
    const users = ['a}b', 'a%7Db', '{x}', 'plain'];
    for (const [i, u] of users.entries()) for (let j = 0; j <= i; j++) await inbox.append(u, { id: `m${j}`, ts: 1, data: '1' });
    for (const [i, u] of users.entries()) assert.equal(await inbox.latestSeq(u), i + 1, `seq of ${u}`);
    const keys = (await redis.keys(`${p}:*`)).sort();
    assert.deepEqual(keys, [
      `${p}:{u:%7Bx%7D}:epoch`, `${p}:{u:%7Bx%7D}:inbox`, `${p}:{u:%7Bx%7D}:seq`,
      `${p}:{u:a%257Db}:epoch`, `${p}:{u:a%257Db}:inbox`, `${p}:{u:a%257Db}:seq`,
      `${p}:{u:a%7Db}:epoch`, `${p}:{u:a%7Db}:inbox`, `${p}:{u:a%7Db}:seq`,
      `${p}:{u:plain}:epoch`, `${p}:{u:plain}:inbox`, `${p}:{u:plain}:seq`,
    ]);
  });

  it("sweeping a dead gateway removes every user's entry, its cleanup paced (more users than scripts in flight)", async () => {
    const p = prefix();
    // On the injected clock: 300 scripts in flight can take longer than the lease on a loaded machine.
    const { clock, advance: step } = manualWall();
    const presence = new RedisPresence({ redis, prefix: p, clock, leaseMs: 300 });
    const at = Date.now();
    await presence.beacon({ gateway: 'gw-dead', boot: 'b1', connections: 0, draining: false, at });
    const users = Array.from({ length: 300 }, (_, i) => `sw${i}`);
    await Promise.all(users.map((u) => presence.online({ type: 'online', user: u, device: 'd', conn: `c-${u}`, session: 's', gateway: 'gw-dead', at })));
    assert.equal((await redis.keys(`${p}:{u:sw*}:presence`)).length, 300);
    await step(400); // the lease lapses
    const swept = await presence.sweep();
    assert.deepEqual([swept.gateways, swept.entries], [1, 300]);
    assert.deepEqual(await redis.keys(`${p}:{u:sw*}:presence`), [], 'no leftover entries once sweep resolved');
  });

  it('the seq counter never expires; the inbox expires with its newest entry', async () => {
    const p = prefix();
    const inbox = new RedisInbox({ redis, prefix: p, ttlMs: 60_000 });
    await inbox.append('u', { id: 'm1', ts: 1, data: '1' });
    assert.equal(await redis.pttl(`${p}:{u:u}:seq`), -1);
    assert.equal(await redis.pttl(`${p}:{u:u}:epoch`), -1, 'the epoch lives as long as its counter');
    const ttl = await redis.pttl(`${p}:{u:u}:inbox`);
    assert.ok(ttl > 55_000 && ttl <= 60_000, `inbox pttl ${ttl}`);
  });

  it('appends and acks to an inbox with nothing expired send no XTRIM that removes nothing', async () => {
    const inbox = new RedisInbox({ redis, prefix: prefix(), ttlMs: 60_000 });
    const xtrims = async (): Promise<number> => Number(/cmdstat_xtrim:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
    const before = await xtrims();
    await inbox.append('u', { id: 'm1', ts: 1, data: '1' });
    await inbox.append('u', { id: 'm2', ts: 1, data: '1' }); // the head (m1) is live: nothing to prune
    assert.deepEqual(await inbox.ack('u', 'phone', 1), { cursor: 1, trimmed: 1 }); // prune finds m1 live; the ack's trim removes it
    assert.equal(await xtrims() - before, 1, 'only the ack trim, which removed an entry');
    assert.deepEqual((await inbox.since('u', 0, 10)).map((r) => r.seq), [2]);
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

  it('presence calls that are not awaited apply in call order, with the results memory gives', async () => {
    const ev = (type: 'online' | 'offline', device: string, conn: string, gateway = 'gw'): PresenceEvent => (
      { type, user: 'u', device, conn, session: `s-${conn}`, gateway, at: 5 });
    const beacon = (boot: string, gateway = 'gw'): GatewayBeacon => ({ gateway, boot, connections: 0, draining: false, at: 5 });
    // Fired without awaiting, as the router applies bus events.
    const run = (p: Presence) => Promise.all([
      p.beacon(beacon('b1')),
      p.online(ev('online', 'phone', 'c1')),
      p.offline(ev('offline', 'phone', 'c1')),
      p.online(ev('online', 'tablet', 'c2')),
      p.online(ev('online', 'watch', 'c9', 'gw2')),
      p.lookup('u'),
      p.beacon(beacon('b2')),
      p.online(ev('online', 'tablet', 'c3', 'gw2')),
      p.online(ev('online', 'laptop', 'c4')),
      p.lookup('u'),
      p.offline(ev('offline', 'watch', 'c9', 'gw2')),
      p.gateways(),
    ]);
    const strip = (r: Awaited<ReturnType<typeof run>>) => r.map((x) => (Array.isArray(x)
      ? x.map((y) => ('ageMs' in y ? { ...y, ageMs: 0 } : y)).sort((m, n) => JSON.stringify(m).localeCompare(JSON.stringify(n)))
      : x));
    const memory = strip(await run(new MemoryPresence({ clock: systemClock })));
    const redisResults = strip(await run(new RedisPresence({ redis: cluster, prefix: prefix() })));
    assert.deepEqual(redisResults, memory);
    // What memory gives, spelled out: the offline saw its online; the lookup before the restart beacon saw c2;
    // the tablet moving to gw2 displaced nothing alive (b2 had dropped c2).
    assert.equal(memory[2], true);
    assert.deepEqual((memory[5] as PresenceEntry[]).map((e) => e.conn), ['c2', 'c9']);
    assert.deepEqual(memory[7], { displaced: [], gatewayRegistered: false });
    assert.equal((memory[4] as { gatewayRegistered: boolean }).gatewayRegistered, true, 'gw2 first seen through an online');
    assert.deepEqual((memory[9] as PresenceEntry[]).map((e) => e.conn).sort(), ['c3', 'c4', 'c9']);
  });

  it('an injected clock replaces the server TIME (wall ms, stored as absolute expiries)', async () => {
    const p = prefix();
    const ahead = 3_600_000;
    const clock = { now: () => performance.now(), wallNow: () => Date.now() + ahead };
    const sessions = new RedisSessions({ redis, prefix: p, clock, ttlMs: 10_000 });
    const { session } = await sessions.open('u', 'phone');
    const at = await redis.pexpiretime(`${p}:{u:u}:sessions`);
    assert.ok(Math.abs(at - (Date.now() + ahead + 10_000)) < 1000, `expires at ${at}`);
    assert.equal((await sessions.open('u', 'phone', session)).resumed, true);
  });
});
