/**
 * A stalled router does not miss a Redis answer that arrived in time: the
 * lean connection's command timeout (shared/deadline.ts) counts as missed
 * only once the event loop has read the socket after the timer fired. The
 * process is stalled here by a synchronous busy-wait past the deadline while
 * the answer lands in the socket buffer; without the rule the expired timer
 * runs before the poll phase and the call fails although it was applied. A
 * server that really does not answer (SIGSTOP) still fails the call in
 * bounded time.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LeanPipe } from '../../services/router/stores/redis/lean-pipe.js';
import { startRedis, type RedisHarness } from '../../infra/local/redis.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const RPUSH = '#!lua\nreturn redis.call("RPUSH", KEYS[1], ARGV[1])';
const TIMEOUT_MS = 100;

/** Blocks the event loop (a CPU-starved or GC-paused process). */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy */ }
}

/** Lets the call's write go out (the pipe sends at the end of the turn, in a setImmediate queued before this one). */
const afterSend = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('lean Redis connection: deadlines under a stalled event loop', () => {
  let server: RedisHarness;
  let pipe: LeanPipe;
  let sha: string;

  before(async () => {
    server = await startRedis({});
    const u = new URL(server.url);
    pipe = new LeanPipe({ host: u.hostname, port: Number(u.port), db: 0, commandTimeoutMs: TIMEOUT_MS, connectTimeoutMs: 1000, retryDelay: (n) => 20 * n });
    sha = pipe.register(RPUSH);
    const deadline = Date.now() + 15_000;
    while (!pipe.ready) {
      if (Date.now() > deadline) throw new Error('lean connection not ready');
      await sleep(20);
    }
  });

  after(async () => {
    pipe.close();
    await server.cleanup();
  });

  it('an answer that arrived while the process was stalled past the deadline is taken, not timed out', async () => {
    for (let i = 1; i <= 3; i++) {
      const p = pipe.call(sha, ['stall:list'], [`v${i}`]);
      assert.ok(p, 'the connection is ready');
      await afterSend();
      stall(TIMEOUT_MS * 3); // the answer (a few µs away) waits in the socket buffer; the timer is long expired
      assert.equal(await p, i, `call ${i} resolves with its answer`);
    }
  });

  it('a server that really does not answer still fails the call in bounded time', async () => {
    server.pause();
    try {
      const t0 = performance.now();
      const p = pipe.call(sha, ['stall:list'], ['lost']);
      assert.ok(p, 'the connection is ready');
      await afterSend();
      stall(TIMEOUT_MS * 3);
      await assert.rejects(p, /timed out/);
      const ms = performance.now() - t0;
      assert.ok(ms < TIMEOUT_MS * 3 + 500, `rejected after ${Math.round(ms)} ms`);
    } finally {
      server.resume();
    }
  });
});
