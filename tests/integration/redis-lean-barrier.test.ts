/**
 * The barrier after timed-out fallback calls (stores/redis/lean-route.ts):
 *  - one PING in flight covers every call timed out so far, so a thousand
 *    timed-out calls cost one PING per command timeout, not a thousand;
 *  - past the cap (LEAN_LIMITS.barrierWaits command timeouts without an
 *    answer) ordering gives up: a warning, and a ready lean connection
 *    no longer holds (and times out) every new call.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { LeanPipe, type LeanTarget } from '../../services/router/stores/redis/lean-pipe.js';
import { createRedis, type RedisClient } from '../../services/router/stores/redis/client.js';
import { startRedis, type RedisHarness } from '../../infra/local/redis.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const RPUSH = '#!lua\nreturn redis.call("RPUSH", KEYS[1], ARGV[1])';
const TIMEOUT_MS = 100;

/** A call that rejects like an ioredis call on a hung connection. */
const timesOut = (): Promise<unknown> => new Promise((_, reject) => setTimeout(() => reject(new Error('Command timed out')), TIMEOUT_MS));

async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function pipeTo(port: number, more: Partial<LeanTarget>): LeanPipe {
  return new LeanPipe({ host: '127.0.0.1', port, db: 0, commandTimeoutMs: TIMEOUT_MS, connectTimeoutMs: 1000, retryDelay: () => 200, ...more });
}

describe('lean Redis connection: the barrier after timed-out fallback calls', () => {
  let server: RedisHarness;
  let redis: RedisClient;

  before(async () => {
    server = await startRedis({});
    redis = await createRedis({ url: server.url, commandTimeoutMs: 1000 });
  });

  after(async () => {
    redis.disconnect();
    await server.cleanup();
  });

  it('one PING in flight covers every timed-out call, and the wait for it is capped', async () => {
    let barriers = 0;
    const warnings: string[] = [];
    const p = pipeTo(await deadPort(), {
      fallbackBarrier: () => { barriers++; return timesOut(); },
      warn: (m, code) => warnings.push(`${code}: ${m}`),
    });
    try {
      const sha = p.register(RPUSH);
      const calls = Array.from({ length: 1000 }, (_, i) => p.route(sha, ['k'], [i], timesOut).then(() => 'ok', (e: Error) => e.message));
      const perPeriod: number[] = [];
      let last = 0;
      for (let t = 0; t < 12; t++) {
        await sleep(TIMEOUT_MS);
        perPeriod.push(barriers - last);
        last = barriers;
      }
      assert.deepEqual(new Set(await Promise.all(calls)), new Set(['Command timed out']));
      assert.ok(Math.max(...perPeriod) < 10, `barrier PINGs per command timeout: ${perPeriod.join()}`);
      assert.ok(barriers < 20, `${barriers} barrier PINGs in 1.2 s for 1,000 timed-out calls`);
      assert.equal(warnings.length, 1, `warned once past the cap: ${warnings.join(' | ')}`);
      assert.match(warnings[0]!, /^LL_REDIS_FALLBACK_SUSPECT: /);
      // Suspect: later timeouts are final, they neither ping nor warn again.
      const before = barriers;
      await Promise.allSettled(Array.from({ length: 100 }, () => p.route(sha, ['k'], ['x'], timesOut)));
      await sleep(2 * TIMEOUT_MS);
      assert.equal(barriers, before, 'no PING for the timeouts of a suspect connection');
      assert.equal(warnings.length, 1);
    } finally {
      p.close();
    }
  });

  it('past the cap a ready lean connection no longer holds new calls behind an unanswered barrier', async () => {
    let barriers = 0;
    const p = pipeTo(Number(new URL(server.url).port), { name: 'lean-b-own', fallbackBarrier: () => { barriers++; return timesOut(); }, warn: () => undefined });
    const key = `barrier-${Date.now()}`;
    try {
      const sha = p.register(RPUSH);
      await until('the own lean connection', () => p.ready);
      const line = String(await redis.client('LIST')).split('\n').find((l) => l.includes('name=lean-b-own-lean '));
      const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
      assert.ok(id, 'found the lean connection');
      await redis.client('KILL', 'ID', id);
      await until('the own lean connection to drop', () => !p.ready);
      // While it is down the calls go on the (hung) fallback and time out.
      const down = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => p.route(sha, [key], [`f${i}`], timesOut)));
      assert.ok(down.every((r) => r.status === 'rejected'));
      await until('the own lean connection', () => p.ready);
      await sleep(4 * TIMEOUT_MS); // past the cap (3 command timeouts)
      const results = await Promise.all(Array.from({ length: 5 }, (_, i) => p.route(sha, [key], [`l${i}`], timesOut).then(() => 'ok', (e: Error) => e.message)));
      assert.deepEqual(results, Array(5).fill('ok'), 'sent on the ready lean connection, not held until they time out');
      assert.deepEqual(await redis.lrange(key, 0, -1), ['l0', 'l1', 'l2', 'l3', 'l4']);
      assert.ok(barriers < 20, `${barriers} barrier PINGs`);
    } finally {
      p.close();
    }
  });
});
