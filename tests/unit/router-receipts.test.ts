import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { decodeMsg, encodeMsg } from '../../services/shared/bus/bus.js';
import { subjects as makeSubjects } from '../../services/shared/bus/subjects.js';
import type { Delivery, DeliveryReceipt, PresenceEvent } from '../../services/shared/bus/messages.js';
import { systemClock } from '../../services/shared/clock.js';
import { Router } from '../../services/router/app.js';
import { MemoryInbox } from '../../services/router/stores/memory/inbox.js';
import { MemorySessions } from '../../services/router/stores/memory/sessions.js';
import { MemoryPresence } from '../../services/router/stores/memory/presence.js';
import { silent } from '../helpers/log.js';

const flush = () => new Promise<void>((r) => setTimeout(r, 5));

describe('push with await_ms (delivery receipts)', () => {
  it('reports delivered when a gateway confirms, stored when none does in time, offline when no one is connected', async () => {
    const bus = new MemoryBus();
    const s = makeSubjects();
    const router = new Router({
      bus, subjects: s, clock: systemClock, log: silent,
      stores: { inbox: new MemoryInbox({ clock: systemClock }), sessions: new MemorySessions({ clock: systemClock }), presence: new MemoryPresence({ clock: systemClock }) },
    });
    router.start();
    const seen: Delivery[] = [];
    // gw-ok confirms every delivery that asks; gw-mute never does (e.g. the socket just died).
    for (const gw of ['gw-ok', 'gw-mute']) {
      bus.subscribe(s.deliver(gw), (m) => {
        for (const d of decodeMsg<{ deliveries: Delivery[] }>(m.data)!.deliveries) {
          seen.push(d);
          if (gw === 'gw-ok' && d.receipt) {
            const r: DeliveryReceipt = { user: d.user, seqs: d.pushes.map((p) => p.seq), gateway: gw };
            bus.publish(d.receipt, encodeMsg(r));
          }
        }
      });
    }
    const online = (user: string, gateway: string, conn: string): void => {
      const ev: PresenceEvent = { type: 'online', user, device: 'd', conn, session: 's', gateway, at: Date.now() };
      bus.publish(s.presence, encodeMsg(ev));
    };
    online('alice', 'gw-ok', 'c1');
    online('bob', 'gw-mute', 'c2');
    await flush();
    const t0 = Date.now();
    const out = await router.core.push({ users: ['alice', 'bob', 'carol'], data: { x: 1 }, awaitMs: 300 });
    const status = Object.fromEntries(out.results.map((r) => [r.user, r.status]));
    assert.deepEqual(status, { alice: 'delivered', bob: 'stored', carol: 'offline' });
    assert.ok(Date.now() - t0 >= 280, 'waited for the missing receipt');
    assert.ok(out.results.every((r) => !('receipt' in r)), 'no internal fields leak into results');
    assert.ok(seen.every((d) => typeof d.receipt === 'string'));
    // Without await_ms, deliveries carry no receipt subject and results say sent.
    const plain = await router.core.push({ users: ['alice'], data: 1 });
    assert.equal(plain.results[0]!.status, 'sent');
    await flush();
    assert.equal(seen.at(-1)!.receipt, undefined);
    assert.equal(router.stats.pushes.get('delivered'), 1);
    assert.equal(router.stats.pushes.get('stored'), 1);
    router.stop();
    await bus.close();
  });
});
