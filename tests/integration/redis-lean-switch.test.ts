/**
 * Switches of the push path's lean Redis connection (stores/redis/lean-pipe.ts)
 * to and from the ioredis fallback, on a real redis-server:
 *  - after a drop under steady traffic the calls go back to the lean
 *    connection (new calls are held there while the fallback drains; no idle
 *    moment is needed), in call order;
 *  - a fallback call that timed out but still runs later is not overtaken
 *    (a PING on the fallback's connection proves it ran before the switch);
 *  - a drop on the lean side holds new calls until its close failed the calls
 *    in flight, then sends them on the fallback;
 *  - the beacon (lease-keeping) has a reserve past the overload bounds that
 *    per-connection presence steps (online, offline) do not use.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { RedisInbox } from '../../services/router/stores/redis/inbox.js';
import { RedisPresence } from '../../services/router/stores/redis/presence.js';
import { RedisPushStore } from '../../services/router/stores/redis/push-store.js';
import { LeanOverloadError, LeanPipe, type LeanTarget } from '../../services/router/stores/redis/lean-pipe.js';
import { LEAN_LIMITS, type LeanLimits } from '../../services/router/stores/redis/lean-target.js';
import { leanPipeFor } from '../../services/router/stores/redis/lean-pipe-for.js';
import { createRedis, type RedisClient } from '../../services/router/stores/redis/client.js';
import { startRedis, type RedisHarness } from '../../infra/local/redis.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const entry = (id: string) => ({ id, ts: 1_700_000_000_000, data: JSON.stringify({ id }) });
const RPUSH = '#!lua\nreturn redis.call("RPUSH", KEYS[1], ARGV[1])';

async function until(what: string, cond: () => boolean, timeoutMs = 15_000, every = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

async function clientId(redis: RedisClient, name: string): Promise<string | undefined> {
  const line = String(await redis.client('LIST')).split('\n').find((l) => l.includes(`name=${name} `));
  return /\bid=(\d+)/.exec(line ?? '')?.[1];
}

function ownPipe(url: string, more: Partial<LeanTarget> = {}): LeanPipe {
  const u = new URL(url);
  return new LeanPipe({ host: u.hostname, port: Number(u.port), db: 0, commandTimeoutMs: 400, connectTimeoutMs: 1000, retryDelay: (n) => 20 * n, ...more });
}

/** A TCP proxy whose client-to-server bytes can be delayed (in order: a later chunk never overtakes an earlier one). */
async function delayingProxy(url: string): Promise<{ url: string; delay: { ms: number }; close: () => void }> {
  const u = new URL(url);
  const delay = { ms: 0 };
  const socks = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const up = net.connect(Number(u.port), u.hostname);
    socks.add(c).add(up);
    const queue: Array<{ at: number; data: Buffer }> = [];
    let timer: NodeJS.Timeout | undefined;
    const pump = (): void => {
      timer = undefined;
      while (queue.length > 0 && queue[0]!.at <= Date.now()) up.write(queue.shift()!.data);
      if (queue.length > 0) timer = setTimeout(pump, queue[0]!.at - Date.now());
    };
    c.on('data', (data: Buffer) => {
      const at = Math.max(queue.at(-1)?.at ?? 0, Date.now() + delay.ms);
      queue.push({ at, data });
      timer ??= setTimeout(pump, Math.max(0, at - Date.now()));
    });
    up.on('data', (d: Buffer) => c.write(d));
    const end = (): void => { if (timer !== undefined) clearTimeout(timer); c.destroy(); up.destroy(); };
    c.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return { url: `redis://127.0.0.1:${port}`, delay, close: () => { server.close(); for (const s of socks) s.destroy(); } };
}

describe('lean Redis connection: switches to and from the ioredis fallback', () => {
  let server: RedisHarness;
  let redis: RedisClient;
  let pipe: LeanPipe;
  let store: RedisPushStore;

  before(async () => {
    server = await startRedis({});
    redis = await createRedis({ url: server.url, commandTimeoutMs: 400 });
    store = new RedisPushStore(new RedisInbox({ redis, maxLen: 100_000 }), new RedisPresence({ redis }));
    pipe = leanPipeFor(redis)!;
    await until('the lean connection', () => pipe.ready);
  });

  after(async () => {
    redis.disconnect();
    await server.cleanup();
  });

  it('after a drop under steady traffic the calls go back to the lean connection, in call order', async () => {
    const seqs: Array<number | undefined> = [];
    const errs = new Map<string, number>();
    let settled = 0;
    let stop = false;
    const pump = (): void => {
      if (stop) return;
      for (let i = 0; i < 5; i++) {
        const at = seqs.length;
        seqs.push(undefined);
        store.appendAndLookup('steady', entry(`s${at}`)).then((r) => { seqs[at] = r.appended.record.seq; }, (e: Error) => { errs.set(e.message, (errs.get(e.message) ?? 0) + 1); })
          .finally(() => { settled++; });
      }
      setImmediate(pump);
    };
    pump();
    const host = redis as unknown as { sendCommand: (c: { name: string }) => unknown };
    const send = host.sendCommand;
    let evalsha = 0;
    try {
      await sleep(200);
      const id = await clientId(redis, 'longlink-router-lean');
      assert.ok(id, 'found the lean connection');
      await redis.client('KILL', 'ID', id);
      await until('the lean connection to drop', () => !pipe.ready, 2000, 2);
      await until('the lean connection', () => pipe.ready);
      await sleep(300); // the fallback's calls in flight drain (bounded: commandTimeout 400 ms)
      host.sendCommand = function (this: unknown, c: { name: string }) { if (/^evalsha$/i.test(c.name)) evalsha++; return send.call(this, c); };
      await sleep(1000);
    } finally {
      host.sendCommand = send;
      stop = true;
    }
    assert.equal(evalsha, 0, `${evalsha} EVALSHA on ioredis in 1 s after the lean connection was ready again`);
    await until('every call settled', () => settled === seqs.length, 30_000);
    const ok = seqs.filter((x): x is number => x !== undefined);
    assert.ok(ok.length > seqs.length / 2, `${ok.length} of ${seqs.length} calls succeeded: ${JSON.stringify([...errs])}`);
    for (let i = 1; i < ok.length; i++) assert.ok(ok[i]! > ok[i - 1]!, `seqs in call order: ${ok[i - 1]} then ${ok[i]}`);
  });

  it('a fallback call that timed out but runs later is not overtaken by the switch back', async () => {
    const proxy = await delayingProxy(server.url);
    const viaProxy = await createRedis({ url: proxy.url, commandTimeoutMs: 400, name: 'lean-t-fallback' });
    const p = ownPipe(server.url, { name: 'lean-t-own', retryDelay: () => 300, fallbackBarrier: () => viaProxy.ping() });
    const key = `late-${Date.now()}`;
    try {
      const sha = p.register(RPUSH);
      await until('the own lean connection', () => p.ready, 3000);
      const id = await clientId(redis, 'lean-t-own-lean');
      assert.ok(id);
      await redis.client('KILL', 'ID', id);
      await until('the own lean connection to drop', () => !p.ready, 2000, 2);
      proxy.delay.ms = 700; // the fallback's call reaches Redis after its timeout (400 ms)
      const a = p.route(sha, [key], ['a'], () => viaProxy.eval(RPUSH, 1, key, 'a'));
      await sleep(50);
      proxy.delay.ms = 0;
      await assert.rejects(a, /timed out/);
      await until('the own lean connection', () => p.ready, 3000, 2);
      const b = p.route(sha, [key], ['b'], () => viaProxy.eval(RPUSH, 1, key, 'b'));
      await b;
      await sleep(500);
      assert.deepEqual(await redis.lrange(key, 0, -1), ['a', 'b']);
    } finally {
      p.close();
      viaProxy.disconnect();
      proxy.close();
    }
  });

  it('a drop on the lean side holds new calls until its close failed the calls in flight, then sends them on the fallback', async () => {
    const p = ownPipe(server.url, { retryDelay: () => 300 });
    try {
      const sha = p.register(RPUSH);
      await until('the own lean connection', () => p.ready, 3000);
      const inFlight = p.call(sha, ['drop-hold'], ['x'])!.then(() => 'ok', (e: Error) => e.name);
      let fallbackAt = -1;
      const q = p as unknown as { drop: (s: unknown) => void; sock: unknown };
      q.drop(q.sock);
      const r = p.route(sha, ['drop-hold'], ['y'], async () => { fallbackAt = Date.now(); return 'fallback'; });
      assert.equal(fallbackAt, -1, 'not sent on the fallback while the dropped socket may still answer');
      assert.equal(await r, 'fallback');
      assert.equal(await inFlight, 'ConnectionClosedError');
    } finally {
      p.close();
    }
  });

  it('the beacon has a reserve past the overload bound; the presence store marks only the beacon, not online, sweep or the push path', async () => {
    const p = ownPipe(server.url, { commandTimeoutMs: 2000, limits: { maxPendingCalls: 50, reservedCalls: 10 } });
    const sha = p.register(RPUSH);
    await until('the own lean connection', () => p.ready, 3000);
    server.pause();
    const settled: Array<Promise<string>> = [];
    const outcome = (x: Promise<unknown>): Promise<string> => x.then(() => 'ok', (e: Error) => e.name);
    try {
      for (let i = 0; i < 50; i++) settled.push(outcome(p.call(sha, ['res'], ['x'])!));
      const refused = await outcome(p.route(sha, ['res'], ['push'], async () => 'fb'));
      assert.equal(refused, new LeanOverloadError('').name, 'a plain call past the bound is refused');
      const reserved = Array.from({ length: 10 }, () => outcome(p.route(sha, ['res'], ['gw'], async () => 'fb', true)));
      const past = await outcome(p.route(sha, ['res'], ['gw'], async () => 'fb', true));
      assert.equal(past, 'LeanOverloadError', 'the reserve is bounded too');
      server.resume();
      assert.deepEqual(await Promise.all(reserved), Array(10).fill('ok'), 'the reserved calls were taken and answered');
      await Promise.all(settled);
    } finally {
      server.resume();
      p.close();
    }
    // Which calls the stores mark reserved.
    const marks: Array<[string, boolean]> = [];
    const route = pipe.route.bind(pipe);
    const host = pipe as unknown as { route: LeanPipe['route'] };
    const presence = new RedisPresence({ redis });
    let what = '';
    host.route = (s, k, a, f, r = false) => { marks.push([what, r]); return route(s, k, a, f, r); };
    try {
      const gw = `gw-res-${Date.now()}`;
      what = 'beacon'; await presence.beacon({ gateway: gw, boot: 'b', connections: 0, draining: false, at: Date.now() });
      what = 'online'; await presence.online({ type: 'online', user: 'ru', device: 'd', conn: 'c', session: 's', gateway: gw, at: Date.now() });
      what = 'push'; await store.appendAndLookup('ru', entry('r1'));
      what = 'sweep'; await presence.sweep();
    } finally {
      host.route = route;
    }
    const by = (w: string): boolean[] => marks.filter(([x]) => x === w).map(([, r]) => r);
    assert.ok(by('beacon').every(Boolean) && by('beacon').length > 0, `beacon: ${by('beacon').join()}`);
    assert.ok(by('online').length > 0 && !by('online').some(Boolean), `online: ${by('online').join()}`);
    assert.ok(by('sweep').length > 0 && !by('sweep').some(Boolean), `sweep: ${by('sweep').join()}`);
    assert.ok(by('push').length > 0 && !by('push').some(Boolean), `push: ${by('push').join()}`);
  });

  it('a reconnect storm\'s online steps do not take the beacon\'s reserve', async () => {
    const r2 = await createRedis({ url: server.url, commandTimeoutMs: 5000, name: 'lean-storm' });
    const p2 = leanPipeFor(r2)!;
    // The shared connection's bounds, small (a test's override of LEAN_LIMITS).
    (p2 as unknown as { limits: LeanLimits }).limits = { ...LEAN_LIMITS, maxPendingCalls: 10, reservedCalls: 5 };
    const presence = new RedisPresence({ redis: r2 });
    const sha = p2.register(RPUSH);
    await until('the lean connection', () => p2.ready, 3000);
    const outcome = (x: Promise<unknown>): Promise<string> => x.then(() => 'ok', (e: Error) => e.name);
    const gw = `gw-storm-${Date.now()}`;
    server.pause();
    try {
      const push = Array.from({ length: 10 }, () => outcome(p2.route(sha, ['storm'], ['push'], async () => 'fb')));
      const online = Array.from({ length: 5 }, (_, i) => outcome(presence.online({ type: 'online', user: `su${i}`, device: 'd', conn: `c${i}`, session: 's', gateway: gw, at: Date.now() })));
      const beacon = outcome(presence.beacon({ gateway: gw, boot: 'b', connections: 0, draining: false, at: Date.now() }));
      await sleep(100);
      server.resume();
      assert.equal(await beacon, 'ok', 'the beacon was accepted and answered');
      assert.deepEqual(await Promise.all(push), Array(10).fill('ok'));
      assert.deepEqual(await Promise.all(online), Array(5).fill('LeanOverloadError'), 'online steps past the bound are refused like pushes');
    } finally {
      server.resume();
      r2.disconnect();
    }
  });
});
