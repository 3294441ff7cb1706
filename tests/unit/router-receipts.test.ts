import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { decodeMsg, encodeMsg } from '../../services/shared/bus/bus.js';
import { subjects as makeSubjects } from '../../services/shared/bus/subjects.js';
import type { AckEvent, Delivery, DeliveryReceipt, PresenceEvent } from '../../services/shared/bus/messages.js';
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

  it('await "acked": acked once a device acks (on any router), delivered when written but not acked in time; every ack leaves on the acked subject', async () => {
    const bus = new MemoryBus();
    const s = makeSubjects();
    const mk = () => new Router({
      bus, subjects: s, clock: systemClock, log: silent,
      stores: { inbox, sessions: new MemorySessions({ clock: systemClock }), presence },
    });
    const inbox = new MemoryInbox({ clock: systemClock });
    const presence = new MemoryPresence({ clock: systemClock });
    // Two routers share the stores: acks go to the queue group, so the one applying an ack may not be the one awaiting it.
    const routers = [mk(), mk()];
    for (const r of routers) r.start();
    const events: AckEvent[] = [];
    bus.subscribe(s.acked, (m) => { events.push(decodeMsg<AckEvent>(m.data)!); });
    bus.subscribe(s.deliver('gw'), (m) => {
      for (const d of decodeMsg<{ deliveries: Delivery[] }>(m.data)!.deliveries) {
        if (d.receipt) bus.publish(d.receipt, encodeMsg({ user: d.user, seqs: d.pushes.map((p) => p.seq), gateway: 'gw' } satisfies DeliveryReceipt));
      }
    });
    const ev: PresenceEvent = { type: 'online', user: 'ann', device: 'phone', conn: 'c1', session: 's', gateway: 'gw', at: Date.now() };
    bus.publish(s.presence, encodeMsg(ev));
    await flush();
    const acks = (seq: number): void => bus.publish(s.acks, encodeMsg({ acks: [['ann', 'phone', seq]] }));

    let settled = false;
    const pending = routers[0]!.core.push({ users: ['ann'], data: 1, id: 'm-1', awaitMs: 3000, awaitFor: 'acked' }).then((o) => { settled = true; return o; });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(settled, false, 'written is not enough: it waits for the ack');
    for (let i = 0; i < 2; i++) acks(1); // the queue group hands the acks to each router in turn
    const out = await pending;
    assert.equal(out.results[0]!.status, 'acked');
    assert.ok(!('ackReceipt' in out.results[0]!));
    assert.deepEqual(events.map(({ ts: _, ...e }) => e), [{ user: 'ann', device: 'phone', seq: 1, id: 'm-1' }], 'one receipt, for the push the ack newly covered');
    assert.ok(Math.abs(events[0]!.ts - Date.now()) < 5000);

    const t0 = Date.now();
    const late = await routers[1]!.core.push({ users: ['ann', 'nobody'], data: 2, awaitMs: 200, awaitFor: 'acked' });
    assert.deepEqual(late.results.map((r) => r.status), ['delivered', 'offline'], 'written but not acked within await_ms');
    assert.ok(Date.now() - t0 >= 190);
    // A later cumulative ack still reports the push, asynchronously.
    acks(2);
    acks(2);
    await flush();
    assert.deepEqual(events.map((e) => e.seq), [1, 2]);
    assert.equal(routers[0]!.stats.pushes.get('acked'), 1);
    assert.equal(routers[1]!.stats.pushes.get('delivered'), 1);
    assert.equal(routers[0]!.stats.ackReceipts + routers[1]!.stats.ackReceipts, 2);
    for (const r of routers) r.stop();
    await bus.close();
  });

  it('LONGLINK_ACK_RECEIPTS=await: receipts only while some router awaits one (a lease renewed while it waits), and await "acked" works across routers', async () => {
    const bus = new MemoryBus();
    const s = makeSubjects();
    const inbox = new MemoryInbox({ clock: systemClock });
    const presence = new MemoryPresence({ clock: systemClock });
    const mk = () => new Router({
      bus, subjects: s, clock: systemClock, log: silent, options: { ackReceipts: 'await' }, ackInterestMs: 300,
      stores: { inbox, sessions: new MemorySessions({ clock: systemClock }), presence },
    });
    const routers = [mk(), mk()];
    for (const r of routers) r.start();
    const events: AckEvent[] = [];
    bus.subscribe(s.acked, (m) => { events.push(decodeMsg<AckEvent>(m.data)!); });
    const ev: PresenceEvent = { type: 'online', user: 'ann', device: 'phone', conn: 'c1', session: 's', gateway: 'gw', at: Date.now() };
    bus.publish(s.presence, encodeMsg(ev));
    await flush();
    // Both routers apply each ack once (the queue group alternates): whichever gets it publishes or not.
    const acks = async (seq: number): Promise<void> => {
      for (let i = 0; i < 2; i++) bus.publish(s.acks, encodeMsg({ acks: [['ann', 'phone', seq]] }));
      await flush();
    };
    await routers[0]!.core.push({ users: ['ann'], data: 1 });
    await acks(1);
    assert.equal(events.length, 0, 'nobody awaits: no receipt');
    // A push awaiting "acked" on router 1 makes both routers publish receipts; it waits 3 s, so the lease (300 ms) is renewed.
    let settled = false;
    const pending = routers[1]!.core.push({ users: ['ann'], data: 2, id: 'm-2', awaitMs: 3000, awaitFor: 'acked' }).then((o) => { settled = true; return o; });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(settled, false);
    await acks(2);
    const out = await pending;
    assert.equal(out.results[0]!.status, 'acked');
    assert.deepEqual(events.map((e) => [e.seq, e.id]), [[2, 'm-2']]);
    // Once nothing waits and the lease ran out, acks publish nothing again.
    await new Promise((r) => setTimeout(r, 400));
    await routers[0]!.core.push({ users: ['ann'], data: 3 });
    await acks(3);
    assert.equal(events.length, 1);
    assert.equal(await inbox.acked('ann', 'phone'), 3, 'acks still move the cursor');
    for (const r of routers) r.stop();
    await bus.close();
  });

  it('with LONGLINK_ACK_RECEIPTS off, acks move cursors and publish nothing', async () => {
    const bus = new MemoryBus();
    const s = makeSubjects();
    const inbox = new MemoryInbox({ clock: systemClock });
    const router = new Router({
      bus, subjects: s, clock: systemClock, log: silent, options: { ackReceipts: false },
      stores: { inbox, sessions: new MemorySessions({ clock: systemClock }), presence: new MemoryPresence({ clock: systemClock }) },
    });
    router.start();
    const events: unknown[] = [];
    bus.subscribe(s.acked, (m) => { events.push(m); });
    await router.core.push({ users: ['ann'], data: 1 });
    bus.publish(s.acks, encodeMsg({ acks: [['ann', 'phone', 1]] }));
    await flush();
    assert.equal(await inbox.acked('ann', 'phone'), 1);
    assert.deepEqual([events.length, router.stats.ackReceipts], [0, 0]);
    router.stop();
    await bus.close();
  });

  it('"await" is validated: only delivered or acked, and only with await_ms', () => {
    const bus = new MemoryBus();
    const router = new Router({
      bus, subjects: makeSubjects(), clock: systemClock, log: silent,
      stores: { inbox: new MemoryInbox({ clock: systemClock }), sessions: new MemorySessions({ clock: systemClock }), presence: new MemoryPresence({ clock: systemClock }) },
    });
    const bad = (body: unknown): string => { const r = router.core.parsePush(body); assert.equal(r.ok, false); return r.ok ? '' : r.message; };
    assert.equal(bad({ user: 'a', data: 1, await: 'read', await_ms: 10 }), 'await: must be "delivered" or "acked"');
    assert.equal(bad({ user: 'a', data: 1, await: 'acked' }), 'await: needs "await_ms" (how long to wait, 1-30000 ms)');
    const off = new Router({
      bus, subjects: makeSubjects(), clock: systemClock, log: silent, options: { ackReceipts: false },
      stores: { inbox: new MemoryInbox({ clock: systemClock }), sessions: new MemorySessions({ clock: systemClock }), presence: new MemoryPresence({ clock: systemClock }) },
    });
    const r = off.core.parsePush({ user: 'a', data: 1, await: 'acked', await_ms: 10 });
    assert.ok(!r.ok && r.message.endsWith('await: "acked" needs ack receipts, which are off on this router (LONGLINK_ACK_RECEIPTS)'));
    const ok = router.core.parsePush({ user: 'a', data: 1, await_ms: 10 });
    assert.ok(ok.ok && ok.value.kind === 'single' && ok.value.push.awaitFor === 'delivered', 'await_ms alone waits for delivery, as before');
  });
});
