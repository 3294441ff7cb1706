/**
 * Scenario 4 on real namespaces: a gateway's link to the backend (NATS) is
 * cut, silently, for longer than the presence lease. /readyz goes unready,
 * its clients keep working after the heal (or move), no accepted push lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gatewayPartition } from '../../infra/netns/scenarios/network.js';

test('a gateway partitioned from the backend: unready, then back; no accepted push lost', { timeout: 180_000 }, async () => {
  const f = await gatewayPartition({ partitionMs: 8000 });
  console.log(JSON.stringify(f));
  assert.ok((f.clientsOnGw0 as number) >= 1, 'some clients were on the partitioned gateway');
  assert.ok((f.gw0UnreadyAfterMs as number) <= 5000, `gw0 unready after ${f.gw0UnreadyAfterMs} ms`);
  assert.ok((f.gw0ReadyzDuring as number[]).includes(503));
  assert.equal(f.gw1ReadyzDuring, 200);
  assert.ok((f.gw0ReadyAfterHealMs as number) <= 10_000, `ready again ${f.gw0ReadyAfterHealMs} ms after the heal`);
  assert.equal((f.gw0ClientsStayedConnected as number) + (f.gw0ClientsMoved as number) >= (f.clientsOnGw0 as number), true, 'every client stayed or moved');
  const p = f.pushes as { accepted: number; lost: number };
  assert.ok(p.accepted > 100);
  assert.equal(p.lost, 0);
});
