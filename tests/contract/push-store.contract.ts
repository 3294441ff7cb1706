/**
 * The push store (core/push-store.ts): append + lookup in one step must
 * answer exactly as Inbox.append followed by Presence.lookup would, whatever
 * the gateways did in between (leases lapsing and renewed, restarts), keep
 * call order, and return nothing to deliver for a duplicate.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Inbox } from '../../services/router/core/inbox.js';
import type { GatewayBeacon, Presence, PresenceEvent, PresenceLimits } from '../../services/router/core/presence.js';
import type { PushStore } from '../../services/router/core/push-store.js';

export interface PushStoreHarness {
  store: PushStore;
  inbox: Inbox;
  presence: Presence;
  advance(ms: number): Promise<void>;
}

export type PushStoreFactory = (limits: Partial<PresenceLimits>) => Promise<PushStoreHarness>;

const uid = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const ev = (type: 'online' | 'offline', user: string, device: string, conn: string, gateway: string): PresenceEvent =>
  ({ type, user, device, conn, session: `s-${conn}`, gateway, at: 1_700_000_000_000 });
const beacon = (gateway: string, boot = 'boot-1'): GatewayBeacon => ({ gateway, boot, connections: 0, draining: false, at: 1_700_000_000_000 });
const entry = (n: number): { id: string; ts: number; data: string } => ({ id: `m${n}`, ts: 1_700_000_000_000 + n, data: JSON.stringify({ n }) });
const where = (r: { entries: Array<{ gateway: string; conn: string }> }): string[] => r.entries.map((e) => `${e.gateway}/${e.conn}`).sort();

export function pushStoreContract(name: string, factory: PushStoreFactory): void {
  describe(`PushStore contract: ${name}`, () => {
    it('assigns the next seq, stores the push and returns the user\'s live connections, like append then lookup', async () => {
      const { store, inbox, presence } = await factory({});
      const [u, gw, nobody] = [uid('u'), uid('gw'), uid('nobody')];
      await presence.beacon(beacon(gw));
      await presence.online(ev('online', u, 'phone', 'c1', gw));
      await presence.online(ev('online', u, 'tablet', 'c2', gw));
      const a = await store.appendAndLookup(u, entry(1));
      const { epoch } = await inbox.position(u);
      assert.ok(epoch > 0);
      assert.deepEqual(a.appended, { record: { seq: 1, ...entry(1), epoch }, duplicate: false });
      assert.deepEqual(a.entries.sort((x, y) => x.conn.localeCompare(y.conn)), (await presence.lookup(u)).sort((x, y) => x.conn.localeCompare(y.conn)));
      assert.deepEqual(where(a), [`${gw}/c1`, `${gw}/c2`]);
      assert.equal((await store.appendAndLookup(u, entry(2))).appended.record.seq, 2);
      assert.deepEqual((await inbox.since(u, 0, 10)).map((r) => r.seq), [1, 2]);
      const off = await store.appendAndLookup(nobody, entry(3));
      assert.deepEqual([off.appended.record.seq, off.entries], [1, []]);
    });

    it('a duplicate idempotency key returns the first record and nothing to deliver', async () => {
      const { store, presence } = await factory({});
      const [u, gw] = [uid('u'), uid('gw')];
      await presence.beacon(beacon(gw));
      await presence.online(ev('online', u, 'phone', 'c1', gw));
      const first = await store.appendAndLookup(u, entry(1), { idempotencyKey: 'k' });
      const again = await store.appendAndLookup(u, entry(2), { idempotencyKey: 'k' });
      assert.equal(first.entries.length, 1);
      assert.deepEqual(again, { appended: { record: { seq: 1, ...entry(1), epoch: first.appended.record.epoch }, duplicate: true }, entries: [] });
    });

    it('follows gateways: a lapsed lease hides its connections, a renewed one shows them, a restart drops them', async () => {
      const { store, presence, advance } = await factory({ leaseMs: 400 });
      const [u, a, b] = [uid('u'), uid('gwA'), uid('gwB')];
      await presence.beacon(beacon(a));
      await presence.beacon(beacon(b));
      await presence.online(ev('online', u, 'phone', 'c1', a));
      await presence.online(ev('online', u, 'tablet', 'c2', b));
      assert.deepEqual(where(await store.appendAndLookup(u, entry(1))), [`${a}/c1`, `${b}/c2`]);
      await advance(250);
      await presence.beacon(beacon(b));
      assert.deepEqual(where(await store.appendAndLookup(u, entry(2))), [`${a}/c1`, `${b}/c2`], 'both leases still current');
      await advance(250);
      assert.deepEqual(where(await store.appendAndLookup(u, entry(3))), [`${b}/c2`], 'A lapsed; B was renewed after it was last read');
      await presence.beacon(beacon(b, 'boot-2'));
      assert.deepEqual(where(await store.appendAndLookup(u, entry(4))), [], 'B restarted: its old connections are gone');
      await presence.online(ev('online', u, 'tablet', 'c3', b));
      assert.deepEqual(where(await store.appendAndLookup(u, entry(5))), [`${b}/c3`]);
    });

    it('keeps call order: seqs follow calls, and an online called just before is seen', async () => {
      const { store, presence } = await factory({});
      const [u, gw] = [uid('u'), uid('gw')];
      await presence.beacon(beacon(gw));
      void presence.online(ev('online', u, 'phone', 'c1', gw));
      const all = await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendAndLookup(u, entry(i))));
      assert.deepEqual(all.map((r) => r.appended.record.seq), Array.from({ length: 20 }, (_, i) => i + 1));
      assert.deepEqual(where(all[0]!), [`${gw}/c1`]);
    });

    it('judges gateways as of the call: a restart called just after a push is not seen by it, one called just before is', async () => {
      const { store, presence } = await factory({});
      const [u, gw] = [uid('u'), uid('gw')];
      await presence.beacon(beacon(gw, 'boot-1'));
      await presence.online(ev('online', u, 'phone', 'c1', gw));
      for (let round = 0; round < 5; round++) {
        const conn = `c${round + 1}`;
        // Not awaited, in this order: push, restart (new boot), push.
        const first = store.appendAndLookup(u, entry(2 * round));
        const restart = presence.beacon(beacon(gw, `boot-${round + 2}`));
        const second = store.appendAndLookup(u, entry(2 * round + 1));
        assert.deepEqual(where(await first), [`${gw}/${conn}`], `round ${round}: the push called before the restart sees the connection`);
        assert.deepEqual(where(await second), [], `round ${round}: the push called after the restart does not`);
        await restart;
        await presence.online(ev('online', u, 'phone', `c${round + 2}`, gw));
      }
    });
  });
}
