/**
 * The gateway's bus link with a real GatewayCore over the in-memory bus:
 * re-announcement on `sync` (all gateways, or this one only), each
 * re-announced connection naming its watermark, one still starting announced
 * only once its start succeeds (never if it fails), and malformed sync
 * messages counted, not thrown.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { decodeMsg, encodeMsg, type BusMessage } from '../../services/shared/bus/bus.js';
import { subjects as makeSubjects } from '../../services/shared/bus/subjects.js';
import type { FetchRequest, PresenceEvent, ResumeRequest } from '../../services/shared/bus/messages.js';
import { LonglinkError } from '../../services/shared/errors.js';
import { ManualClock } from '../../services/shared/clock.js';
import { BusGatewayLink, BusGatewayListener } from '../../services/gateway/bus-link.js';
import { GatewayCore } from '../../services/gateway/core/gateway-core.js';
import type { Handshake } from '../../services/gateway/core/ports.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';
import { silent } from '../helpers/log.js';

const links: Array<BusGatewayLink | BusGatewayListener> = [];
afterEach(async () => { for (const l of links.splice(0).reverse()) await l.close(); });

function setup() {
  const bus = new MemoryBus();
  const s = makeSubjects('t');
  const clock = new ManualClock(0);
  const link = new BusGatewayLink({ bus, subjects: s, resumeTimeoutMs: 5000, ackFlushMs: 50 });
  links.push(link);
  let n = 0;
  const core = new GatewayCore({
    options: {
      gatewayId: 'gwA', hb: { minMs: 1000, maxMs: 60_000, defaultMs: 10_000, graceMs: 2000, check: true, log: false }, wheel: { tickMs: 100, size: 512 },
      limits: { maxPayload: 1024, ratePerSec: 10, burst: 20, sendBufferBound: 1000, writeTimeoutMs: 3000 },
      admission: { maxConnections: 100, connectRate: 1000, connectBurst: 1000, maxStarting: 100, startTargetMs: 1000, resumeTimeoutMs: 5000, sourceRate: 0, sourceBurst: 1 }, drain: { windowMs: 1000, reconnectJitterMs: 500 },
    },
    clock, ids: { next: () => `c${++n}` }, link, log: silent,
  });
  const listener = new BusGatewayListener({ bus, subjects: s, gatewayId: 'gwA', bootId: 'boot', beaconIntervalMs: 60_000, wallNow: () => clock.wallNow(), gateway: core, presence: (ev) => link.presence(ev) });
  links.push(listener);
  // A router stand-in: answers resumes at once, except for users "slow…" (held until released).
  const held: BusMessage[] = [];
  bus.subscribe(s.resume, (m) => {
    const req = decodeMsg<ResumeRequest>(m.data)!;
    if (req.user.startsWith('slow')) { held.push(m); return; }
    bus.respond(m, encodeMsg({ session: `s-${req.user}`, resumed: false, latestSeq: 0, pushes: [] }));
  });
  const events: PresenceEvent[] = [];
  let beacons = 0;
  bus.subscribe(s.presence, (m) => events.push(decodeMsg<PresenceEvent>(m.data)!));
  bus.subscribe(s.beacon, () => { beacons++; });
  const hs = (user: string): Handshake => ({ user, device: 'd1', tokenExpiresAt: Infinity, requestedIntervalMs: undefined, session: undefined, lastSeq: undefined });
  const settle = async (): Promise<void> => { for (let i = 0; i < 4; i++) await bus.flush(); };
  return { bus, s, link, listener, core, events, hs, settle, held, beacons: () => beacons };
}

describe('gateway bus link', () => {
  it('acks go to an in-process taker as they are when one is set (standalone), on the bus otherwise', async () => {
    const t = setup();
    const onBus: unknown[] = [];
    t.bus.subscribe(t.s.acks, (m) => onBus.push(decodeMsg<unknown>(m.data)));
    const taken: unknown[] = [];
    t.link.handAcksTo((acks) => taken.push(acks));
    t.link.ack('u1', 'd1', 3);
    t.link.ack('u1', 'd1', 5, 7);
    t.link.ack('u2', 'd1', 1);
    t.link.flushAcks();
    await t.settle();
    assert.deepEqual(taken, [[['u1', 'd1', 5, 7], ['u2', 'd1', 1]]]);
    assert.deepEqual(onBus, []);
    t.link.handAcksTo(undefined);
    t.link.ack('u3', 'd1', 2);
    t.link.flushAcks();
    await t.settle();
    assert.deepEqual(onBus, [{ acks: [['u3', 'd1', 2]] }]);
    assert.equal(taken.length, 1);
  });

  it('answers sync for all gateways or for this one, naming each connection\'s watermark; ignores others', async () => {
    const t = setup();
    t.core.open(new FakeClientSocket(), t.hs('alice'));
    t.core.open(new FakeClientSocket(), t.hs('slow'));
    await t.settle();
    t.bus.publish(t.s.deliver('gwA'), encodeMsg({ deliveries: [{ user: 'alice', pushes: [{ seq: 1, id: 'm1', ts: 1, data: '1' }, { seq: 2, id: 'm2', ts: 1, data: '2' }] }] }));
    await t.settle();
    const announced = (): Array<[string, number | undefined]> => t.events.map((e): [string, number | undefined] => [e.user, e.seq]).sort();

    t.bus.publish(t.s.sync, encodeMsg({ gateway: 'gwB' }));
    await t.settle();
    assert.equal(t.events.length, 0, 'a sync for another gateway is not ours');

    const beaconsBefore = t.beacons();
    t.bus.publish(t.s.sync, encodeMsg({ gateway: 'gwA' }));
    await t.settle();
    assert.deepEqual(announced(), [['alice', 2]], 'alice has seq 2; slow is still starting: not yet');
    assert.ok(t.events.every((e) => e.type === 'online' && e.gateway === 'gwA'));
    assert.equal(t.beacons(), beaconsBefore + 1, 'a beacon goes first');

    t.events.length = 0;
    t.bus.publish(t.s.sync, new Uint8Array(0));
    await t.settle();
    assert.deepEqual(announced(), [['alice', 2]], 'an empty sync means every gateway');

    t.events.length = 0;
    const bad = t.listener.badMessages;
    t.bus.publish(t.s.sync, new TextEncoder().encode('not json'));
    await t.settle();
    assert.equal(t.events.length, 0);
    assert.equal(t.listener.badMessages, bad + 1);
  });

  it('a connection still starting at a sync is announced once its start succeeds, never when it fails (no unstamped online to displace a newer one)', async () => {
    const t = setup();
    const ok = new FakeClientSocket(), failed = new FakeClientSocket();
    t.core.open(ok, t.hs('slow'));
    t.core.open(failed, t.hs('slow-b'));
    await t.settle();
    t.bus.publish(t.s.sync, new Uint8Array(0));
    await t.settle();
    assert.equal(t.events.length, 0, 'both still starting: nothing announced');
    // The router answers the first; the second is refused (the gateway closes it, the client retries elsewhere).
    t.bus.respond(t.held[0]!, encodeMsg({ session: 's-slow', resumed: false, latestSeq: 0, pushes: [] }));
    t.bus.respond(t.held[1]!, encodeMsg({ error: { code: 'LL_ROUTER_OVERLOADED', message: 'full', retryAfterMs: 500 } }));
    await t.settle();
    assert.equal(failed.ended?.code, 1013);
    const onlines = (): PresenceEvent[] => t.events.filter((e) => e.type === 'online');
    assert.equal(onlines().length, 1, `one announcement, none for the failed start: ${JSON.stringify(t.events)}`);
    assert.deepEqual({ ...onlines()[0]!, at: 0 }, { type: 'online', user: 'slow', device: 'd1', conn: 'c1', session: 's-slow', gateway: 'gwA', at: 0, seq: 0 });
    assert.equal(onlines()[0]!.start, undefined, 'a re-announcement: no start stamp');
    t.events.length = 0;
    t.bus.publish(t.s.sync, new Uint8Array(0));
    await t.settle();
    assert.deepEqual(onlines().map((e) => e.conn), ['c1'], 'started now: announced at every sync');
  });

  it('fetch (replay page, gap repair) is its own request, not a resume; router errors come back typed', async () => {
    const { bus, s, link } = setup();
    const asked: unknown[] = [];
    bus.subscribe(s.fetch, (m) => {
      const req = decodeMsg<FetchRequest>(m.data)!;
      asked.push(req);
      if (req.user === 'busy') bus.respond(m, encodeMsg({ error: { code: 'LL_ROUTER_OVERLOADED', message: 'full', retryAfterMs: 500 } }));
      else bus.respond(m, encodeMsg({ latestSeq: 9, pushes: [{ seq: 8, id: 'm8', ts: 1, data: '8' }] }));
    });
    const r = await link.fetch({ user: 'alice', device: 'd1', afterSeq: 7 }, 1000);
    assert.deepEqual(r, { latestSeq: 9, pushes: [{ seq: 8, id: 'm8', ts: 1, data: '8' }] });
    assert.equal(asked.length, 1);
    const { sentAt, clock, ...req } = asked[0] as { sentAt: number; clock: string };
    assert.deepEqual(req, { user: 'alice', device: 'd1', afterSeq: 7, timeoutMs: 1000 }, 'the router gets the wait budget');
    assert.ok(Math.abs(sentAt - Date.now()) < 5000 && typeof clock === 'string' && clock.length > 0, `and the send stamp: ${sentAt} on ${clock}`);
    await assert.rejects(link.fetch({ user: 'busy', device: 'd1', afterSeq: 0 }, 1000), (e: unknown) => e instanceof LonglinkError && e.code === 'LL_ROUTER_OVERLOADED' && e.retryAfterMs === 500);
  });

  it('a resume no router answers in time rejects ROUTER_TIMEOUT (overload: 1013); no router listening, or a router error, stays what it was (1011)', async () => {
    const t = setup();
    // Taken by the stand-in ("slow…" is held), never answered.
    await assert.rejects(t.link.resume({ user: 'slow-t', device: 'd1', gateway: 'gwA', conn: 'c9', session: undefined, lastSeq: undefined }, 30),
      (e: unknown) => e instanceof LonglinkError && e.code === 'LL_ROUTER_TIMEOUT' && /30 ms/.test(e.message));
    // No subscriber at all: the bus says so at once, and it is not a timeout.
    const bare = new BusGatewayLink({ bus: new MemoryBus(), subjects: t.s, resumeTimeoutMs: 5000, ackFlushMs: 50 });
    links.push(bare);
    await assert.rejects(bare.resume({ user: 'u', device: 'd1', gateway: 'gwA', conn: 'c8', session: undefined, lastSeq: undefined }, 1000),
      (e: unknown) => !(e instanceof LonglinkError) && /no responders/.test(String(e)));
    // A router's error answer keeps its code (a store error is a failure, not overload).
    const bus = new MemoryBus();
    bus.subscribe(t.s.resume, (m) => bus.respond(m, encodeMsg({ error: { code: 'LL_STORE_UNAVAILABLE', message: 'down' } })));
    const erring = new BusGatewayLink({ bus, subjects: t.s, resumeTimeoutMs: 5000, ackFlushMs: 50 });
    links.push(erring);
    await assert.rejects(erring.resume({ user: 'u', device: 'd1', gateway: 'gwA', conn: 'c7', session: undefined, lastSeq: undefined }, 1000),
      (e: unknown) => e instanceof LonglinkError && e.code === 'LL_STORE_UNAVAILABLE');
  });

  it('upstream headers carry client-controlled ids percent-encoded: no control character, CR/LF or space raw', async () => {
    const { bus, s, link } = setup();
    const got: BusMessage[] = [];
    bus.subscribe(s.upstream('>'), (m) => got.push(m));
    await link.upstream({ user: 'eve\r\nInjected: 1\u0000\u0007 x%', device: 'ph\u00e9', conn: 'c1', gateway: 'gwA', topic: 't', id: 'u1', data: null });
    await link.upstream({ user: 'alice', device: 'phone-1', conn: 'c2', gateway: 'gwA', topic: 't', id: 'u2', data: null });
    await new Promise((r) => setImmediate(r));
    const h = got[0]!.headers!;
    assert.equal(h['longlink-user'], 'eve%0D%0AInjected:%201%00%07%20x%25');
    assert.equal(decodeURIComponent(h['longlink-user']!), 'eve\r\nInjected: 1\u0000\u0007 x%', 'reversible');
    assert.equal(h['longlink-device'], 'ph%C3%A9');
    for (const v of Object.values(h)) assert.match(v, /^[\x21-\x7e]*$/);
    assert.deepEqual(got[1]!.headers, { 'longlink-user': 'alice', 'longlink-device': 'phone-1', 'longlink-conn': 'c2', 'longlink-gateway': 'gwA' }, 'plain ids unchanged');
  });
});
