/**
 * Scenario 6 on real namespaces: client hosts with their own addresses
 * reach two gateways through a VIP; one gateway is killed; all its clients
 * come back through the VIP, 0 pushes lost; recovery time and what each
 * source saw of admission reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconnectStorm } from '../../infra/netns/scenarios/network.js';

test('a reconnect storm from separate client hosts: all back, 0 lost, per-source admission reported', { timeout: 240_000 }, async () => {
  const f = await reconnectStorm({ hosts: 4, clientsPerHost: 50 });
  console.log(JSON.stringify(f));
  assert.ok((f.onKilledGateway as number) >= 40, `the VIP spread clients: ${f.onKilledGateway} on the killed gateway`);
  assert.equal(f.recovered, f.onKilledGateway, 'every client of the killed gateway came back');
  assert.equal((f.perSource as unknown[]).length, 4);
  const p = f.pushes as { accepted: number; lost: number };
  assert.ok(p.accepted > 1000);
  assert.equal(p.lost, 0);
});
