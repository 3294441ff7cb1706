/**
 * `npm run bench:push-store`: the router's CPU per push-path store step
 * (RedisPushStore.appendAndLookup: seq + inbox append + presence read, one
 * script per recipient) on the lean Redis connection (stores/redis/lean-pipe.ts)
 * vs through ioredis, in one process against one redis-server, alternating
 * rounds so both see the same background load.
 *
 * Each round issues --calls calls, --per-turn of them per event-loop turn
 * (as the HTTP API does at a few thousand pushes/s), to --users users who
 * are online on one gateway, and measures this process's CPU (user + system,
 * process.cpuUsage) per call and the calls per second. The Redis server's
 * own CPU is not counted (it runs the same script either way).
 *
 * Flags: --calls 20000 --per-turn 4 --users 4000 --rounds 5 (after one warm-up round)
 * Prints one line per round and the medians; the last line is one JSON object.
 */
import { benchArgs } from '../lib/cli-args.js';
import { startRedis } from '../../infra/local/redis.js';
import { createRedis } from '../../services/router/stores/redis/client.js';
import { RedisInbox } from '../../services/router/stores/redis/inbox.js';
import { RedisPresence } from '../../services/router/stores/redis/presence.js';
import { RedisPushStore } from '../../services/router/stores/redis/push-store.js';
import { leanPipeFor } from '../../services/router/stores/redis/lean-pipe-for.js';

const { values: o } = benchArgs('bench:push-store', { options: {
  calls: { type: 'string', default: '20000' }, 'per-turn': { type: 'string', default: '4' },
  users: { type: 'string', default: '4000' }, rounds: { type: 'string', default: '5' },
} });
const CALLS = Number(o.calls), PER_TURN = Number(o['per-turn']), USERS = Number(o.users), ROUNDS = Number(o.rounds);
const log = (s: string): void => { process.stderr.write(`[bench:push-store] ${s}\n`); };
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

const server = await startRedis();
try {
  // Two clients: one whose lean connection is used, one whose lean connection is closed (every call on ioredis).
  const [leanClient, plainClient] = await Promise.all([createRedis({ url: server.url }), createRedis({ url: server.url })]);
  leanPipeFor(plainClient)?.close();
  const lean = leanPipeFor(leanClient);
  const build = (redis: typeof leanClient): { store: RedisPushStore; presence: RedisPresence } => {
    const presence = new RedisPresence({ redis });
    return { store: new RedisPushStore(new RedisInbox({ redis, maxLen: 100 }), presence), presence };
  };
  const paths = { lean: build(leanClient), ioredis: build(plainClient) };
  for (let t = 0; lean !== undefined && !lean.ready; t++) { if (t > 500) throw new Error('lean connection not ready'); await new Promise((r) => setTimeout(r, 10)); }
  // Every user online on one live gateway: the calls return one entry each, as in bench:push.
  const { presence } = paths.lean;
  const beacon = (): Promise<unknown> => presence.beacon({ gateway: 'gw-1', boot: 'b1', connections: USERS, draining: false, at: Date.now() });
  await beacon();
  for (let u = 0; u < USERS; u += 200) {
    await Promise.all(Array.from({ length: Math.min(200, USERS - u) }, (_, i) => presence.online({
      type: 'online', user: `u${u + i}`, device: 'd', conn: `c${u + i}`, session: `s${u + i}`, gateway: 'gw-1', at: Date.now(),
    })));
  }
  const data = JSON.stringify({ text: 'hello from bench:push-store', n: 1 });
  const results: Record<'lean' | 'ioredis', Array<{ us: number; rate: number; offline: number }>> = { lean: [], ioredis: [] };
  let seq = 0;
  // Round 0 warms both paths up (JIT) and is not counted.
  for (let r = 0; r <= ROUNDS; r++) {
    for (const name of ['lean', 'ioredis'] as const) {
      await beacon(); // renews the gateway's lease
      const { store } = paths[name];
      const pending: Array<Promise<unknown>> = [];
      let offline = 0;
      const c0 = process.cpuUsage(), t0 = performance.now();
      for (let i = 0; i < CALLS; i++) {
        pending.push(store.appendAndLookup(`u${i % USERS}`, { id: `m${++seq}`, ts: Date.now(), data }).then((x) => { if (x.entries.length === 0) offline++; }));
        if ((i + 1) % PER_TURN === 0) await turn();
        if (pending.length >= 512) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending);
      const c = process.cpuUsage(c0), ms = performance.now() - t0;
      const x = { us: Math.round(((c.user + c.system) / CALLS) * 10) / 10, rate: Math.round(CALLS / (ms / 1000)), offline };
      if (r === 0) continue;
      results[name].push(x);
      log(`round ${r} ${name.padEnd(7)}: ${x.us} µs CPU per call, ${x.rate} calls/s${offline > 0 ? `, ${offline} found no connection` : ''}`);
    }
  }
  const med = { lean: median(results.lean.map((x) => x.us)), ioredis: median(results.ioredis.map((x) => x.us)) };
  log(`median µs CPU per call: lean ${med.lean}, ioredis ${med.ioredis}, lean ÷ ioredis ${(med.lean / med.ioredis).toFixed(2)}`);
  console.log(JSON.stringify({ bench: 'push-store', date: new Date().toISOString(), calls: CALLS, per_turn: PER_TURN, users: USERS, results, median_us: med, ratio: Math.round((med.lean / med.ioredis) * 100) / 100 }));
  leanClient.disconnect();
  plainClient.disconnect();
} finally {
  await server.cleanup();
}
