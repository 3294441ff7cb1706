import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { decodeMsg, encodeMsg } from '../../services/shared/bus/bus.js';
import { subjects as makeSubjects, type Subjects } from '../../services/shared/bus/subjects.js';
import { ManualClock } from '../../services/shared/clock.js';
import { LonglinkError } from '../../services/shared/errors.js';
import type { ControlCommand, Delivery, ResumeReply, ResumeRequest } from '../../services/gateway/core/ports.js';
import { MemoryInbox } from '../../services/router/core/inbox-memory.js';
import { MemorySessions } from '../../services/router/core/sessions-memory.js';
import { MemoryPresence } from '../../services/router/core/presence-memory.js';
import type { Inbox } from '../../services/router/core/inbox.js';
import type { Presence } from '../../services/router/core/presence.js';
import { RouterCore, type OfflineNotice, type PushOutcome, type RouterCoreOptions } from '../../services/router/core/router-core.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** Subscribes to one gateway's deliver and control subjects, and speaks for it on the bus. */
class FakeGateway {
  readonly messages: Delivery[][] = [];
  readonly controls: ControlCommand[] = [];
  constructor(private readonly bus: MemoryBus, private readonly s: Subjects, readonly id: string) {
    bus.subscribe(s.deliver(id), (m) => this.messages.push(decodeMsg<{ deliveries: Delivery[] }>(m.data)!.deliveries));
    bus.subscribe(s.control(id), (m) => this.controls.push(decodeMsg<ControlCommand>(m.data)!));
  }
  beacon(boot = 'boot-1', connections = 0): void {
    this.bus.publish(this.s.beacon, encodeMsg({ gateway: this.id, boot, connections, draining: false, at: 1 }));
  }
  presence(type: 'online' | 'offline', user: string, device: string, conn: string, session = 's'): void {
    this.bus.publish(this.s.presence, encodeMsg({ type, user, device, conn, session, gateway: this.id, at: 1 }));
  }
  /** Every push this gateway was sent, flattened: "user:seq". */
  pushes(): string[] {
    return this.messages.flat().flatMap((d) => d.pushes.map((p) => `${d.user}:${p.seq}`));
  }
}

interface Setup {
  clock: ManualClock;
  bus: MemoryBus;
  s: Subjects;
  inbox: Inbox;
  sessions: MemorySessions;
  presence: Presence;
  core: RouterCore;
  gw(id: string): FakeGateway;
  settle(): Promise<void>;
}

const running: RouterCore[] = [];
afterEach(() => { for (const c of running.splice(0)) c.stop(); });

function setup(o: { options?: Partial<RouterCoreOptions>; inbox?: (i: Inbox) => Inbox; presence?: (p: Presence) => Presence } = {}): Setup {
  const clock = new ManualClock(1000);
  const bus = new MemoryBus();
  const s = makeSubjects('t');
  const baseInbox = new MemoryInbox({ clock, maxLen: 100 });
  const inbox = o.inbox ? o.inbox(baseInbox) : baseInbox;
  const sessions = new MemorySessions({ clock });
  const basePresence = new MemoryPresence({ clock, leaseMs: 10_000 });
  const presence = o.presence ? o.presence(basePresence) : basePresence;
  const core = new RouterCore({ bus, subjects: s, inbox, sessions, presence, clock, log: silent, ...(o.options ? { options: o.options } : {}) });
  core.start();
  running.push(core);
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) await bus.flush();
  };
  return { clock, bus, s, inbox, sessions, presence, core, gw: (id) => new FakeGateway(bus, s, id), settle };
}

async function resume(t: Setup, req: Partial<ResumeRequest> & { user: string; device: string }): Promise<ResumeReply> {
  const m = await t.bus.request(t.s.resume, encodeMsg({ gateway: 'gwX', conn: 'cX', ...req }), { timeoutMs: 1000 });
  return decodeMsg<ResumeReply>(m.data)!;
}

describe('RouterCore push', () => {
  it('sends to an online user through its gateway', async () => {
    const t = setup();
    const a = t.gw('A');
    a.presence('online', 'u1', 'phone', 'c1');
    await t.settle();
    const out = await t.core.push({ users: ['u1'], data: { hi: 1 }, id: 'm1' });
    assert.deepEqual(out, { id: 'm1', results: [{ user: 'u1', seq: 1, id: 'm1', status: 'sent', connections: 1 }] });
    await t.settle();
    assert.deepEqual(a.messages, [[{ user: 'u1', pushes: [{ seq: 1, id: 'm1', ts: t.clock.wallNow(), data: '{"hi":1}' }] }]]);
    assert.equal(t.core.stats.pushes.get('sent'), 1);
  });

  it('keeps an offline user\'s push in the inbox and publishes an offline notice', async () => {
    const t = setup();
    const notices: OfflineNotice[] = [];
    t.bus.subscribe(t.s.offline, (m) => notices.push(decodeMsg<OfflineNotice>(m.data)!));
    const out = await t.core.push({ users: ['u9'], data: 'x' });
    assert.equal(out.results[0]!.status, 'offline');
    assert.match(out.id, /^[0-9a-f-]{36}$/, 'a generated id');
    await t.settle();
    assert.deepEqual(notices, [{ user: 'u9', seq: 1, id: out.id, ts: t.clock.wallNow() }]);
    assert.deepEqual((await t.inbox.since('u9', 0, 10)).map((r) => r.data), ['"x"']);
  });

  it('groups a multi-user push into one message per gateway', async () => {
    const t = setup();
    const [a, b] = [t.gw('A'), t.gw('B')];
    a.presence('online', 'u1', 'phone', 'c1');
    a.presence('online', 'u2', 'phone', 'c2');
    b.presence('online', 'u3', 'phone', 'c3');
    a.presence('online', 'u5', 'phone', 'c5');
    b.presence('online', 'u5', 'tablet', 'c6');
    await t.settle();
    const out = await t.core.push({ users: ['u1', 'u2', 'u3', 'u4', 'u5', 'u1'], data: 1 });
    assert.deepEqual(out.results.map((r) => [r.user, r.status, r.connections]), [
      ['u1', 'sent', 1], ['u2', 'sent', 1], ['u3', 'sent', 1], ['u4', 'offline', 0], ['u5', 'sent', 2],
    ]);
    await t.settle();
    assert.equal(a.messages.length, 1);
    assert.equal(b.messages.length, 1);
    assert.deepEqual(a.pushes(), ['u1:1', 'u2:1', 'u5:1']);
    assert.deepEqual(b.pushes(), ['u3:1', 'u5:1']);
  });

  it('a batch goes out as one message per gateway, pushes in seq order', async () => {
    const t = setup();
    const a = t.gw('A');
    a.presence('online', 'u1', 'phone', 'c1');
    await t.settle();
    const out = await t.core.pushBatch([{ users: ['u1'], data: 1 }, { users: ['u1', 'u2'], data: 2 }]);
    assert.deepEqual(out.map((o) => o.results.map((r) => `${r.user}:${r.seq}:${r.status}`)), [['u1:1:sent'], ['u1:2:sent', 'u2:1:offline']]);
    await t.settle();
    assert.equal(a.messages.length, 1);
    assert.deepEqual(a.pushes(), ['u1:1', 'u1:2']);
  });

  it('publishes one user\'s concurrent pushes in seq order even when lookups finish out of order', async () => {
    let n = 0;
    const t = setup({
      presence: (p) => Object.assign(Object.create(p) as Presence, {
        lookup: async (u: string) => {
          const delay = [15, 1, 8, 3, 12][n++ % 5]!;
          await new Promise((r) => setTimeout(r, delay));
          return p.lookup(u);
        },
      }),
    });
    const a = t.gw('A');
    a.presence('online', 'u1', 'phone', 'c1');
    await t.settle();
    await Promise.all(Array.from({ length: 10 }, (_, i) => t.core.push({ users: ['u1'], data: i })));
    await t.settle();
    assert.deepEqual(a.pushes(), Array.from({ length: 10 }, (_, i) => `u1:${i + 1}`));
  });

  it('an idempotency key stores and delivers once', async () => {
    const t = setup();
    const a = t.gw('A');
    a.presence('online', 'u1', 'phone', 'c1');
    await t.settle();
    const first = await t.core.push({ users: ['u1'], data: 1, id: 'm1', idempotencyKey: 'k' });
    const again = await t.core.push({ users: ['u1'], data: 1, id: 'm1-retry', idempotencyKey: 'k' });
    assert.deepEqual(again.results, [{ user: 'u1', seq: first.results[0]!.seq, id: 'm1', status: 'duplicate', connections: 0 }]);
    await t.settle();
    assert.deepEqual(a.pushes(), ['u1:1']);
  });

  it('rejects invalid pushes before storing anything', async () => {
    const t = setup({ options: { maxPushBytes: 10, maxUsersPerPush: 2 } });
    const err = (code: string, re: RegExp) => (e: unknown) => e instanceof LonglinkError && e.code === code && re.test(e.message);
    await assert.rejects(t.core.push({ users: [], data: 1 }), err('LL_API_VALIDATION', /users: must list at least one user/));
    await assert.rejects(t.core.push({ users: ['a', 'b', 'c'], data: 1 }), err('LL_API_VALIDATION', /at most 2 users/));
    await assert.rejects(t.core.push({ users: ['a'], data: 'x'.repeat(20) }), err('LL_API_TOO_LARGE', /data: serialised size 22 bytes exceeds the 10-byte limit/));
    await assert.rejects(t.core.pushBatch([{ users: ['a'], data: 1 }, { users: ['x'.repeat(129)], data: 1 }]), err('LL_API_VALIDATION', /messages\[1\]\.users\[0\]: must be 1-128/));
    assert.equal(await t.inbox.latestSeq('a'), 0);
  });

  it('turns store failures into LL_STORE_UNAVAILABLE', async () => {
    const t = setup({ inbox: (i) => Object.assign(Object.create(i) as Inbox, { append: () => Promise.reject(new Error('connection refused')) }) });
    await assert.rejects(t.core.push({ users: ['u1'], data: 1 }), (e: unknown) => e instanceof LonglinkError && e.code === 'LL_STORE_UNAVAILABLE' && e.status === 503);
    assert.equal(t.core.stats.storeErrors, 1);
  });

  it('treats users on a gateway whose lease expired as offline', async () => {
    const t = setup();
    const a = t.gw('A');
    a.beacon();
    a.presence('online', 'u1', 'phone', 'c1');
    await t.settle();
    t.clock.advance(10_001);
    assert.equal((await t.core.push({ users: ['u1'], data: 1 })).results[0]!.status, 'offline');
    assert.deepEqual(await t.core.cluster(), { gateways: [] });
  });

  it('answers push requests on the bus with the HTTP response shapes', async () => {
    const t = setup();
    const ask = async (body: unknown) => decodeMsg<PushOutcome & { messages?: PushOutcome[]; error?: { code: string; message: string } }>(
      (await t.bus.request(t.s.push, encodeMsg(body), { timeoutMs: 1000 })).data)!;
    const single = await ask({ user: 'u1', data: { a: 1 }, id: 'm1' });
    assert.deepEqual(single, { id: 'm1', results: [{ user: 'u1', seq: 1, id: 'm1', status: 'offline', connections: 0 }] });
    const batch = await ask({ messages: [{ user: 'u1', data: 1 }, { users: ['u2'], data: 2 }] });
    assert.deepEqual(batch.messages?.map((m) => m.results[0]!.seq), [2, 1]);
    const bad = await ask({ users: 'u1', data: 1 });
    assert.equal(bad.error?.code, 'LL_API_VALIDATION');
    assert.match(bad.error.message, /users: must be an array/);
    const raw = decodeMsg<{ error: { code: string } }>((await t.bus.request(t.s.push, new TextEncoder().encode('{nope'), { timeoutMs: 1000 })).data)!;
    assert.equal(raw.error.code, 'LL_API_BAD_JSON');
  });
});

/** A router with gateway A registered (no connections), and the sync requests it publishes. */
function withGatewayA(): { t: Setup; syncs: unknown[]; a: FakeGateway } {
  const t = setup();
  const syncs: unknown[] = [];
  t.bus.subscribe(t.s.sync, (m) => syncs.push(decodeMsg<unknown>(m.data)));
  const a = t.gw('A');
  a.beacon('boot-a', 0);
  return { t, syncs, a };
}

describe('RouterCore resume and acks', () => {
  it('fresh, resumed and rejected sessions get the right missed pushes, in order', async () => {
    const t = setup();
    const fresh = await resume(t, { user: 'u1', device: 'phone' });
    assert.equal(fresh.resumed, false);
    assert.equal(fresh.latestSeq, 0);
    assert.deepEqual(fresh.pushes, []);
    for (let i = 1; i <= 4; i++) await t.core.push({ users: ['u1'], data: i });

    const resumed = await resume(t, { user: 'u1', device: 'phone', session: fresh.session, lastSeq: 1 });
    assert.deepEqual({ ...resumed, pushes: resumed.pushes.map((p) => p.seq) }, { session: fresh.session, resumed: true, latestSeq: 4, pushes: [2, 3, 4] });
    assert.deepEqual(resumed.pushes.map((p) => p.data), ['2', '3', '4']);

    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u1', 'phone', 2]] }));
    await t.settle();
    const rejected = await resume(t, { user: 'u1', device: 'phone', session: 'stale', lastSeq: 0 });
    assert.equal(rejected.resumed, false);
    assert.notEqual(rejected.session, fresh.session);
    assert.deepEqual(rejected.pushes.map((p) => p.seq), [3, 4], 'a fresh session gets what the device has not acked');

    const tablet = await resume(t, { user: 'u1', device: 'tablet' });
    assert.deepEqual(tablet.pushes.map((p) => p.seq), [3, 4], 'a new device gets what is still stored');
    assert.deepEqual(Object.fromEntries(t.core.stats.resumes), { fresh: 2, resumed: 1, rejected: 1 });
  });

  it('caps the pushes returned to one resume', async () => {
    const t = setup({ options: { maxResumePushes: 3 } });
    for (let i = 1; i <= 5; i++) await t.core.push({ users: ['u1'], data: i });
    const r = await resume(t, { user: 'u1', device: 'phone' });
    assert.deepEqual(r.pushes.map((p) => p.seq), [1, 2, 3]);
    assert.equal(r.latestSeq, 5);
  });

  it('bounds concurrent resumes: a full queue refuses at once, a request whose gateway stopped waiting is dropped unapplied', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let onlines = 0;
    const t = setup({
      options: { resumeConcurrency: 1, resumeQueue: 1 },
      presence: (p) => Object.assign(Object.create(p) as Presence, {
        online: async (ev: Parameters<Presence['online']>[0]) => { if (onlines++ === 0) await gate; return p.online(ev); },
      }),
    });
    const ask = (user: string, timeoutMs = 200): Promise<unknown> =>
      t.bus.request(t.s.resume, encodeMsg({ gateway: 'gwX', conn: `c-${user}`, user, device: 'd', timeoutMs: 1000 }), { timeoutMs })
        .then((m) => decodeMsg<unknown>(m.data));
    const a = ask('a', 5000);
    await t.settle();
    const b = ask('b').then(() => 'answered', () => 'no answer');
    await t.settle();
    assert.equal(t.core.resumeWork.inFlight, 1);
    assert.equal(t.core.resumeWork.queued, 1);
    const c = await ask('c');
    assert.deepEqual((c as { error: { code: string } }).error.code, 'LL_ROUTER_OVERLOADED', 'queue full: refused at once');
    t.clock.advance(801); // past 80 % of b's 1000 ms budget
    release();
    assert.equal((await a as ResumeReply).resumed, false);
    assert.equal(await b, 'no answer', 'b is dropped without a reply');
    assert.equal(onlines, 1, 'b never registered its connection');
    assert.deepEqual(await t.presence.lookup('b'), []);
    assert.deepEqual(t.core.resumeWork.stats, { started: 1, expired: 1, shed: 1 });
  });

  it('acks move cursors and trim what every known device has acked', async () => {
    const t = setup();
    for (let i = 1; i <= 4; i++) await t.core.push({ users: ['u1'], data: i });
    // In order: the tablet's ack makes it a known device before the phone's ack trims.
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u1', 'tablet', 1], ['u1', 'phone', 3]] }));
    await t.settle();
    assert.equal(await t.inbox.acked('u1', 'phone'), 3);
    assert.deepEqual((await t.inbox.since('u1', 0, 10)).map((r) => r.seq), [2, 3, 4]);
    assert.equal(t.core.stats.inboxTrims, 1);
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u1', 'tablet', 4]] }));
    await t.settle();
    assert.deepEqual((await t.inbox.since('u1', 0, 10)).map((r) => r.seq), [4]);
  });

  it('counts and drops malformed gateway messages', async () => {
    const t = setup();
    t.bus.publish(t.s.acks, encodeMsg({ acks: [['u1', 'phone', 'x']] }));
    t.bus.publish(t.s.presence, encodeMsg({ type: 'online' }));
    t.bus.publish(t.s.beacon, new TextEncoder().encode('not json'));
    await t.settle();
    assert.equal(t.core.stats.busErrors, 3);
  });
});

describe('RouterCore presence and control', () => {
  it('replaces an older connection of the same device on another gateway', async () => {
    const t = setup();
    const [a, b] = [t.gw('A'), t.gw('B')];
    a.presence('online', 'u1', 'phone', 'a1');
    await t.settle();
    b.presence('online', 'u1', 'phone', 'b1');
    await t.settle();
    assert.deepEqual(a.controls, [{ type: 'replace', user: 'u1', device: 'phone', keepConn: 'b1' }]);
    assert.deepEqual(b.controls, []);
    assert.deepEqual((await t.core.presenceOf('u1')).connections.map((c) => c.conn), ['b1']);
    b.presence('online', 'u1', 'phone', 'b2');
    b.presence('online', 'u1', 'tablet', 'b3');
    await t.settle();
    assert.deepEqual(b.controls, [], 'the gateway replaces its own connections itself');
    assert.equal(t.core.stats.replaces, 1);
  });

  it('reports presence without session ids', async () => {
    const t = setup();
    const a = t.gw('A');
    a.presence('online', 'u1', 'phone', 'a1', 'secret-session');
    await t.settle();
    const p = await t.core.presenceOf('u1');
    assert.deepEqual(p, { user: 'u1', online: true, connections: [{ conn: 'a1', device: 'phone', gateway: 'A', since: 1 }] });
    a.presence('offline', 'u1', 'phone', 'a1', 'secret-session');
    await t.settle();
    assert.deepEqual(await t.core.presenceOf('u1'), { user: 'u1', online: false, connections: [] });
  });

  it('kicks a user on every gateway, or one device only', async () => {
    const t = setup();
    const [a, b] = [t.gw('A'), t.gw('B')];
    a.presence('online', 'u1', 'phone', 'a1');
    b.presence('online', 'u1', 'tablet', 'b1');
    await t.settle();
    assert.deepEqual(await t.core.control({ type: 'kick', user: 'u1' }), { type: 'kick', user: 'u1', gateways: 2, connections: 2 });
    assert.deepEqual(await t.core.control({ type: 'kick', user: 'u1', device: 'tablet' }), { type: 'kick', user: 'u1', device: 'tablet', gateways: 1, connections: 1 });
    await t.settle();
    assert.deepEqual(a.controls, [{ type: 'kick', user: 'u1' }]);
    assert.deepEqual(b.controls, [{ type: 'kick', user: 'u1' }, { type: 'kick', user: 'u1', device: 'tablet' }]);
  });

  it('logout also drops the session so it cannot be resumed', async () => {
    const t = setup();
    const s = await resume(t, { user: 'u1', device: 'phone' });
    const a = t.gw('A');
    a.presence('online', 'u1', 'phone', 'a1', s.session);
    await t.settle();
    await t.core.control({ type: 'logout', user: 'u1', device: 'phone' });
    await t.settle();
    assert.deepEqual(a.controls, [{ type: 'logout', user: 'u1', device: 'phone' }]);
    assert.equal((await resume(t, { user: 'u1', device: 'phone', session: s.session, lastSeq: 0 })).resumed, false);
  });

  it('asks a gateway whose lease lapsed while it held connections to re-announce them; re-announced connections catch up from the inbox', async () => {
    const { t, syncs, a } = withGatewayA();
    await t.settle();
    assert.deepEqual(syncs, [], 'a fresh gateway with no connections');
    a.presence('online', 'u1', 'phone', 'a1');
    await t.settle();
    await t.core.push({ users: ['u1'], data: 1 });
    t.clock.advance(5000);
    a.beacon('boot-a', 1);
    await t.settle();
    assert.deepEqual(syncs, [], 'a beacon in time renews the lease');
    t.clock.advance(10_001); // beacons applied late: the lease (10 s here) lapsed
    assert.equal((await t.core.push({ users: ['u1'], data: 2 })).results[0]!.status, 'offline', 'lapsed: the entry no longer routes');
    a.beacon('boot-a', 1);
    await t.settle();
    assert.deepEqual(syncs, [{ gateway: 'A' }], 'only the lapsed gateway is asked');
    assert.equal(t.core.stats.resyncs, 1);
    // The gateway's re-announcement names what it last wrote to the connection: seq 1.
    const reannounce = (seq: number): void => t.bus.publish(t.s.presence, encodeMsg({ type: 'online', user: 'u1', device: 'phone', conn: 'a1', session: 's', gateway: 'A', at: 1, seq }));
    reannounce(1);
    await t.settle();
    assert.deepEqual(a.pushes(), ['u1:1', 'u1:2'], 'the push stored during the lapse is sent');
    assert.equal(a.messages.at(-1)![0]!.device, 'phone', 'to that device only');
    await t.core.push({ users: ['u1'], data: 3 });
    assert.deepEqual(a.pushes(), ['u1:1', 'u1:2', 'u1:3'], 'routes live again');
    reannounce(3);
    await t.settle();
    assert.equal(a.pushes().length, 3, 'nothing missed: nothing sent');
    assert.equal(t.core.stats.catchUps, 1);
    assert.deepEqual((await t.presence.lookup('u1')).map((e) => Object.keys(e).sort()), [['conn', 'device', 'gateway', 'session', 'since', 'user']], 'the watermark is not stored');
  });

  it('an online that re-registers a lapsed gateway (before its late beacon) also asks it to re-announce', async () => {
    const { t, syncs, a } = withGatewayA();
    a.presence('online', 'u1', 'phone', 'a1');
    await t.settle();
    assert.deepEqual(syncs, []);
    t.clock.advance(10_001);
    a.presence('online', 'u2', 'phone', 'a2'); // a session start reaches the router before the late beacon
    await t.settle();
    assert.deepEqual(syncs, [{ gateway: 'A' }]);
    a.beacon('boot-a', 2);
    await t.settle();
    assert.deepEqual(syncs, [{ gateway: 'A' }], 'the lease is alive again: the beacon asks nothing more');
  });

  it('lists gateways from their beacons', async () => {
    const t = setup();
    t.gw('A').beacon('boot-a', 12);
    t.gw('B').presence('online', 'u1', 'phone', 'b1');
    await t.settle();
    t.clock.advance(50);
    const c = await t.core.cluster();
    assert.deepEqual(c.gateways.map((g) => [g.gateway, g.boot, g.connections, g.entries, g.ageMs]), [['A', 'boot-a', 12, 0, 50], ['B', '', 0, 1, 50]]);
  });
});
