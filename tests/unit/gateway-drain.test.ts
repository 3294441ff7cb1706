/**
 * Drain completion: the promise a shutdown waits on resolves as soon as the
 * last session is gone, whichever step closed it (regression: with one
 * connection, or a zero window, the first step closed every session before
 * the completion callback was registered, and shutdown hung until its hard
 * deadline).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close } from '../../protocol/index.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';
import { flush, gatewayBench } from '../helpers/gateway-harness.js';

async function settles(p: Promise<void>): Promise<boolean> {
  let done = false;
  void p.then(() => { done = true; });
  await flush();
  return done;
}

describe('drain completion', () => {
  it('one connection on the default window: resolves once the first step closed it', async () => {
    const { core, hs } = gatewayBench({ drain: { windowMs: 30_000, reconnectJitterMs: 5000 } });
    const s = new FakeClientSocket();
    core.open(s, hs());
    await flush();
    const drained = core.startDrain();
    assert.equal(s.code(), Close.DRAINING, 'one session is due in the first tick');
    assert.equal(await settles(drained), true, 'drain resolved without another tick');
  });

  it('a zero window closes every session at once and resolves', async () => {
    const { core, hs } = gatewayBench({ drain: { windowMs: 0, reconnectJitterMs: 500 } });
    const socks = Array.from({ length: 25 }, () => new FakeClientSocket());
    socks.forEach((s, i) => core.open(s, hs(`u${i}`)));
    await flush();
    const drained = core.startDrain();
    assert.ok(socks.every((s) => s.code() === Close.DRAINING));
    assert.equal(await settles(drained), true);
  });

  it('no connection: resolves at once; a second call resolves too', async () => {
    const { core } = gatewayBench();
    assert.equal(await settles(core.startDrain()), true);
    assert.equal(await settles(core.startDrain()), true);
  });

  it('a second waiter during a paced drain resolves with the first', async () => {
    const { core, hs, run } = gatewayBench({ drain: { windowMs: 1000, reconnectJitterMs: 0 } });
    for (let i = 0; i < 10; i++) core.open(new FakeClientSocket(), hs(`u${i}`));
    await flush();
    const a = core.startDrain();
    const b = core.startDrain();
    assert.equal(await settles(a), false, 'paced: sessions remain after the first step');
    run(1200);
    assert.equal(await settles(a), true);
    assert.equal(await settles(b), true);
  });
});
