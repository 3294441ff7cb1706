/**
 * NatsBus.request keeps the NATS client's error handling on its own reply
 * subscription (nats-requests.ts), against a real nats-server with
 * permissions:
 *  - the reply-inbox subscription denied: every waiting request fails at
 *    once with BusPermissionError (not a timeout after its deadline), and
 *    once a config reload allows the subscription the next request
 *    subscribes again and works, without a restart;
 *  - a request publish denied: that request fails at once with
 *    BusPermissionError; requests on other subjects are not touched, and
 *    two denied ones are failed one -ERR each, oldest first;
 *  - no responders and a close while waiting behave as with the client's
 *    own request().
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClosedConnectionError, connect, type NatsConnection } from '@nats-io/transport-node';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { BusNoRespondersError, BusPermissionError, BusTimeoutError } from '../../services/shared/bus/bus.js';
import { startNatsServer, recordingLog, type NatsHarness } from '../../infra/local/nats.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
/** Long enough that a permission error reported as a timeout is obvious, short enough to fail fast. */
const TIMEOUT_MS = 3000;
const FAST_MS = 1000;

/** `app` (what a connection without credentials is) may not subscribe to `inbox`, nor publish to perm.denied.*; `svc` answers. */
const perms = (inboxDeny: boolean): string => `
authorization {
  users = [
    { user: app, password: app, permissions: { publish: { deny: ["perm.denied.>"] }${inboxDeny ? ', subscribe: { deny: ["_INBOX.>"] }' : ''} } }
    { user: svc, password: svc }
  ]
}
no_auth_user: app
`;

async function timed<T>(p: Promise<T>): Promise<{ ms: number; err: unknown; value: T | undefined }> {
  const t0 = performance.now();
  try {
    const value = await p;
    return { ms: performance.now() - t0, err: undefined, value };
  } catch (err) {
    return { ms: performance.now() - t0, err, value: undefined };
  }
}

describe('NatsBus.request: permission errors, no responders, close', () => {
  let h: NatsHarness;
  let svc: NatsConnection;
  const counted: string[] = [];

  before(async () => {
    h = await startNatsServer({ extraConfig: perms(true) });
    svc = await connect({ servers: h.urls, user: 'svc', pass: 'svc' });
    svc.subscribe('perm.echo', { callback: (_e, m) => { m.respond(m.data); } });
    svc.subscribe('perm.slow', { callback: (_e, m) => { setTimeout(() => m.respond(m.data), 200); } });
    svc.subscribe('perm.silent', { callback: () => { /* never answers */ } });
    svc.subscribe('perm.count', { callback: (_e, m) => { counted.push(dec.decode(m.data)); m.respond(m.data); } });
    await svc.flush();
  });

  after(async () => {
    await svc.close();
    await h.stop();
  });

  it('a denied reply-inbox subscription fails every waiting request at once; after a reload allows it, the next request subscribes again', async () => {
    const bus = await connectNatsBus({ servers: h.urls, name: 'perm-inbox', log: recordingLog().log });
    try {
      const rs = await Promise.all([1, 2, 3].map((i) => timed(bus.request('perm.echo', enc.encode(`r${i}`), { timeoutMs: TIMEOUT_MS }))));
      for (const [i, r] of rs.entries()) {
        assert.ok(r.err instanceof BusPermissionError, `request ${i + 1}: ${String(r.err)}`);
        assert.equal((r.err as BusPermissionError).operation, 'subscription');
        assert.ok(r.ms < FAST_MS, `request ${i + 1} failed after ${Math.round(r.ms)} ms`);
      }
      // Still denied: the next request subscribes again and is refused again, at once.
      const again = await timed(bus.request('perm.echo', enc.encode('again'), { timeoutMs: TIMEOUT_MS }));
      assert.ok(again.err instanceof BusPermissionError && again.ms < FAST_MS, `${String(again.err)} after ${Math.round(again.ms)} ms`);

      await h.reload(0, perms(false));
      const ok = await timed(bus.request('perm.echo', enc.encode('healed'), { timeoutMs: TIMEOUT_MS }));
      assert.equal(ok.err, undefined, String(ok.err));
      assert.equal(dec.decode(ok.value!.data), 'healed');
      const more = await Promise.all([1, 2].map((i) => bus.request('perm.echo', enc.encode(`m${i}`), { timeoutMs: TIMEOUT_MS })));
      assert.deepEqual(more.map((m) => dec.decode(m.data)), ['m1', 'm2']);
    } finally {
      await bus.close();
      await h.reload(0, perms(true));
    }
  });

  it('a denied request publish fails that request at once; other requests are not touched', async () => {
    await h.reload(0, perms(false));
    const bus = await connectNatsBus({ servers: h.urls, name: 'perm-publish', log: recordingLog().log });
    try {
      const slow = timed(bus.request('perm.slow', enc.encode('slow'), { timeoutMs: TIMEOUT_MS })); // waiting before and after the -ERRs
      const d1 = timed(bus.request('perm.denied.a', enc.encode('d1'), { timeoutMs: TIMEOUT_MS }));
      const echo = timed(bus.request('perm.echo', enc.encode('echo'), { timeoutMs: TIMEOUT_MS }));
      const d2 = timed(bus.request('perm.denied.a', enc.encode('d2'), { timeoutMs: TIMEOUT_MS }));
      for (const [name, p] of [['first', d1], ['second', d2]] as const) {
        const r = await p;
        assert.ok(r.err instanceof BusPermissionError, `${name} denied request: ${String(r.err)}`);
        assert.equal((r.err as BusPermissionError).operation, 'publish');
        assert.match((r.err as Error).message, /perm\.denied\.a/);
        assert.ok(r.ms < FAST_MS, `${name} denied request failed after ${Math.round(r.ms)} ms`);
      }
      assert.equal(dec.decode((await echo).value!.data), 'echo');
      const s = await slow;
      assert.equal(s.err, undefined, String(s.err));
      assert.equal(dec.decode(s.value!.data), 'slow');
      assert.equal(dec.decode((await bus.request('perm.echo', enc.encode('after'), { timeoutMs: TIMEOUT_MS })).data), 'after');
    } finally {
      await bus.close();
      await h.reload(0, perms(true));
    }
  });

  it('no responders and close behave as with the client request: no responders at once, a close rejects what waits (not as a timeout)', async () => {
    await h.reload(0, perms(false));
    const bus = await connectNatsBus({ servers: h.urls, name: 'perm-close', log: recordingLog().log });
    const nobody = await timed(bus.request('perm.nobody', enc.encode('x'), { timeoutMs: TIMEOUT_MS }));
    assert.ok(nobody.err instanceof BusNoRespondersError && nobody.ms < FAST_MS, `${String(nobody.err)} after ${Math.round(nobody.ms)} ms`);
    const waiting = timed(bus.request('perm.silent', enc.encode('x'), { timeoutMs: 30_000 }));
    await bus.flush();
    await bus.close();
    const r = await waiting;
    assert.ok(r.err instanceof Error && !(r.err instanceof BusTimeoutError), String(r.err));
    assert.ok(r.ms < 10_000, `rejected after ${Math.round(r.ms)} ms`);
    await h.reload(0, perms(true));
  });

  it('a request made while close() drains, or after it closed, is refused at once and never reaches a responder', async () => {
    await h.reload(0, perms(false));
    const bus = await connectNatsBus({ servers: h.urls, name: 'perm-draining', log: recordingLog().log });
    try {
      assert.equal(dec.decode((await bus.request('perm.count', enc.encode('before'), { timeoutMs: TIMEOUT_MS })).data), 'before');
      const closing = bus.close();
      const during = await timed(bus.request('perm.count', enc.encode('during-close'), { timeoutMs: TIMEOUT_MS }));
      await closing;
      const afterClose = await timed(bus.request('perm.count', enc.encode('after-close'), { timeoutMs: TIMEOUT_MS }));
      assert.ok(during.err instanceof ClosedConnectionError, String(during.err));
      assert.ok(afterClose.err instanceof ClosedConnectionError, String(afterClose.err));
      assert.ok(during.ms < FAST_MS && afterClose.ms < FAST_MS);
      await svc.flush(); // anything the bus sent has reached the responder by now
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(counted, ['before']);
    } finally {
      await h.reload(0, perms(true));
    }
  });
});

describe('NatsBus.request while reconnecting', () => {
  it('a request waiting for the reconnect when close() is called is rejected as closed, not as a timeout', async () => {
    const h = await startNatsServer();
    const bus = await connectNatsBus({ servers: h.urls, name: 'closing-reconnect', log: recordingLog().log, reconnectTimeWaitMs: 200 });
    try {
      await h.kill(0);
      for (let i = 0; i < 100 && bus.status !== 'reconnecting'; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(bus.status, 'reconnecting');
      const waiting = timed(bus.request('any.subject', enc.encode('x'), { timeoutMs: 10_000 }));
      await new Promise((r) => setTimeout(r, 50));
      await bus.close();
      const r = await waiting;
      assert.ok(r.err instanceof ClosedConnectionError, String(r.err));
      assert.ok(r.ms < 5_000, `rejected after ${Math.round(r.ms)} ms`);
      const after = await timed(bus.request('any.subject', enc.encode('y'), { timeoutMs: 10_000 }));
      assert.ok(after.err instanceof ClosedConnectionError && after.ms < FAST_MS, String(after.err));
    } finally {
      await bus.close();
      await h.stop();
    }
  });
});
