/**
 * In-band token refresh (`refresh` frame): a token verified for the same
 * user and device moves the connection's expiry, so it is not closed with
 * 4002; a token that fails verification leaves the old expiry; a token for
 * someone else closes with 4001; a client that never refreshes still gets
 * 4002 at its token's expiry.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close, encodeJson, type HelloFrame } from '../../protocol/index.js';
import { Errors, LonglinkError } from '../../services/shared/errors.js';
import type { TokenVerifier } from '../../services/gateway/core/ports.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';
import { flush, gatewayBench, text } from '../helpers/gateway-harness.js';

function bench() {
  const wall = { now: () => 0 };
  /** Tokens are "user:device:expiresAtMs" (the bench's wall clock) or "bad". */
  const verify: TokenVerifier = (t) => {
    const [user, device, exp] = t.split(':');
    if (user === 'bad' || exp === undefined) throw new LonglinkError(Errors.AUTH_INVALID_TOKEN);
    if (Number(exp) <= wall.now()) throw new LonglinkError(Errors.AUTH_TOKEN_EXPIRED);
    return { user: user!, device: device === '' ? undefined : device, expiresAt: Number(exp) };
  };
  const b = gatewayBench({ hb: { minMs: 1000, maxMs: 60_000, defaultMs: 10_000, graceMs: 2000, check: false, log: false } }, { verifyToken: verify });
  wall.now = () => b.clock.wallNow();
  const s = new FakeClientSocket();
  const c = b.core.open(s, b.hs('alice', 'phone', { tokenExpiresAt: 10_000 }));
  const refresh = (token: string): void => b.core.message(c, text(encodeJson({ op: 'refresh', token })), false);
  /** A token for `user`/`device` expiring `inMs` from now. */
  const tok = (user: string, device: string, inMs: number): string => `${user}:${device}:${wall.now() + inMs}`;
  return { ...b, s, c, refresh, tok };
}

describe('in-band token refresh', () => {
  it('hello says how long the token has left (and so that refresh is accepted)', async () => {
    const { s } = bench();
    await flush();
    assert.equal((s.frames()[0] as HelloFrame).tokenExpiresInMs, 10_000);
  });

  it('a token for the same user and device extends the session: no 4002 at the old expiry, 4002 at the new one', async () => {
    const { s, run, refresh, core, tok } = bench();
    await flush();
    run(8000);
    refresh(tok('alice', 'phone', 20_000));
    const ans = s.frames().at(-1)!;
    assert.equal(ans.op, 'refreshed');
    assert.ok(ans.op === 'refreshed' && ans.expiresInMs! > 19_000 && ans.expiresInMs! <= 20_000, JSON.stringify(ans));
    run(5000);
    assert.equal(s.ended, undefined, 'alive past the old expiry');
    refresh(tok('alice', '', 60_000)); // no did: any device of the user
    run(40_000);
    assert.equal(s.ended, undefined);
    run(25_000);
    assert.equal(s.code(), Close.TOKEN_EXPIRED, 'a client that stops refreshing still expires');
    assert.deepEqual(Object.fromEntries(core.stats.refreshes), { ok: 2 });
  });

  it('a token that fails verification is answered with its code, the connection stays, the old expiry stands', async () => {
    const { s, run, refresh, core, tok } = bench();
    await flush();
    refresh('bad');
    refresh(tok('alice', 'phone', -1000));
    const answers = s.frames().filter((f) => f.op === 'refreshed');
    assert.deepEqual(answers, [{ op: 'refreshed', error: 'LL_AUTH_INVALID_TOKEN' }, { op: 'refreshed', error: 'LL_AUTH_TOKEN_EXPIRED' }]);
    assert.equal(s.ended, undefined);
    run(10_200);
    assert.equal(s.code(), Close.TOKEN_EXPIRED);
    assert.equal(core.stats.refreshes.get('refused'), 2);
  });

  it('a valid token for another user or device closes with 4001', async () => {
    for (const [user, device] of [['mallory', 'phone'], ['alice', 'laptop']] as const) {
      const { s, refresh, tok } = bench();
      await flush();
      refresh(tok(user, device, 60_000));
      assert.equal(s.code(), Close.AUTH_FAILED, `${user}/${device}`);
    }
  });

  it('without a verifier: no tokenExpiresInMs in hello, refresh refused', async () => {
    const { core, hs } = gatewayBench();
    const s = new FakeClientSocket();
    const c = core.open(s, hs('alice', 'phone', { tokenExpiresAt: 10_000 }));
    await flush();
    assert.equal((s.frames()[0] as HelloFrame).tokenExpiresInMs, undefined);
    core.message(c, text(encodeJson({ op: 'refresh', token: 'x' })), false);
    assert.deepEqual(s.frames().at(-1), { op: 'refreshed', error: 'LL_AUTH_INVALID_TOKEN' });
  });
});
