/**
 * The SDK's in-band token refresh schedule (sdk/src/token-refresh.ts): asks
 * the app at a jittered point between 70 % and 90 % of the token's life,
 * sends `refresh`, reschedules on `refreshed`, retries a refused refresh
 * while there is time, and stops with the connection.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeTimers } from '../../sdk/src/fake-timers.js';
import { DEFAULT_TOKEN_REFRESH, TokenRefresher } from '../../sdk/src/token-refresh.js';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function setup(random: number) {
  const timers = new FakeTimers();
  const sent: string[] = [];
  const errors: Error[] = [];
  let asked = 0;
  const r = new TokenRefresher(DEFAULT_TOKEN_REFRESH, {
    timers, random: () => random, token: async () => `t${++asked}`, send: (f) => sent.push(f), error: (e) => errors.push(e),
  });
  return { timers, sent, errors, r, asked: () => asked };
}

describe('SDK token refresh', () => {
  it('asks late in the token life, jittered by random(); reschedules after each refreshed', async () => {
    for (const [random, at] of [[0, 70_000], [0.5, 80_000], [1, 90_000]] as const) {
      const { timers, sent, r } = setup(random);
      r.start(100_000);
      timers.advance(at - 1);
      await flush();
      assert.equal(sent.length, 0, `not before ${at}`);
      timers.advance(1);
      await flush();
      assert.deepEqual(sent, ['{"op":"refresh","token":"t1"}']);
      r.answered({ op: 'refreshed', expiresInMs: 200_000 });
      timers.advance(200_000 * (0.7 + 0.2 * random));
      await flush();
      assert.equal(sent.length, 2);
      assert.equal(r.refreshes, 1);
    }
  });

  it('a refused refresh is reported and retried while time is left; stop() cancels everything', async () => {
    const { timers, sent, errors, r } = setup(0);
    r.start(10_000);
    timers.advance(7000);
    await flush();
    r.answered({ op: 'refreshed', error: 'LL_AUTH_INVALID_TOKEN' });
    assert.match(errors[0]!.message, /LL_AUTH_INVALID_TOKEN/);
    timers.advance(1500); // half of the 3,000 ms left
    await flush();
    assert.equal(sent.length, 2, 'retried');
    r.answered({ op: 'refreshed', error: 'LL_AUTH_INVALID_TOKEN' });
    timers.advance(10_000);
    await flush();
    assert.equal(sent.length, 2, 'under minRetryMs left: no more tries (4002 takes over)');
    r.start(10_000);
    r.stop();
    timers.advance(20_000);
    await flush();
    assert.equal(sent.length, 2);
  });

  it('no tokenExpiresInMs in hello (older gateway): never sends refresh', async () => {
    const { timers, sent, r } = setup(0.5);
    r.start(undefined);
    timers.advance(10_000_000);
    await flush();
    assert.equal(sent.length, 0);
  });
});
