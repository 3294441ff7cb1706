/**
 * Behaviours every ChannelOccupancy implementation must have (memory and
 * Redis run the same suite): the occupied count before and after each
 * gateway report, late reports ignored, gone gateways and earlier boots
 * dropped. Channel names are unique per test so a shared server needs no
 * flushing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ChannelOccupancy, OccupancyReport } from '../../services/router/core/channel-occupancy.js';

const ch = (name: string): string => `${name}:${randomUUID().slice(0, 8)}`;

export function channelOccupancyContract(name: string, factory: () => Promise<ChannelOccupancy>): void {
  describe(`ChannelOccupancy contract: ${name}`, () => {
    const live = new Map([['gw-a', 'boot-a1'], ['gw-b', 'boot-b1']]);
    const r = (channel: string, gateway: string, seq: number, occupied: boolean, boot = live.get(gateway)!): OccupancyReport => ({ channel, gateway, boot, seq, occupied });

    it('counts occupied gateways: 0 → 1 is the first, 1 → 0 the last', async () => {
      const o = await factory();
      const c = ch('room');
      assert.deepEqual(await o.apply(r(c, 'gw-a', 1, true), live), { before: 0, after: 1 });
      assert.deepEqual(await o.apply(r(c, 'gw-b', 1, true), live), { before: 1, after: 2 });
      assert.deepEqual(await o.apply(r(c, 'gw-a', 2, false), live), { before: 2, after: 1 });
      assert.deepEqual(await o.apply(r(c, 'gw-b', 2, false), live), { before: 1, after: 0 });
      assert.deepEqual(await o.apply(r(c, 'gw-b', 3, true), live), { before: 0, after: 1 }, 'occupied again');
    });

    it('a late report (same boot, lower or equal seq) changes nothing', async () => {
      const o = await factory();
      const c = ch('late');
      // gw-a joined (1) and left (2); a router applies the leave first.
      assert.deepEqual(await o.apply(r(c, 'gw-a', 2, false), live), { before: 0, after: 0 });
      assert.deepEqual(await o.apply(r(c, 'gw-a', 1, true), live), { before: 0, after: 0 }, 'the join is older than the leave');
      assert.deepEqual(await o.apply(r(c, 'gw-a', 2, false), live), { before: 0, after: 0 }, 'a duplicate');
      assert.deepEqual(await o.apply(r(c, 'gw-a', 3, true), live), { before: 0, after: 1 });
    });

    it('a gateway no longer live, or an earlier boot of one, counts as unoccupied and is dropped', async () => {
      const o = await factory();
      const c = ch('gone');
      await o.apply(r(c, 'gw-a', 1, true), live);
      await o.apply(r(c, 'gw-b', 1, true), live);
      // gw-b's lease lapsed: only gw-a is live.
      const onlyA = new Map([['gw-a', 'boot-a1']]);
      assert.deepEqual(await o.apply(r(c, 'gw-a', 2, false), onlyA), { before: 1, after: 0 }, 'gw-b no longer holds the channel occupied');
      // gw-a restarted (new boot): its old entry is dead, and a report of the old boot changes nothing.
      await o.apply(r(c, 'gw-a', 3, true), onlyA);
      const restarted = new Map([['gw-a', 'boot-a2']]);
      assert.deepEqual(await o.apply(r(c, 'gw-a', 4, false, 'boot-a1'), restarted), { before: 0, after: 0 });
      assert.deepEqual(await o.apply(r(c, 'gw-a', 1, true, 'boot-a2'), restarted), { before: 0, after: 1 }, 'the new boot counts from its own first report');
    });

    it('channels are independent', async () => {
      const o = await factory();
      const [c1, c2] = [ch('one'), ch('two')];
      assert.deepEqual(await o.apply(r(c1, 'gw-a', 1, true), live), { before: 0, after: 1 });
      assert.deepEqual(await o.apply(r(c2, 'gw-a', 2, true), live), { before: 0, after: 1 });
      assert.deepEqual(await o.apply(r(c1, 'gw-a', 3, false), live), { before: 1, after: 0 });
    });
  });
}
