/**
 * Behaviours every presence directory must have (see inbox.contract.ts for
 * how time and ids are handled). Gateway ids are unique per test too, and
 * assertions on gateways() look only at this test's gateways.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { GatewayBeacon, Presence, PresenceEvent, PresenceLimits } from '../../services/router/core/presence.js';

export interface PresenceHarness {
  presence: Presence;
  advance(ms: number): Promise<void>;
}

export type PresenceFactory = (limits: Partial<PresenceLimits>) => Promise<PresenceHarness>;

const uid = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;

function ev(type: 'online' | 'offline', user: string, device: string, conn: string, gateway: string): PresenceEvent {
  return { type, user, device, conn, session: `s-${conn}`, gateway, at: 1_700_000_000_000 };
}

function beacon(gateway: string, boot = 'boot-1', connections = 0, draining = false): GatewayBeacon {
  return { gateway, boot, connections, draining, at: 1_700_000_000_000 };
}

const conns = async (p: Presence, user: string): Promise<string[]> => (await p.lookup(user)).map((e) => `${e.gateway}/${e.conn}`).sort();

export function presenceContract(name: string, factory: PresenceFactory, cleanup?: () => Promise<void>): void {
  describe(`Presence contract: ${name}`, () => {
    const opened: Presence[] = [];
    const make = async (limits: Partial<PresenceLimits> = {}): Promise<PresenceHarness> => {
      const h = await factory(limits);
      opened.push(h.presence);
      return h;
    };
    after(async () => {
      for (const p of opened) await p.close();
      await cleanup?.();
    });

    it('records online connections and forgets them when they go offline', async () => {
      const { presence } = await make();
      const [u, gw] = [uid('u'), uid('gw')];
      await presence.beacon(beacon(gw));
      assert.deepEqual(await presence.online(ev('online', u, 'phone', 'c1', gw)), { displaced: [], gatewayRegistered: false });
      await presence.online(ev('online', u, 'tablet', 'c2', gw));
      const entries = await presence.lookup(u);
      assert.deepEqual(entries.find((e) => e.conn === 'c1'), { user: u, device: 'phone', conn: 'c1', gateway: gw, session: 's-c1', since: 1_700_000_000_000 });
      assert.deepEqual(await conns(presence, u), [`${gw}/c1`, `${gw}/c2`]);
      assert.equal(await presence.offline(ev('offline', u, 'phone', 'c1', gw)), true);
      assert.deepEqual(await conns(presence, u), [`${gw}/c2`]);
      assert.deepEqual(await presence.lookup(uid('nobody')), []);
    });

    it('one session per user+device: a newer online displaces the older entry, on any gateway', async () => {
      const { presence } = await make();
      const [u, a, b] = [uid('u'), uid('gwA'), uid('gwB')];
      await presence.beacon(beacon(a));
      await presence.beacon(beacon(b));
      await presence.online(ev('online', u, 'phone', 'c1', a));
      await presence.online(ev('online', u, 'tablet', 'c2', a));
      const r = await presence.online(ev('online', u, 'phone', 'c3', b));
      assert.deepEqual(r.displaced.map((e) => [e.gateway, e.conn, e.device]), [[a, 'c1', 'phone']]);
      assert.deepEqual(await conns(presence, u), [`${a}/c2`, `${b}/c3`]);
      assert.equal(await presence.offline(ev('offline', u, 'phone', 'c1', a)), false, 'the late offline of a displaced entry is harmless');
      assert.deepEqual(await conns(presence, u), [`${a}/c2`, `${b}/c3`]);
    });

    it('a session start older than the device\'s entry is stale: refused atomically, displacing nothing; re-announced entries neither block nor are protected', async () => {
      const { presence } = await make();
      const [u, a, b] = [uid('u'), uid('gwA'), uid('gwB')];
      await presence.beacon(beacon(a));
      await presence.beacon(beacon(b));
      const start = (e: PresenceEvent, at: number): PresenceEvent => ({ ...e, start: 1_700_000_000_000 + at });
      assert.deepEqual(await presence.online(start(ev('online', u, 'phone', 'new', b), 200)), { displaced: [], gatewayRegistered: false });
      // A start received earlier (one its gateway gave up on) whose registration lands late.
      assert.deepEqual(await presence.online(start(ev('online', u, 'phone', 'old', a), 100)), { displaced: [], gatewayRegistered: false, stale: true });
      assert.deepEqual(await conns(presence, u), [`${b}/new`], 'the newer connection keeps its entry');
      assert.deepEqual((await presence.lookup(u))[0], { user: u, device: 'phone', conn: 'new', gateway: b, session: 's-new', since: 1_700_000_000_000 }, 'the stamp is not part of the entry');
      // Another device is not affected by the stamp; a genuinely newer start still displaces.
      await presence.online(start(ev('online', u, 'tablet', 't1', a), 50));
      const r = await presence.online(start(ev('online', u, 'phone', 'newer', a), 300));
      assert.deepEqual(r.displaced.map((e) => [e.gateway, e.conn]), [[b, 'new']]);
      assert.deepEqual(await conns(presence, u), [`${a}/newer`, `${a}/t1`]);
      // A re-announced online (no stamp) displaces as before, and its entry blocks no later start.
      const re = await presence.online(ev('online', u, 'phone', 'again', b));
      assert.deepEqual(re.displaced.map((e) => e.conn), ['newer']);
      const late = await presence.online(start(ev('online', u, 'phone', 'late', a), 10));
      assert.deepEqual(late.displaced.map((e) => e.conn), ['again']);
      assert.deepEqual(await conns(presence, u), [`${a}/late`, `${a}/t1`]);
    });

    it('a device cap refuses one device too many, cluster-wide, but never the same device reconnecting', async () => {
      const { presence } = await make();
      const [u, a, b] = [uid('u'), uid('gwA'), uid('gwB')];
      await presence.beacon(beacon(a));
      await presence.beacon(beacon(b));
      assert.equal((await presence.online(ev('online', u, 'phone', 'c1', a), 2)).refused, undefined);
      assert.equal((await presence.online(ev('online', u, 'tablet', 'c2', b), 2)).refused, undefined);
      assert.deepEqual(await presence.online(ev('online', u, 'laptop', 'c3', b), 2), { displaced: [], gatewayRegistered: false, refused: true });
      assert.deepEqual(await conns(presence, u), [`${a}/c1`, `${b}/c2`]);
      // The same device on another gateway replaces its old entry: it does not count twice.
      const again = await presence.online(ev('online', u, 'phone', 'c4', b), 2);
      assert.equal(again.refused, undefined);
      assert.deepEqual(again.displaced.map((e) => e.conn), ['c1']);
      assert.deepEqual(await conns(presence, u), [`${b}/c2`, `${b}/c4`]);
      // Other users are not affected; without a cap (re-announced connections) nothing is refused.
      assert.equal((await presence.online(ev('online', uid('v'), 'laptop', 'c5', b), 2)).refused, undefined);
      assert.equal((await presence.online(ev('online', u, 'laptop', 'c6', a))).refused, undefined);
      assert.equal((await presence.offline(ev('offline', u, 'laptop', 'c6', a))), true);
      // A device going offline frees its place.
      await presence.offline(ev('offline', u, 'tablet', 'c2', b));
      assert.equal((await presence.online(ev('online', u, 'laptop', 'c7', a), 2)).refused, undefined);
      assert.deepEqual(await conns(presence, u), [`${a}/c7`, `${b}/c4`]);
    });

    it('concurrent starts of many devices never overshoot the cap', async () => {
      const { presence } = await make();
      const [u, a, b] = [uid('u'), uid('gwA'), uid('gwB')];
      await presence.beacon(beacon(a));
      await presence.beacon(beacon(b));
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => presence.online(ev('online', u, `d${i}`, `c${i}`, i % 2 === 0 ? a : b), 3)));
      assert.equal(results.filter((r) => r.refused !== true).length, 3);
      assert.equal((await presence.lookup(u)).length, 3);
    });

    it("a dead gateway's entries stop counting once swept", async () => {
      const { presence, advance } = await make({ leaseMs: 1000 });
      const [u, a, b] = [uid('u'), uid('gwA'), uid('gwB')];
      await presence.beacon(beacon(a));
      await presence.online(ev('online', u, 'phone', 'c1', a), 1);
      await advance(1500);
      await presence.beacon(beacon(b));
      await presence.sweep();
      await presence.lookup(u);
      assert.equal((await presence.online(ev('online', u, 'tablet', 'c2', b), 1)).refused, undefined);
    });

    it('an online event from an unknown gateway registers it', async () => {
      const { presence } = await make();
      const [u, gw] = [uid('u'), uid('gw')];
      await presence.online(ev('online', u, 'phone', 'c1', gw));
      assert.deepEqual(await conns(presence, u), [`${gw}/c1`]);
      const info = (await presence.gateways()).find((g) => g.gateway === gw);
      assert.ok(info);
      assert.equal(info.boot, '');
      assert.equal(info.entries, 1);
    });

    it('lists alive gateways with their last beacon', async () => {
      const { presence, advance } = await make({ leaseMs: 1000 });
      const [u, gw] = [uid('u'), uid('gw')];
      await presence.beacon(beacon(gw, 'b1', 7, true));
      await presence.online(ev('online', u, 'phone', 'c1', gw));
      await advance(100);
      const info = (await presence.gateways()).find((g) => g.gateway === gw);
      assert.ok(info);
      assert.deepEqual({ ...info, ageMs: 0 }, { gateway: gw, boot: 'b1', connections: 7, draining: true, at: 1_700_000_000_000, ageMs: 0, entries: 1 });
      assert.ok(info.ageMs >= 100 && info.ageMs < 1000, `ageMs ${info.ageMs}`);
    });

    it("keeps the version a gateway's beacon names; an online that registers a gateway knows none", async () => {
      const { presence } = await make({ leaseMs: 1000 });
      const [u, gw, other] = [uid('u'), uid('gw'), uid('gw')];
      await presence.beacon({ ...beacon(gw, 'b1', 0), version: '1.2.3' });
      await presence.online(ev('online', u, 'phone', 'c1', other));
      const list = await presence.gateways();
      assert.equal(list.find((g) => g.gateway === gw)?.version, '1.2.3');
      assert.ok(list.some((g) => g.gateway === other));
      assert.equal(list.find((g) => g.gateway === other)?.version, undefined);
      await presence.beacon({ ...beacon(gw, 'b1', 0), version: '1.2.4' });
      assert.equal((await presence.gateways()).find((g) => g.gateway === gw)?.version, '1.2.4', 'a rolling upgrade shows');
    });

    it('a beacon says when it (re)registered its gateway: first sighting, lapsed lease, swept, restarted', async () => {
      const { presence, advance } = await make({ leaseMs: 400 });
      const [u, gw] = [uid('u'), uid('gw')];
      assert.deepEqual(await presence.beacon(beacon(gw)), { registered: true }, 'first beacon');
      await presence.online(ev('online', u, 'phone', 'c1', gw));
      await advance(200);
      assert.deepEqual(await presence.beacon(beacon(gw, 'boot-1', 1)), { registered: false }, 'renewal in time');
      assert.deepEqual(await conns(presence, u), [`${gw}/c1`]);
      await advance(500);
      assert.deepEqual(await presence.beacon(beacon(gw, 'boot-1', 1)), { registered: true }, 'late beacon: the lease had lapsed');
      assert.deepEqual(await conns(presence, u), [], 'the lapsed epoch\'s entries are gone (the router then asks the gateway to re-announce)');
      await presence.online(ev('online', u, 'phone', 'c1', gw));
      assert.deepEqual(await conns(presence, u), [`${gw}/c1`], 're-announced');
      await advance(500);
      await presence.sweep();
      assert.deepEqual(await presence.beacon(beacon(gw, 'boot-1', 1)), { registered: true }, 'swept, then a beacon');
      assert.deepEqual(await presence.beacon(beacon(gw, 'boot-2')), { registered: true }, 'restart (new boot)');
      assert.deepEqual(await presence.beacon(beacon(gw, 'boot-2')), { registered: false });
    });

    it('an online for an unknown or lapsed gateway says it (re)registered it', async () => {
      const { presence, advance } = await make({ leaseMs: 400 });
      const [u, gw] = [uid('u'), uid('gw')];
      assert.equal((await presence.online(ev('online', u, 'phone', 'c1', gw))).gatewayRegistered, true, 'unknown gateway');
      assert.equal((await presence.online(ev('online', u, 'tablet', 'c2', gw))).gatewayRegistered, false, 'alive');
      await advance(500);
      const r = await presence.online(ev('online', u, 'watch', 'c3', gw));
      assert.equal(r.gatewayRegistered, true, 'lapsed lease');
      assert.deepEqual(r.displaced, []);
      assert.deepEqual(await conns(presence, u), [`${gw}/c3`], 'the lapsed epoch\'s entries are gone');
    });

    it("hides a gateway's entries once its lease expires, and sweep deletes them", async () => {
      const { presence, advance } = await make({ leaseMs: 400 });
      const [u, live, dead] = [uid('u'), uid('live'), uid('dead')];
      await presence.beacon(beacon(live));
      await presence.beacon(beacon(dead));
      await presence.online(ev('online', u, 'phone', 'c1', dead));
      await presence.online(ev('online', u, 'tablet', 'c2', live));
      await advance(250);
      await presence.beacon(beacon(live));
      assert.deepEqual(await conns(presence, u), [`${dead}/c1`, `${live}/c2`]);
      await advance(250);
      assert.deepEqual(await conns(presence, u), [`${live}/c2`], 'beacons renew the lease; the silent gateway is dead');
      const ids = (await presence.gateways()).map((g) => g.gateway);
      assert.ok(ids.includes(live) && !ids.includes(dead));
      const swept = await presence.sweep();
      assert.ok(swept.gateways >= 1 && swept.entries >= 1);
      assert.deepEqual(await conns(presence, u), [`${live}/c2`]);
    });

    it('a gateway that comes back after its lease expired starts from an empty directory', async () => {
      const { presence, advance } = await make({ leaseMs: 300 });
      const [u, gw] = [uid('u'), uid('gw')];
      await presence.beacon(beacon(gw));
      await presence.online(ev('online', u, 'phone', 'c1', gw));
      await advance(400);
      await presence.online(ev('online', u, 'tablet', 'c2', gw));
      assert.deepEqual(await conns(presence, u), [`${gw}/c2`]);
    });

    it('a new boot id drops the entries of the previous boot', async () => {
      const { presence } = await make();
      const [u, gw] = [uid('u'), uid('gw')];
      await presence.beacon(beacon(gw, 'boot-1'));
      await presence.online(ev('online', u, 'phone', 'c1', gw));
      await presence.beacon(beacon(gw, 'boot-1'));
      assert.deepEqual(await conns(presence, u), [`${gw}/c1`], 'same boot: nothing changes');
      await presence.beacon(beacon(gw, 'boot-2'));
      assert.deepEqual(await conns(presence, u), []);
      await presence.online(ev('online', u, 'phone', 'c9', gw));
      assert.deepEqual(await conns(presence, u), [`${gw}/c9`]);
    });

    it('a first beacon after online events from an unknown gateway keeps them', async () => {
      const { presence } = await make();
      const [u, gw] = [uid('u'), uid('gw')];
      await presence.online(ev('online', u, 'phone', 'c1', gw));
      await presence.beacon(beacon(gw, 'boot-1'));
      assert.deepEqual(await conns(presence, u), [`${gw}/c1`]);
    });

    it('an offline applied before its online leaves a tombstone', async () => {
      const { presence, advance } = await make({ tombstoneMs: 300 });
      const [u, gw] = [uid('u'), uid('gw')];
      await presence.beacon(beacon(gw));
      assert.equal(await presence.offline(ev('offline', u, 'phone', 'c1', gw)), false);
      await presence.online(ev('online', u, 'phone', 'c1', gw));
      assert.deepEqual(await conns(presence, u), [], 'the late online is ignored');
      await presence.online(ev('online', u, 'phone', 'c2', gw));
      assert.deepEqual(await conns(presence, u), [`${gw}/c2`], 'other connections are unaffected');
      await advance(400);
      await presence.beacon(beacon(gw));
      await presence.online(ev('online', u, 'tablet', 'c1', gw));
      assert.deepEqual(await conns(presence, u), [`${gw}/c1`, `${gw}/c2`], 'tombstones expire');
    });
  });
}
