/**
 * Standalone mode's push path: the memory push store answers synchronously,
 * so a small push is stored and routed in its own turn (router-core.ts
 * pushNow), and deliveries for the in-process gateway are handed over as
 * objects (local-gateway.ts). The guarantees of the general path hold.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { decodeMsg, encodeMsg } from '../../services/shared/bus/bus.js';
import { subjects as makeSubjects } from '../../services/shared/bus/subjects.js';
import { ManualClock } from '../../services/shared/clock.js';
import type { Delivery } from '../../services/shared/bus/messages.js';
import { LonglinkError } from '../../services/shared/errors.js';
import { FastHistogram } from '../../services/shared/fast-histogram.js';
import { keyMatcher } from '../../services/shared/bearer.js';
import { MemoryInbox } from '../../services/router/stores/memory/inbox.js';
import { MemorySessions } from '../../services/router/stores/memory/sessions.js';
import { MemoryPresence } from '../../services/router/stores/memory/presence.js';
import { MemoryPushStore } from '../../services/router/stores/memory/push-store.js';
import { Router } from '../../services/router/app.js';
import { LocalGateway } from '../../services/router/local-gateway.js';
import { BusGatewayListener } from '../../services/gateway/bus-link.js';
import { pushOutcomeJson } from '../../services/router/batch-json.js';
import type { PushOutcome } from '../../services/router/core/router-types.js';
import { createRouterMetrics } from '../../services/router/metrics.js';
import { silent } from '../helpers/log.js';

const running: Array<{ stop(): void }> = [];
afterEach(() => { for (const r of running.splice(0)) r.stop(); });

/** A standalone-shaped router (memory stores, MemoryPushStore, a local gateway "L" with one live connection per user it is told of). */
function standalone(o: { inbox?: MemoryInbox; deliverThrows?: boolean } = {}) {
  const clock = new ManualClock(1000);
  const bus = new MemoryBus();
  const s = makeSubjects('t');
  const inbox = o.inbox ?? new MemoryInbox({ clock, maxLen: 1000 });
  const presence = new MemoryPresence({ clock, leaseMs: 10_000 });
  const local = new LocalGateway();
  const router = new Router({
    bus, subjects: s, clock, log: silent, localGateway: local,
    stores: { inbox, sessions: new MemorySessions({ clock }), presence, pushStore: new MemoryPushStore(inbox, presence) },
  });
  router.start();
  running.push(router);
  const written: string[] = [];
  const online = new Set<string>();
  const listener = new BusGatewayListener({
    bus, subjects: s, gatewayId: 'L', bootId: 'boot-l', beaconIntervalMs: 60_000, wallNow: () => clock.wallNow(), presence: () => {},
    gateway: {
      deliver: (d: Delivery) => {
        if (o.deliverThrows) throw new Error('gateway bug');
        if (!online.has(d.user)) return 0;
        for (const p of d.pushes) written.push(`${d.user}:${p.seq}`);
        return 1;
      },
      control: () => 0, connections: 0, isDraining: false, allConnections: () => [], channelSubscribers: () => 0,
    },
  });
  running.push({ stop: () => listener.close() });
  local.attach('L', (ds) => listener.deliverAll(ds));
  // What crossed the bus to the gateway: nothing should, while it is attached.
  const onBus: Delivery[][] = [];
  bus.subscribe(s.deliver('L'), (m) => onBus.push(decodeMsg<{ deliveries: Delivery[] }>(m.data)!.deliveries));
  const settle = async (): Promise<void> => { for (let i = 0; i < 3; i++) await bus.flush(); };
  const connect = async (user: string): Promise<void> => {
    online.add(user);
    bus.publish(s.presence, encodeMsg({ type: 'online', user, device: 'phone', conn: `c-${user}`, session: 's', gateway: 'L', at: 1 }));
    await settle();
  };
  return { clock, bus, s, inbox, router, core: router.core, local, listener, written, onBus, settle, connect };
}

describe('standalone push path', () => {
  it('a single push is handed to the local gateway without the bus, and answers as the general path does', async () => {
    const t = standalone();
    await t.connect('u1');
    const out = await t.core.push({ users: ['u1'], data: { hi: 1 }, id: 'm1' });
    assert.deepEqual(out, { id: 'm1', results: [{ user: 'u1', seq: 1, id: 'm1', status: 'sent', connections: 1 }] });
    assert.deepEqual(t.written, ['u1:1'], 'written before the answer');
    await t.settle();
    assert.deepEqual(t.onBus, [], 'no deliver message on the bus');
    assert.equal(t.local.handedOver, 1);
    assert.equal(t.core.stats.pushes.get('sent'), 1);
    assert.equal(t.core.stats.deliveryMessages, 1);
  });

  it('the push is written to the local gateway in its own turn, before the end-of-turn flush, and answered without waiting for it', async () => {
    const t = standalone();
    await t.connect('u1');
    let immediateRan = false;
    setImmediate(() => { immediateRan = true; });
    const out = t.core.push({ users: ['u1'], data: 1 });
    assert.deepEqual(t.written, ['u1:1'], 'handed over synchronously, inside push()');
    await out;
    assert.equal(immediateRan, false, 'answered before the turn ended (no setImmediate round)');
  });

  it('pushSettled answers an in-turn push in the call, without a promise; with await_ms or the general path, a promise', async () => {
    const t = standalone();
    await t.connect('u1');
    const one = (body: unknown) => { const r = t.core.parsePush(body); assert.ok(r.ok && r.value.kind === 'single'); return [r.value.push]; };
    const now = t.core.pushSettled(one({ user: 'u1', data: 1, id: 'm1' }));
    assert.ok(Array.isArray(now), 'outcomes, not a promise');
    assert.deepEqual(now, [{ id: 'm1', results: [{ user: 'u1', seq: 1, id: 'm1', status: 'sent', connections: 1 }] }]);
    assert.deepEqual(t.written, ['u1:1']);
    const waiting = t.core.pushSettled(one({ user: 'u1', data: 2, id: 'm2', await_ms: 1000 }));
    assert.ok(waiting instanceof Promise, 'a push awaiting receipts answers later');
    assert.equal((await waiting)[0]!.results[0]!.status, 'delivered');
    // Two messages take the general path (lanes, store promises): still the same answer, as a promise.
    const r = t.core.parsePush({ messages: [{ user: 'u1', data: 3 }, { user: 'u1', data: 4 }] });
    assert.ok(r.ok && r.value.kind === 'batch');
    const batch = t.core.pushSettled(r.value.pushes);
    assert.ok(batch instanceof Promise);
    assert.deepEqual((await batch).map((o) => o.results[0]!.seq), [3, 4]);
    assert.deepEqual(t.written, ['u1:1', 'u1:2', 'u1:3', 'u1:4']);
  });

  it('a single push after a batch queued deliveries for the same user in the same turn is written after them', async () => {
    const t = standalone();
    await t.connect('u1');
    // A small batch takes the general path: its delivery waits for the end-of-turn flush.
    const batch = t.core.pushBatch([{ users: ['u1'], data: 'a' }, { users: ['u1'], data: 'b' }]);
    // Microtasks only (the end-of-turn flush is a setImmediate): the batch's store calls settle, it routes and releases its lanes.
    for (let i = 0; i < 50; i++) await Promise.resolve();
    assert.deepEqual(t.written, [], 'the batch\'s deliveries are queued, not written yet');
    const single = t.core.push({ users: ['u1'], data: 'c' });
    const [b, s] = await Promise.all([batch, single]);
    assert.deepEqual(b.map((o) => o.results[0]!.seq), [1, 2]);
    assert.equal(s.results[0]!.seq, 3);
    await t.settle();
    assert.deepEqual(t.written, ['u1:1', 'u1:2', 'u1:3'], 'per-user order: what was queued leaves first');
  });

  it('deliveries take the bus again once the local gateway is detached', async () => {
    const t = standalone();
    await t.connect('u1');
    t.local.detach();
    await t.core.push({ users: ['u1'], data: 1 });
    await t.settle();
    assert.equal(t.onBus.length, 1, 'published on the bus');
    assert.deepEqual(t.written, ['u1:1'], 'and the listener, still subscribed, wrote it');
  });

  it('a push to a user held by an unfinished big batch waits behind it: later seq, written after', async () => {
    const t = standalone();
    await t.connect('u1');
    const many = Array.from({ length: 600 }, (_, i) => `x${i}`);
    const batch = t.core.push({ users: [...many, 'u1'], data: 'big' });
    const single = t.core.push({ users: ['u1'], data: 'after' });
    const [b, s] = await Promise.all([batch, single]);
    assert.equal(b.results.at(-1)!.seq, 1);
    assert.equal(s.results[0]!.seq, 2);
    await t.settle();
    assert.deepEqual(t.written, ['u1:1', 'u1:2']);
  });

  it('concurrent single pushes to one user keep arrival order', async () => {
    const t = standalone();
    await t.connect('u1');
    const outs = await Promise.all([1, 2, 3, 4, 5].map((n) => t.core.push({ users: ['u1'], data: n })));
    assert.deepEqual(outs.map((o) => o.results[0]!.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(t.written, ['u1:1', 'u1:2', 'u1:3', 'u1:4', 'u1:5']);
  });

  it('an idempotency key stores and delivers once', async () => {
    const t = standalone();
    await t.connect('u1');
    const a = await t.core.push({ users: ['u1'], data: 1, idempotencyKey: 'k1' });
    const b = await t.core.push({ users: ['u1'], data: 1, idempotencyKey: 'k1' });
    assert.equal(a.results[0]!.status, 'sent');
    assert.deepEqual(b.results[0], { user: 'u1', seq: 1, id: a.id, status: 'duplicate', connections: 0 });
    await t.settle();
    assert.deepEqual(t.written, ['u1:1']);
  });

  it('await_ms: the local gateway\'s receipt turns sent into delivered; an offline device\'s push is stored', async () => {
    const t = standalone();
    await t.connect('u1');
    const out = await t.core.push({ users: ['u1'], data: 1, awaitMs: 1000 });
    assert.equal(out.results[0]!.status, 'delivered');
    assert.equal('receipt' in out.results[0]!, false, 'internal promises are not left in the answer');
    const off = await t.core.push({ users: ['nobody'], data: 1, awaitMs: 50 });
    assert.equal(off.results[0]!.status, 'offline');
  });

  it('acks list their pushes only while someone hears ack receipts; await "acked" still works', async () => {
    const t = standalone();
    await t.connect('u1');
    await t.core.push({ users: ['u1'], data: 1 });
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u1', 'phone', 1]] }));
    await t.settle();
    assert.equal(t.core.stats.ackReceipts, 0, 'nobody listens: nothing listed or published');
    assert.deepEqual((await t.inbox.since('u1', 0, 10)).map((r) => r.seq), [], 'the ack still moved the cursor and trimmed');
    const heard: unknown[] = [];
    t.bus.subscribe(t.s.acked, (m) => heard.push(decodeMsg<unknown>(m.data)));
    await t.core.push({ users: ['u1'], data: 2 });
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u1', 'phone', 2]] }));
    await t.settle();
    assert.equal(heard.length, 1, 'a listener gets the receipt');
    const waiting = t.core.push({ users: ['u1'], data: 3, awaitMs: 2000, awaitFor: 'acked' });
    await t.settle();
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u1', 'phone', 3]] }));
    assert.equal((await waiting).results[0]!.status, 'acked');
  });

  it('a store failure answers STORE_UNAVAILABLE and is counted', async () => {
    const clock = new ManualClock(1000);
    const inbox = new MemoryInbox({ clock });
    inbox.appendNow = () => { throw new Error('disk on fire'); };
    const t = standalone({ inbox });
    await t.connect('u1');
    await assert.rejects(t.core.push({ users: ['u1'], data: 1 }), (err: unknown) => err instanceof LonglinkError && err.status === 503);
    assert.equal(t.core.stats.storeErrors, 1);
    assert.deepEqual(t.written, []);
  });

  it('a gateway that throws does not fail the push: counted, and the router goes on', async () => {
    const t = standalone({ deliverThrows: true });
    await t.connect('u1');
    const out = await t.core.push({ users: ['u1'], data: 1 });
    assert.equal(out.results[0]!.status, 'sent');
    assert.equal(t.local.failures, 1);
    const again = await t.core.push({ users: ['u1'], data: 2 });
    assert.equal(again.results[0]!.seq, 2);
  });
});

describe('push answer without JSON.stringify', () => {
  it('is the text JSON.stringify gives, for every status and odd strings', () => {
    const outcomes: PushOutcome[] = [
      { id: 'm1', results: [{ user: 'u1', seq: 1, id: 'm1', status: 'sent', connections: 2 }] },
      { id: 'q"\\\u2028é', results: [
        { user: 'ü "x"', seq: 9007199254740991, id: 'q"\\\u2028é', status: 'duplicate', connections: 0 },
        { user: 'b', seq: 3, id: 'q', status: 'offline', connections: 0 },
      ] },
      { id: 'e', results: [] },
    ];
    for (const o of outcomes) assert.equal(pushOutcomeJson(o), JSON.stringify(o));
  });
});

describe('FastHistogram', () => {
  it('exports the text a prom-client Histogram would, for the same observations', async () => {
    const buckets = [0.001, 0.01, 0.1, 1];
    const a = new Registry(), b = new Registry();
    const ref = new Histogram({ name: 'h_seconds', help: 'help', labelNames: ['path'], buckets, registers: [a] });
    const fast = new FastHistogram({ name: 'h_seconds', help: 'help', labelNames: ['path'], buckets, registers: [b] });
    const live = fast.bind('live'), replay = fast.bind('replay');
    ref.zero({ path: 'live' });
    ref.zero({ path: 'replay' });
    for (const v of [0, 0.001, 0.0011, 0.5, 1, 3, 1e9]) { ref.observe({ path: 'live' }, v); live(v); }
    ref.observe({ path: 'replay' }, 0.02);
    replay(0.02);
    assert.equal(await b.metrics(), await a.metrics());
    live(Number.NaN);
    assert.equal(await b.metrics(), await a.metrics(), 'a value that is not a number is not counted');
    assert.equal(await Registry.merge([b, new Registry()]).metrics(), await a.metrics(), 'merged registries export it too');
  });

  it('unlabelled, and router HTTP metrics read at scrape time', async () => {
    const a = new Registry(), b = new Registry();
    const ref = new Histogram({ name: 'u', help: 'h', buckets: [1, 2], registers: [a] });
    const fast = new FastHistogram({ name: 'u', help: 'h', buckets: [2, 1], registers: [b] });
    const o = fast.bind();
    for (const v of [0.5, 1.5, 2.5]) { ref.observe(v); o(v); }
    assert.equal(await b.metrics(), await a.metrics());
    const m = createRouterMetrics({ defaultMetrics: false });
    m.observeHttp('/v1/push', 'POST', 200, 0.002);
    m.observeHttp('/v1/push', 'POST', 200, 0.02);
    m.observeHttp('/v1/push', 'BREW', 405, 0.0001);
    // Back to an earlier series (a run of equal requests counts into the last one without its key): counted there.
    m.observeHttp('/v1/push', 'POST', 200, 0.002);
    m.observeHttp('/healthz', 'GET', 200, 0.002);
    const text = await m.registry.metrics();
    assert.match(text, /^longlink_router_http_requests_total\{route="\/v1\/push",method="POST",code="200"\} 3$/m);
    assert.match(text, /^longlink_router_http_requests_total\{route="\/healthz",method="GET",code="200"\} 1$/m);
    assert.match(text, /^longlink_router_http_requests_total\{route="\/v1\/push",method="other",code="405"\} 1$/m);
    assert.match(text, /^longlink_router_http_request_duration_seconds_bucket\{le="0.005",route="\/v1\/push"\} 3$/m);
    assert.match(text, /^longlink_router_http_request_duration_seconds_count\{route="\/v1\/push"\} 4$/m);
  });
});

describe('API key check', () => {
  it('matches configured keys only, whatever the length', () => {
    const ok = keyMatcher(['key-one', 'k2']);
    assert.equal(ok('key-one'), true);
    assert.equal(ok('k2'), true);
    for (const bad of ['', 'key-on', 'key-one ', 'K2', 'x'.repeat(10_000), 'k2\u0000', 'key-one\u0000', 'key-one€', 'k2€', 'k€']) assert.equal(ok(bad), false, JSON.stringify(bad.slice(0, 20)));
    // A key of multi-byte characters, and a presented key whose bytes overflow the width only in UTF-8.
    const wide = keyMatcher(['ab', 'abc', 'é€']);
    assert.equal(wide('é€'), true);
    assert.equal(wide('ab'), true);
    for (const bad of ['ab€', 'a€', 'é', '€é', 'abc\u0000']) assert.equal(wide(bad), false, JSON.stringify(bad));
  });
});

describe('LocalGateway: a gateway that throws is reported, not silent', () => {
  it('reports the first throw at once and the rest at most once per 10 s, with their count', () => {
    let t = 0;
    const reports: { msg: string; count: number }[] = [];
    const local = new LocalGateway((err, count) => reports.push({ msg: (err as Error).message, count }), () => t);
    local.attach('gw-1', () => { throw new Error('boom'); });
    const d: Delivery[] = [];
    assert.equal(local.take('gw-1', d), true, 'taken even though the gateway threw (the bus would have dropped it too)');
    assert.deepEqual(reports, [{ msg: 'boom', count: 1 }]);
    t = 5_000; local.take('gw-1', d); local.take('gw-1', d);
    assert.equal(reports.length, 1, 'within 10 s of the last report: counted, not reported');
    t = 10_000; local.take('gw-1', d);
    assert.deepEqual(reports[1], { msg: 'boom', count: 3 }, 'the next report carries the throws it covers');
    assert.equal(local.failures, 4);
    assert.equal(local.take('gw-2', d), false, 'another gateway id goes on the bus');
  });
});
