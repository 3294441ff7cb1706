/**
 * The push path's lean Redis connection (stores/redis/lean-pipe.ts) on a
 * real redis-server: the push store's script calls go over it, in call
 * order, with the replies ioredis gives; and it keeps the ioredis client's
 * failure behaviour: a hung server rejects after the command timeout, a
 * crash rejects what was in flight (never re-sent), calls made while it
 * reconnects go through ioredis (which fails fast while Redis is down), and
 * after a restart it loads its scripts again (no NOSCRIPT). A SCRIPT FLUSH
 * costs no call: the calls that met the NOSCRIPT are re-sent after the
 * reload. Calls switching between the two connections keep call order. A
 * connect step the server refuses ends that connect (the backoff grows; after
 * a few, calls stay on ioredis), a stalled server costs linear work, and the
 * calls waiting on the connection are bounded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisInbox } from '../../services/router/stores/redis/inbox.js';
import { RedisPresence } from '../../services/router/stores/redis/presence.js';
import { RedisPushStore } from '../../services/router/stores/redis/push-store.js';
import { LeanPipe, type LeanTarget } from '../../services/router/stores/redis/lean-pipe.js';
import { leanPipeFor } from '../../services/router/stores/redis/lean-pipe-for.js';
import { createRedis, type RedisClient } from '../../services/router/stores/redis/client.js';
import { startRedis, type RedisHarness } from '../../infra/local/redis.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const entry = (id: string) => ({ id, ts: 1_700_000_000_000, data: JSON.stringify({ id, text: 'héllo ✓' }) });

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function leanClientLine(redis: RedisClient): Promise<string | undefined> {
  const list = String(await redis.client('LIST'));
  return list.split('\n').find((l) => l.includes('name=longlink-router-lean'));
}

/** A lean connection of its own to the test server (limits and warnings under the test's control). */
function ownPipe(url: string, more: Partial<LeanTarget> = {}): LeanPipe {
  const u = new URL(url);
  return new LeanPipe({
    host: u.hostname, port: Number(u.port), db: 0, commandTimeoutMs: 400, connectTimeoutMs: 1000, retryDelay: (n) => 20 * n, ...more,
  });
}

async function connectionsReceived(redis: RedisClient): Promise<number> {
  return Number(/total_connections_received:(\d+)/.exec(await redis.info('stats'))?.[1]);
}

const RPUSH = '#!lua\nreturn redis.call("RPUSH", KEYS[1], ARGV[1])';

describe('lean Redis connection for the push path', () => {
  let server: RedisHarness;
  let redis: RedisClient;
  let pipe: LeanPipe;
  let inbox: RedisInbox;
  let store: RedisPushStore;

  before(async () => {
    server = await startRedis({ aof: true });
    redis = await createRedis({ url: server.url, commandTimeoutMs: 400 });
    inbox = new RedisInbox({ redis, maxLen: 1000 });
    store = new RedisPushStore(inbox, new RedisPresence({ redis }));
    pipe = leanPipeFor(redis)!;
    assert.ok(pipe, 'a standalone client gets a lean connection');
    await until('the lean connection', () => pipe.ready);
  });

  after(async () => {
    redis.disconnect();
    await server.cleanup();
  });

  it('carries the push store calls, in call order, with the same answers as the ioredis path', async () => {
    const u = 'order';
    const ids = Array.from({ length: 300 }, (_, i) => `m${i}`);
    const all = await Promise.all(ids.map((id) => store.appendAndLookup(u, entry(id))));
    assert.deepEqual(all.map((r) => r.appended.record.seq), ids.map((_, i) => i + 1));
    assert.ok(all.every((r) => !r.appended.duplicate && r.entries.length === 0));
    const line = await leanClientLine(redis);
    assert.ok(line?.includes('cmd=evalsha'), `the lean connection ran the scripts: ${line}`);
    // Stored as sent (UTF-8 intact), readable through ioredis.
    const stored = await inbox.since(u, 0, 1000);
    assert.deepEqual(stored.map((r) => r.id), ids);
    assert.equal(stored[5]!.data, entry('m5').data);
    // A duplicate answers with the stored record, as on ioredis.
    const a = await store.appendAndLookup('idem', entry('x1'), { idempotencyKey: 'k' });
    const b = await store.appendAndLookup('idem', entry('x2'), { idempotencyKey: 'k' });
    assert.equal(b.appended.duplicate, true);
    assert.deepEqual(b.appended.record, a.appended.record);
    assert.deepEqual(b.entries, []);
  });

  it('inbox calls that are not awaited apply in call order (appends, ack, reads)', async () => {
    const appends = [1, 2, 3, 4, 5].map((i) => inbox.append('co', entry(`m${i}`)));
    const ack = inbox.ack('co', 'phone', 3);
    const acked = inbox.acked('co', 'phone');
    const since = inbox.since('co', 0, 10);
    const latest = inbox.latestSeq('co');
    assert.deepEqual((await Promise.all(appends)).map((r) => r.record.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(await ack, { cursor: 3, trimmed: 3 });
    assert.equal(await acked, 3);
    assert.deepEqual((await since).map((r) => r.seq), [4, 5]);
    assert.equal(await latest, 5);
    assert.equal(await inbox.acked('co', 'nobody'), 0);
    assert.equal(await inbox.latestSeq('nobody-at-all'), 0);
  });

  it('presence takes the lean connection too: a push with its mark, online, offline, beacon, sweep and reads send nothing through ioredis', async () => {
    const presence = new RedisPresence({ redis });
    const ps = new RedisPushStore(inbox, presence);
    const gw = `gw-lean-${Date.now()}`;
    const viaIoredis: string[] = [];
    const host = redis as unknown as { sendCommand: (c: { name: string }) => unknown };
    const send = host.sendCommand;
    host.sendCommand = function (this: unknown, c: { name: string }) { viaIoredis.push(c.name); return send.call(this, c); };
    try {
      await presence.beacon({ gateway: gw, boot: 'b1', connections: 0, draining: false, at: Date.now() });
      await presence.online({ type: 'online', user: 'pl', device: 'd', conn: 'c1', session: 's1', gateway: gw, at: Date.now() });
      const pushed = await Promise.all([1, 2, 3].map((i) => ps.appendAndLookup('pl', entry(`p${i}`))));
      assert.deepEqual(pushed.map((r) => r.entries.map((e) => e.conn)), [['c1'], ['c1'], ['c1']]);
      assert.deepEqual((await presence.lookup('pl')).map((e) => e.conn), ['c1']);
      assert.equal(await presence.offline({ type: 'offline', user: 'pl', device: 'd', conn: 'c1', session: 's1', gateway: gw, at: Date.now() }), true);
      assert.deepEqual((await ps.appendAndLookup('pl', entry('p4'))).entries, []);
      await presence.sweep();
      assert.ok((await presence.gateways()).some((g) => g.gateway === gw));
    } finally {
      host.sendCommand = send;
    }
    assert.deepEqual(viaIoredis, [], `sent through ioredis: ${viaIoredis.join()}`);
  });

  it('a lookup is judged as of its call against this process\'s gateway steps around it, both ways, also while calls switch connections', async () => {
    const presence = new RedisPresence({ redis });
    const ps = new RedisPushStore(inbox, presence);
    const gw = `gw-order-${Date.now()}`;
    const at = Date.now();
    const lineId = async (): Promise<string | undefined> => /\bid=(\d+)/.exec((await leanClientLine(redis)) ?? '')?.[1];
    let checked = 0, killed = false, sawDown = false;
    for (let round = 0; round < 60; round++) {
      const boot = `b${round}`, next = `b${round + 1}`, conn = `c${round}`;
      try {
        if (round === 0) await presence.beacon({ gateway: gw, boot, connections: 0, draining: false, at });
        await presence.online({ type: 'online', user: 'po', device: 'd', conn, session: `s${round}`, gateway: gw, at });
      } catch {
        await until('the lean connection', () => pipe.ready);
        continue;
      }
      if (round === 20) { const id = await lineId(); assert.ok(id); killed = true; void redis.client('KILL', 'ID', id); }
      // Not awaited, in this order, in one turn: a push called before the restart sees the connection, one called after does not.
      const before = ps.appendAndLookup('po', entry(`o${round}a`));
      const restart = presence.beacon({ gateway: gw, boot: next, connections: 0, draining: false, at });
      const afterIt = ps.appendAndLookup('po', entry(`o${round}b`));
      const [b, r, a] = await Promise.allSettled([before, restart, afterIt]);
      if (killed && !pipe.ready) sawDown = true;
      if (r.status === 'rejected') { await until('the lean connection', () => pipe.ready); continue; }
      if (b.status === 'fulfilled') assert.deepEqual(b.value.entries.map((e) => e.conn), [conn], `round ${round}: called before the restart`);
      if (a.status === 'fulfilled') assert.deepEqual(a.value.entries, [], `round ${round}: called after the restart`);
      if (b.status === 'fulfilled' && a.status === 'fulfilled') checked++;
      await sleep(round >= 18 && round <= 30 ? 0 : 2);
    }
    assert.ok(killed && sawDown, 'the lean connection went down mid-run');
    assert.ok(checked >= 40, `${checked} rounds checked both ways`);
    await until('the lean connection', () => pipe.ready);
  });

  it('call order holds across a drop of the lean connection (calls switch to ioredis and back)', async () => {
    const line = await leanClientLine(redis);
    const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
    assert.ok(id, 'found the lean connection');
    const calls: Array<Promise<number | undefined>> = [];
    const t0 = Date.now();
    let killed = false, sawDown = false;
    while (Date.now() - t0 < 600 && calls.length < 600) {
      for (let i = 0; i < 5; i++) calls.push(store.appendAndLookup('switch', entry(`s${calls.length}`)).then((r) => r.appended.record.seq, () => undefined));
      if (!killed && calls.length > 50) { killed = true; void redis.client('KILL', 'ID', id); }
      if (killed && !pipe.ready) sawDown = true;
      await sleep(2);
    }
    const seqs = await Promise.all(calls);
    const ok = seqs.filter((x): x is number => x !== undefined);
    assert.ok(sawDown, 'the lean connection went down');
    assert.ok(ok.length > calls.length / 2, `${ok.length} of ${calls.length} calls succeeded`);
    for (let i = 1; i < ok.length; i++) assert.ok(ok[i]! > ok[i - 1]!, `seqs in call order: ${ok[i - 1]} then ${ok[i]}`);
    await until('the lean connection', () => pipe.ready);
  });

  it('a script error rejects that call only', async () => {
    await redis.set('{u:wrongtype}:notastream', 'x');
    const sha = pipe.register('#!lua\nreturn redis.call("XADD", KEYS[1], "*", "a", "b")');
    await assert.rejects(pipe.call(sha, ['{u:wrongtype}:notastream'], [])!, /WRONGTYPE/);
    const r = await store.appendAndLookup('after-error', entry('y'));
    assert.equal(r.appended.record.seq, 1);
  });

  it('after SCRIPT FLUSH no call fails: every script is loaded again and the calls that met NOSCRIPT are re-sent, in call order', async () => {
    await redis.script('FLUSH');
    // Two turns of calls: the first turn's meet the NOSCRIPT; the second's may be made while the reload runs.
    const first = Array.from({ length: 20 }, (_, i) => inbox.append('flush', entry(`f${i}`)));
    await new Promise((r) => setImmediate(r));
    const second = Array.from({ length: 20 }, (_, i) => inbox.append('flush', entry(`g${i}`)));
    const seqs = [...(await Promise.all(first)).map((r) => r.record.seq), ...(await Promise.all(second)).map((r) => r.record.seq)];
    assert.deepEqual(seqs, Array.from({ length: 40 }, (_, i) => i + 1), `every call applied once, in call order: ${seqs.join()}`);
    // Every script was loaded again, not only the ones that met the NOSCRIPT.
    assert.equal((await inbox.since('flush', 0, 100)).at(-1)?.id, 'g19');
    assert.equal(await inbox.acked('flush', 'nobody'), 0);
    assert.ok(pipe.ready);
    const line = await leanClientLine(redis);
    assert.ok(line?.includes('cmd=evalsha') || line?.includes('cmd=client'), `still on the lean connection: ${line}`);
  });

  it('a hung server: calls reject after the command timeout; answers resume when it does', async () => {
    server.pause();
    try {
      const t0 = performance.now();
      await assert.rejects(store.appendAndLookup('hung', entry('h1')), /timed out/);
      const ms = performance.now() - t0;
      assert.ok(ms >= 350 && ms < 1500, `rejected after ${Math.round(ms)} ms`);
    } finally {
      server.resume();
    }
    // The late answer is read and dropped: the next call gets its own answer.
    await until('the lean connection', () => pipe.ready);
    const r = await store.appendAndLookup('hung', entry('h2'));
    assert.equal(r.appended.record.id, 'h2');
    const stored = await inbox.since('hung', 0, 10);
    assert.deepEqual(stored.map((x) => x.id), ['h1', 'h2'], 'the timed-out call was applied (outcome unknown to the caller), never re-sent');
  });

  it('a crash: in-flight calls reject, calls while down fail fast, and after a restart the scripts run again on the lean connection', async () => {
    const u = 'crash';
    const ok = new Map<number, string>();
    let n = 0, failed = 0;
    const writer = async (): Promise<void> => {
      for (;;) {
        const id = `c${++n}`;
        try {
          ok.set((await store.appendAndLookup(u, entry(id))).appended.record.seq, id);
        } catch {
          failed++;
          return;
        }
      }
    };
    const writers = [writer(), writer(), writer()];
    await sleep(100);
    await server.kill();
    await Promise.all(writers);
    assert.ok(ok.size > 0 && failed === 3);
    assert.equal(pipe.ready, false);
    const t0 = performance.now();
    await assert.rejects(store.appendAndLookup(u, entry('down')));
    assert.ok(performance.now() - t0 < 1500, 'rejects promptly while Redis is down');

    await server.restart();
    await until('the lean connection after the restart', () => pipe.ready);
    const r = await store.appendAndLookup(u, entry('back'));
    assert.ok(r.appended.record.seq > Math.max(...ok.keys()), 'no acknowledged seq is reused');
    await until('the ioredis client after the restart', () => redis.status === 'ready');
    const line = await leanClientLine(redis);
    assert.ok(line?.includes('cmd=evalsha'), `back on the lean connection: ${line}`);
  });

  it('call order holds when the lean connection is back while calls routed to ioredis are still unanswered', async () => {
    const key = `order-switch-${Date.now()}`;
    const sha = pipe.register(RPUSH);
    const slowFallback = (v: string) => async (): Promise<unknown> => { await sleep(150); return redis.eval(RPUSH, 1, key, v); };
    const id = /\bid=(\d+)/.exec((await leanClientLine(redis)) ?? '')?.[1];
    assert.ok(id, 'found the lean connection');
    await redis.client('KILL', 'ID', id);
    await until('the lean connection to drop', () => !pipe.ready, 2000);
    const a = pipe.route(sha, [key], ['a'], slowFallback('a')); // lean is down: the fallback, answered in 150 ms
    await until('the lean connection', () => pipe.ready);
    const b = pipe.route(sha, [key], ['b'], slowFallback('b')); // must not overtake a
    await Promise.all([a, b]);
    assert.deepEqual(await redis.lrange(key, 0, -1), ['a', 'b']);
  });

  it('a refused connect step ends that connect: the backoff grows, and after a few every call stays on ioredis (said once)', async () => {
    await redis.acl('SETUSER', 'noload', 'on', '>pw', '~*', '&*', '+@all', '-script|load');
    const warnings: string[] = [];
    const before = await connectionsReceived(redis);
    const p = ownPipe(server.url, { username: 'noload', password: 'pw', retryDelay: (n) => 20 * 2 ** n, limits: { maxRefusedConnects: 3 }, warn: (m) => warnings.push(m) });
    p.register(RPUSH);
    try {
      let readySeen = 0;
      const t0 = Date.now();
      while (Date.now() - t0 < 1200) {
        if (p.ready) readySeen++;
        await sleep(5);
      }
      const connects = (await connectionsReceived(redis)) - before;
      assert.equal(readySeen, 0, 'never ready while SCRIPT LOAD is refused');
      assert.ok(connects >= 3 && connects <= 5, `${connects} connects in 1.2 s`);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0]!, /3 connects in a row refused .*NOPERM.*ioredis/);
      let viaFallback = 0;
      await p.route(p.register(RPUSH), ['refused'], ['x'], async () => { viaFallback++; return 1; });
      assert.equal(viaFallback, 1, 'the call went on the fallback');
    } finally {
      p.close();
    }
  });

  it('CLIENT SETNAME refused is not fatal (best effort, as on ioredis)', async () => {
    await redis.acl('SETUSER', 'noname', 'on', '>pw', '~*', '&*', '+@all', '-client');
    const p = ownPipe(server.url, { username: 'noname', password: 'pw', name: 'longlink-test' });
    try {
      await until('the lean connection without its name', () => p.ready, 3000);
      const before = await connectionsReceived(redis);
      const sha = p.register(RPUSH);
      const n = await Promise.all(Array.from({ length: 10 }, (_, i) => p.call(sha, ['noname'], [String(i)])!));
      assert.deepEqual(n, Array.from({ length: 10 }, (_, i) => i + 1));
      await sleep(200);
      assert.ok(p.ready);
      assert.equal(await connectionsReceived(redis), before, 'no reconnects');
    } finally {
      p.close();
    }
  });

  it('a stalled server: timed-out calls are not scanned again (linear work), and calls past the bound reject at once', async () => {
    const p = ownPipe(server.url, { commandTimeoutMs: 100, limits: { maxPendingCalls: 3000 } });
    const sha = p.register(RPUSH);
    await until('the own lean connection', () => p.ready, 3000);
    // Count the FIFO reads of the timeout scans.
    let reads = 0;
    const q = p as unknown as { fifo: unknown[]; expire: () => void };
    const expire = q.expire.bind(p);
    q.expire = () => {
      const fifo = q.fifo;
      q.fifo = new Proxy(fifo, { get: (t, k, r) => { if (typeof k === 'string' && /^\d+$/.test(k)) reads++; return Reflect.get(t, k, r) as unknown; } });
      try { expire(); } finally { q.fifo = fifo; }
    };
    server.pause();
    const outcomes: Array<Promise<string>> = [];
    try {
      // 2000 calls over ~400 ms: each timer fire finds a few newly timed out behind many already timed out.
      for (let t = 0; t < 100; t++) {
        for (let i = 0; i < 20; i++) outcomes.push(p.call(sha, ['stall'], ['x'])!.then(() => 'ok', (e: Error) => e.name + ':' + e.message));
        await sleep(4);
      }
      await sleep(200);
      const done = await Promise.all(outcomes);
      assert.ok(done.every((x) => /timed out/.test(x)), done.find((x) => !/timed out/.test(x)));
      assert.ok(reads < 4 * outcomes.length, `${reads} FIFO reads for ${outcomes.length} timed-out calls`);
      // Past the bound (3000 waiting, timed-out ones included: their answers are still due): refused at once.
      const over: Array<Promise<string>> = [];
      for (let i = 0; i < 1100; i++) over.push(p.call(sha, ['stall'], ['y'])!.then(() => 'ok', (e: Error) => e.name));
      const refused = await Promise.race([Promise.all(over.slice(1000)), sleep(50).then(() => [] as string[])]);
      assert.ok(refused.length === 100 && refused.every((x) => x === 'LeanOverloadError'), `refused at once: ${refused.slice(0, 3).join()}`);
    } finally {
      server.resume();
      p.close();
    }
  });

  it('closes for good when the client ends', async () => {
    const other = await createRedis({ url: server.url });
    const p = leanPipeFor(other)!;
    await until('the second lean connection', () => p.ready);
    await other.quit();
    await until('the lean connection to close', () => !p.ready);
    assert.equal(p.call(p.register('#!lua\nreturn 1'), [], []), undefined, 'not ready: the caller uses ioredis');
  });
});
