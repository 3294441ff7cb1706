import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMsg, encodeMsg } from '../../services/shared/bus/bus.js';
import { LonglinkError } from '../../services/shared/errors.js';
import type { Inbox } from '../../services/router/core/inbox.js';
import type { Presence } from '../../services/router/core/presence.js';
import type { OfflineNotice, PushOutcome } from '../../services/router/core/router-core.js';
import { resume, setup, stopRouters } from '../helpers/router-harness.js';

afterEach(stopRouters);

describe('RouterCore push', () => {
  it('sends to an online user through its gateway', async () => {
    const t = setup();
    const a = t.gw('A');
    a.presence('online', 'u1', 'phone', 'c1');
    await t.settle();
    const out = await t.core.push({ users: ['u1'], data: { hi: 1 }, id: 'm1' });
    assert.deepEqual(out, { id: 'm1', results: [{ user: 'u1', seq: 1, id: 'm1', status: 'sent', connections: 1 }] });
    await t.settle();
    const { epoch } = await t.inbox.position('u1');
    assert.ok(epoch > 0, 'the first push started the user\'s sequence epoch');
    assert.deepEqual(a.messages, [[{ user: 'u1', pushes: [{ seq: 1, id: 'm1', ts: t.clock.wallNow(), data: '{"hi":1}', epoch }] }]]);
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
    assert.deepEqual(notices, [{ user: 'u9', seq: 1, id: out.id, ts: t.clock.wallNow(), epoch: (await t.inbox.position('u9')).epoch }]);
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
    await assert.rejects(t.core.pushBatch([{ users: ['a'], data: 1 }, { users: ['x'.repeat(129)], data: 1 }]), err('LL_API_VALIDATION', /messages\[1\]\.users\[0\]: must be at most 128 characters/));
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

describe('RouterCore presence and control', () => {
  it('replaces an older connection of the same device on another gateway', async () => {
    const t = setup();
    const [a, b] = [t.gw('A'), t.gw('B')];
    a.presence('online', 'u1', 'phone', 'a1');
    await t.settle();
    b.presence('online', 'u1', 'phone', 'b1');
    await t.settle();
    assert.deepEqual(a.controls, [{ type: 'replace', user: 'u1', device: 'phone', keepConn: 'b1', conns: ['a1'] }]);
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
