/**
 * Graceful drain of the real standalone process (`npm start`'s entry point):
 * SIGTERM → /readyz 503, new upgrades 503, every client gets a reconnect
 * frame with a jittered delay and a DRAINING close, paced over the window,
 * then the process exits 0.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close } from '../../protocol/index.js';
import { mintToken } from '../../services/standalone/dev-token.js';
import { connect, mustConnect, type TestClient } from '../helpers/client.js';
import { spawnNode, type Spawned } from '../../infra/local/process.js';
import { TEST_API_KEY, TEST_SECRET } from '../helpers/standalone.js';

describe('drain on SIGTERM', () => {
  let proc: Spawned | undefined;
  after(() => proc?.kill());

  it('sends paced reconnect frames, refuses new connections, and exits before the deadline', async () => {
    proc = spawnNode('dist/services/standalone/main.js', {
      LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_PORT: '0',
      LONGLINK_JWT_SECRET: TEST_SECRET, LONGLINK_API_KEYS: TEST_API_KEY, LONGLINK_LOG_LEVEL: 'warn',
      LONGLINK_DRAIN_WINDOW_MS: '1500', LONGLINK_DRAIN_RECONNECT_JITTER_MS: '3000', LONGLINK_SHUTDOWN_TIMEOUT_MS: '8000',
      LONGLINK_WHEEL_TICK_MS: '50',
    });
    const url = (await proc.waitFor(/WebSocket:\s+(ws:\/\/\S+)/))[1]!;
    const httpBase = url.replace('ws://', 'http://').replace(/\/ws$/, '');
    const clients: TestClient[] = [];
    for (let i = 0; i < 30; i++) {
      const c = await mustConnect(url, { token: await mintToken(TEST_SECRET, `user${i}`) });
      await c.frame('hello');
      clients.push(c);
    }
    const t0 = performance.now();
    proc.child.kill('SIGTERM');
    await proc.waitFor(/SIGTERM: draining 30 connection/);
    const ready = await fetch(`${httpBase}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { status: 'draining' });
    const late = await connect(url, { token: await mintToken(TEST_SECRET, 'latecomer') });
    assert.equal(late.ok, false);
    if (!late.ok) { assert.equal(late.status, 503); assert.match(late.body, /LL_DRAINING/); assert.ok(late.headers['retry-after']); }

    const closeTimes = await Promise.all(clients.map(async (c) => { await c.closeEvent(6000); return performance.now() - t0; }));
    for (const c of clients) {
      assert.equal(c.closed?.code, Close.DRAINING);
      const rec = c.frames.find((f) => f.op === 'reconnect');
      assert.ok(rec && rec.op === 'reconnect', 'reconnect frame before the close');
      assert.ok(rec.delayMs >= 0 && rec.delayMs < 3000);
    }
    const delays = new Set(clients.map((c) => { const r = c.frames.find((f) => f.op === 'reconnect'); return r?.op === 'reconnect' ? r.delayMs : -1; }));
    assert.ok(delays.size > 10, `delays are jittered (${delays.size} distinct of 30)`);
    closeTimes.sort((a, b) => a - b);
    assert.ok(closeTimes.at(-1)! - closeTimes[0]! >= 700, `closes are paced over the window, spread ${(closeTimes.at(-1)! - closeTimes[0]!).toFixed(0)} ms`);
    const exit = await proc.exited(8000);
    assert.equal(exit.code, 0);
  });
});

describe('drain completion on SIGTERM (the last session closed by the first step)', () => {
  const procs: Spawned[] = [];
  after(() => { for (const p of procs) p.kill(); });

  for (const [name, env, n] of [
    ['one connection, default window', {}, 1],
    ['LONGLINK_DRAIN_WINDOW_MS=0, 20 connections', { LONGLINK_DRAIN_WINDOW_MS: '0' }, 20],
  ] as const) {
    it(`${name}: exits 0 at once, not at the shutdown deadline`, async () => {
      const proc = spawnNode('dist/services/standalone/main.js', {
        LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_PORT: '0',
        LONGLINK_JWT_SECRET: TEST_SECRET, LONGLINK_API_KEYS: TEST_API_KEY, LONGLINK_LOG_LEVEL: 'warn',
        LONGLINK_SHUTDOWN_TIMEOUT_MS: '40000', ...env,
      });
      procs.push(proc);
      const url = (await proc.waitFor(/WebSocket:\s+(ws:\/\/\S+)/))[1]!;
      const clients: TestClient[] = [];
      for (let i = 0; i < n; i++) {
        const c = await mustConnect(url, { token: await mintToken(TEST_SECRET, `user${i}`) });
        await c.frame('hello');
        clients.push(c);
      }
      const t0 = performance.now();
      proc.child.kill('SIGTERM');
      const exit = await proc.exited(39_000);
      const tookMs = performance.now() - t0;
      assert.equal(exit.code, 0, proc.output());
      assert.ok(tookMs < 3000, `exited after ${tookMs.toFixed(0)} ms`);
      for (const c of clients) assert.equal((await c.closeEvent()).code, Close.DRAINING);
    });
  }
});

describe('shutdown deadline on SIGTERM', () => {
  let proc: Spawned | undefined;
  after(() => proc?.kill());

  it('an empty LONGLINK_SHUTDOWN_TIMEOUT_MS is the default deadline (as the configuration reads it), not 0 ms', async () => {
    proc = spawnNode('dist/services/standalone/main.js', {
      LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_PORT: '0',
      LONGLINK_JWT_SECRET: TEST_SECRET, LONGLINK_API_KEYS: TEST_API_KEY, LONGLINK_LOG_LEVEL: 'warn',
      LONGLINK_SHUTDOWN_TIMEOUT_MS: '', LONGLINK_DRAIN_WINDOW_MS: '1500',
    });
    const url = (await proc.waitFor(/WebSocket:\s+(ws:\/\/\S+)/))[1]!;
    const clients: TestClient[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await mustConnect(url, { token: await mintToken(TEST_SECRET, `late${i}`) });
      await c.frame('hello');
      clients.push(c);
    }
    proc.child.kill('SIGTERM');
    const exit = await proc.exited(30_000);
    assert.equal(exit.code, 0, proc.output());
    assert.doesNotMatch(proc.output(), /shutdown deadline reached/);
    for (const c of clients) assert.equal((await c.closeEvent()).code, Close.DRAINING);
  });
});
