/**
 * The end of the router's delivery turn hands the coalesced deliveries to
 * the bus's connection at once (RouterOutbound.delivered → Bus.handOver):
 * on a bus that sends a turn's publishes together at the end of the turn
 * (nats-bus.ts), they would otherwise wait for the next loop iteration, a
 * wake-up and a write later than the push's answer.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import type { Bus, BusMessage, Headers, Subscription } from '../../services/shared/bus/bus.js';
import { TurnQueue } from '../../services/shared/bus/turn-queue.js';
import { subjects as makeSubjects } from '../../services/shared/bus/subjects.js';
import { ManualClock } from '../../services/shared/clock.js';
import { MemoryInbox } from '../../services/router/stores/memory/inbox.js';
import { MemorySessions } from '../../services/router/stores/memory/sessions.js';
import { MemoryPresence } from '../../services/router/stores/memory/presence.js';
import { Router } from '../../services/router/app.js';
import { FakeGateway } from '../helpers/router-harness.js';
import { silent } from '../helpers/log.js';

/** The memory bus behind a per-turn publish queue, handed over early by handOver() (nats-bus.ts's contract). */
class TurnBus implements Bus {
  /** Subjects as they reached the connection (the inner bus). */
  readonly sent: string[] = [];
  private readonly turn = new TurnQueue<{ subject: string; data: Uint8Array; headers: Headers | undefined }>((items) => {
    for (const m of items) { this.sent.push(m.subject); this.inner.publish(m.subject, m.data, m.headers); }
  });
  constructor(readonly inner: MemoryBus) {}
  publish(subject: string, data: Uint8Array, headers?: Headers): void { this.turn.push({ subject, data, headers }); }
  handOver(): void { this.turn.flush(); }
  subscribe(subject: string, handler: (msg: BusMessage) => void, opts?: { queue?: string }): Subscription { this.turn.flush(); return this.inner.subscribe(subject, handler, opts); }
  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: Headers }): Promise<BusMessage> { this.turn.flush(); return this.inner.request(subject, data, opts); }
  respond(to: BusMessage, data: Uint8Array, headers?: Headers): void { this.publish(to.reply!, data, headers); }
  async flush(): Promise<void> { this.turn.flush(); await this.inner.flush(); }
  async close(): Promise<void> { this.turn.flush(); await this.inner.close(); }
}

let stop: (() => void) | undefined;
afterEach(() => { stop?.(); stop = undefined; });

describe('delivery handover', () => {
  it('a push\'s coalesced deliveries reach the bus connection by the time the push is answered', async () => {
    const clock = new ManualClock(1000);
    const inner = new MemoryBus();
    const bus = new TurnBus(inner);
    const s = makeSubjects('t');
    const router = new Router({
      bus, subjects: s, clock, log: silent,
      stores: { inbox: new MemoryInbox({ clock, maxLen: 100 }), sessions: new MemorySessions({ clock }), presence: new MemoryPresence({ clock, leaseMs: 10_000 }) },
    });
    router.start();
    stop = () => router.stop();
    const a = new FakeGateway(inner, s, 'A'), b = new FakeGateway(inner, s, 'B');
    a.presence('online', 'u1', 'phone', 'c1');
    b.presence('online', 'u2', 'phone', 'c2');
    for (let i = 0; i < 3; i++) await bus.flush();
    bus.sent.length = 0;
    const [o1, o2] = await Promise.all([router.core.push({ users: ['u1'], data: 1 }), router.core.push({ users: ['u2', 'u1'], data: 2 })]);
    assert.deepEqual([o1.results.map((r) => r.status), o2.results.map((r) => r.status)], [['sent'], ['sent', 'sent']]);
    // Answered once the turn's deliveries are published: by then they are on the connection, one message per gateway.
    assert.deepEqual(bus.sent.filter((x) => x.endsWith('.deliver')).sort(), [s.deliver('A'), s.deliver('B')]);
    await inner.flush();
    assert.deepEqual(a.pushes(), ['u1:1', 'u1:2']);
    assert.deepEqual(b.pushes(), ['u2:1']);
  });
});
