/**
 * `npm run bench:webhook-share`: what the per-user webhook share adds to the
 * push path of a router in cluster mode, per event (jetstream-share.ts), on
 * a real nats-server with JetStream. A router's queue (JetStreamWebhookQueue)
 * takes `--events` push.offline-sized events about `--users` users,
 * `--turn` per event-loop turn (a busy router's turn), and the run waits
 * until JetStream has stored every one. Modes, alternated per round:
 *   none    the queue without a share;
 *   share   with the share (limits high enough that nothing is refused):
 *           the user hashed, the ledger charged, the charge announced per
 *           turn, the tags (and charge ids) in the message headers;
 *   listen  as share, plus a second router on its own connection in this
 *           process, hearing every charge announcement: listen − share is
 *           what each other router pays per event.
 * Per event: `sync_us`, the enqueue calls themselves (what the push's own
 * turn pays); `cpu_us`, this process's CPU (enqueue, publishes, PubAcks,
 * announcements); `nats_us`, the nats-server's; how many events shared a
 * queue message (the batching: a message's cost is spread over its events).
 *
 * Flags: --rounds 5 --events 100000 --turn 32 --users 10000 --body 290
 * Prints a table; the last line is one JSON object.
 */
import { startNatsServer } from '../../infra/local/nats.js';
import { connectNatsBus, type NatsBus } from '../../services/shared/bus/nats-bus.js';
import { openJetStreamQueue, type JetStreamWebhookQueue } from '../../services/router/webhooks/jetstream-queue.js';
import type { Logger } from '../../services/shared/log.js';
import { benchArgs } from '../lib/cli-args.js';
import { cpuMicrosFine } from './proc-stats.js';

const { values: o } = benchArgs('bench:webhook-share', { options: {
  rounds: { type: 'string', default: '5' }, events: { type: 'string', default: '100000' }, turn: { type: 'string', default: '32' },
  users: { type: 'string', default: '10000' }, body: { type: 'string', default: '290' },
} });
const ROUNDS = Number(o.rounds), EVENTS = Number(o.events), TURN = Number(o.turn), USERS = Number(o.users);
const BODY = `{"type":"push.offline","data":{"payload":"${'x'.repeat(Math.max(0, Number(o.body) - 40))}"}}`;
const noop = (): void => undefined;
const silent = { debug: noop, info: noop, warn: noop, error: noop, child: () => silent } as unknown as Logger;
type Mode = 'none' | 'share' | 'listen';
const MODES: Mode[] = ['none', 'share', 'listen'];

const nats = await startNatsServer({ jetstream: true });
const natsPid = nats.pid(0)!;
const bus = await connectNatsBus({ servers: nats.urls, name: 'bench-share', log: silent });
const users = Array.from({ length: USERS }, (_, i) => `user-${i}`);
const share = { maxJobs: 1e9, maxBytes: 1e15 };

interface Row { sync_us: number; cpu_us: number; nats_us: number; per_message: number }
async function phase(mode: Mode, round: number): Promise<Row> {
  const prefix = `bench${round}${mode}`;
  const open = (nc: NatsBus['connection']): Promise<JetStreamWebhookQueue> => openJetStreamQueue({
    nc, prefix, log: silent, timeoutMs: 10_000, horizonMs: 86_400_000, deadTtlMs: 3_600_000, share: mode === 'none' ? undefined : share, deadShare: false,
  });
  const q = await open(bus.connection);
  const otherBus = mode === 'listen' ? await connectNatsBus({ servers: nats.urls, name: 'bench-share-other', log: silent }) : undefined;
  const other = otherBus ? await open(otherBus.connection) : undefined;
  await new Promise((r) => setTimeout(r, 200));
  const cpu0 = process.cpuUsage(), nats0 = cpuMicrosFine(natsPid);
  let sync = 0, n = 0;
  const stored: Array<Promise<void>> = [];
  while (n < EVENTS) {
    const t0 = performance.now();
    for (let i = 0; i < TURN && n < EVENTS; i++, n++) {
      for (const p of q.enqueueEvent({ id: `msg_${n}`, type: 'push.offline', createdAt: Date.now(), body: BODY, key: users[n % USERS] }, ['bridge'])) stored.push(p);
    }
    sync += performance.now() - t0;
    await new Promise((r) => setImmediate(r));
    if (stored.length >= 4096) { await Promise.all(stored); stored.length = 0; }
  }
  await Promise.all(stored);
  if (other) await new Promise((r) => setTimeout(r, 100)); // the last announcements heard
  const cpu = process.cpuUsage(cpu0), natsUs = cpuMicrosFine(natsPid) - nats0;
  const pub = (q as unknown as { publisher: { messages: number; jobs: number } }).publisher;
  await other?.close();
  await otherBus?.close();
  await q.manager.streams.delete(q.stream).catch(noop);
  await q.close();
  return { sync_us: (sync * 1000) / EVENTS, cpu_us: (cpu.user + cpu.system) / EVENTS, nats_us: natsUs / EVENTS, per_message: pub.jobs / pub.messages };
}

const rows: Record<Mode, Row[]> = { none: [], share: [], listen: [] };
try {
  await phase('none', -1); // warm-up: JIT, the server's first stream
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of r % 2 === 0 ? MODES : [...MODES].reverse()) {
      const p = await phase(m, r);
      rows[m].push(p);
      process.stderr.write(`[bench:webhook-share] round ${r} ${m}: sync ${p.sync_us.toFixed(2)} µs, cpu ${p.cpu_us.toFixed(2)} µs, nats ${p.nats_us.toFixed(2)} µs per event, ${p.per_message.toFixed(1)} events per message\n`);
    }
  }
} finally {
  await bus.close();
  await nats.stop();
}
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const out = Object.fromEntries(MODES.map((m) => [m, {
  sync_us: +median(rows[m].map((x) => x.sync_us)).toFixed(2), cpu_us: +median(rows[m].map((x) => x.cpu_us)).toFixed(2), nats_us: +median(rows[m].map((x) => x.nats_us)).toFixed(2),
  per_message: +median(rows[m].map((x) => x.per_message)).toFixed(1),
}]));
process.stdout.write('mode     sync µs/event  cpu µs/event  nats µs/event  events/message (medians)\n');
for (const m of MODES) process.stdout.write(`${m.padEnd(8)} ${String(out[m]!.sync_us).padStart(13)} ${String(out[m]!.cpu_us).padStart(13)} ${String(out[m]!.nats_us).padStart(14)} ${String(out[m]!.per_message).padStart(15)}\n`);
process.stdout.write(`${JSON.stringify({ events: EVENTS, turn: TURN, users: USERS, rounds: ROUNDS, ...out })}\n`);
