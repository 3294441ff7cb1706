/**
 * One-way delay with jitter for links in a network namespace, without netem:
 * iptables sends a link's packets to an NFQUEUE (`-j NFQUEUE --queue-num N`,
 * shaping.ts), the packets stay in the kernel, and this program only holds
 * their verdicts. Run inside the namespace that owns the rules:
 *
 *   ip netns exec NS node dist/infra/netns/delayer.js --queues 0,1 [--seed 7]
 *
 * Each packet is released at max(previous release, arrival + delay ± jitter):
 * jitter varies the delay but never reorders a queue (a mobile link's bearer
 * delivers in order; netem's reordering jitter would add spurious fast
 * retransmits no carrier causes). Commands on stdin, one JSON object a line:
 *   {"queue":0,"delayMs":75,"jitterMs":25}
 * Events on stdout, one JSON object a line: {"event":"bound"}, {"event":"set",…},
 * {"event":"stats",…} on SIGUSR2 and at exit. SIGTERM/stdin end: every held
 * packet is accepted, the queues unbound, exit 0.
 */
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type * as Netlink from 'netlink';
import { Rand } from '../../loadtest/lib/rand.js';
import { configCommand, configParams, decode, NETLINK_NETFILTER, NF_ACCEPT, NFQNL_CFG_CMD_BIND, NFQNL_CFG_CMD_UNBIND, NFQNL_COPY_META, verdict } from './nfqueue.js';

// netlink is CommonJS with a native binding: loaded with require.
const { RawNetlinkSocket } = createRequire(import.meta.url)('netlink') as typeof Netlink;

interface Queue {
  delayMs: number;
  jitterMs: number;
  held: Array<{ id: number; due: number }>;
  head: number;
  lastDue: number;
  timer: NodeJS.Timeout | undefined;
  passed: number;
  maxHeld: number;
}

const { values } = parseArgs({ options: { queues: { type: 'string' }, seed: { type: 'string', default: '1' }, maxlen: { type: 'string', default: '16384' } } });
const nums = (values.queues ?? '').split(',').filter(Boolean).map(Number);
if (nums.length === 0 || nums.some((n) => !Number.isInteger(n) || n < 0 || n > 65535)) {
  process.stderr.write('delayer: --queues N[,N...] (0..65535) required\n');
  process.exit(2);
}
const rand = new Rand(Number(values.seed));
const queues = new Map<number, Queue>(nums.map((n) => [n, { delayMs: 0, jitterMs: 0, held: [], head: 0, lastDue: 0, timer: undefined, passed: 0, maxHeld: 0 }]));
const sock: Netlink.RawNetlinkSocket = new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
const emit = (o: object): void => { process.stdout.write(JSON.stringify(o) + '\n'); };

let seq = 1;
const pendingAcks = new Map<number, (errno: number) => void>();
function request(msg: Buffer, s: number): Promise<void> {
  return new Promise((resolve, reject) => {
    pendingAcks.set(s, (errno) => (errno === 0 ? resolve() : reject(new Error(`nfqueue config failed: errno ${errno}`))));
    sock.send(msg);
  });
}

function release(n: number, q: Queue, all: boolean): void {
  q.timer = undefined;
  const now = performance.now();
  while (q.head < q.held.length && (all || q.held[q.head]!.due <= now)) {
    sock.send(verdict(n, q.held[q.head]!.id, NF_ACCEPT));
    q.head++;
    q.passed++;
  }
  if (q.head > 1024 && q.head * 2 > q.held.length) { q.held = q.held.slice(q.head); q.head = 0; }
  if (q.head < q.held.length && !all) q.timer = setTimeout(() => release(n, q, false), Math.max(0, q.held[q.head]!.due - now));
}

sock.on('message', (buf: Buffer) => {
  for (const m of decode(buf)) {
    if (m.kind === 'ack') {
      pendingAcks.get(m.seq)?.(m.errno);
      pendingAcks.delete(m.seq);
    } else if (m.kind === 'packet') {
      const q = queues.get(m.queue);
      if (q === undefined) { sock.send(verdict(m.queue, m.id, NF_ACCEPT)); continue; }
      const now = performance.now();
      const d = q.delayMs + (q.jitterMs > 0 ? (rand.next() * 2 - 1) * q.jitterMs : 0);
      if (q.delayMs === 0 && q.jitterMs === 0 && q.head === q.held.length) { sock.send(verdict(m.queue, m.id, NF_ACCEPT)); q.passed++; continue; }
      const due = Math.max(q.lastDue, now + Math.max(0, d));
      q.lastDue = due;
      q.held.push({ id: m.id, due });
      q.maxHeld = Math.max(q.maxHeld, q.held.length - q.head);
      if (q.timer === undefined) q.timer = setTimeout(() => release(m.queue, q, false), Math.max(0, due - now));
    }
  }
});
sock.on('error', (err: Error) => { process.stderr.write(`delayer: netlink error: ${err.message}\n`); });

const stats = (): object => ({ event: 'stats', queues: [...queues].map(([n, q]) => ({ queue: n, delayMs: q.delayMs, jitterMs: q.jitterMs, passed: q.passed, held: q.held.length - q.head, maxHeld: q.maxHeld })) });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const [n, q] of queues) { if (q.timer) clearTimeout(q.timer); release(n, q, true); }
  emit(stats());
  for (const n of queues.keys()) { const s = seq++; await request(configCommand(s, n, NFQNL_CFG_CMD_UNBIND), s).catch(() => undefined); }
  sock.close();
  process.exit(0);
}

async function main(): Promise<void> {
  for (const n of queues.keys()) {
    let s = seq++;
    await request(configCommand(s, n, NFQNL_CFG_CMD_BIND), s);
    s = seq++;
    await request(configParams(s, n, NFQNL_COPY_META, Number(values.maxlen)), s);
  }
  emit({ event: 'bound', queues: [...queues.keys()] });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let cmd: { queue?: unknown; delayMs?: unknown; jitterMs?: unknown };
    try { cmd = JSON.parse(line) as typeof cmd; } catch { emit({ event: 'error', error: 'bad JSON', line }); return; }
    const q = typeof cmd.queue === 'number' ? queues.get(cmd.queue) : undefined;
    const d = Number(cmd.delayMs ?? 0);
    const j = Number(cmd.jitterMs ?? 0);
    if (q === undefined || !(d >= 0) || !(j >= 0) || j > d) { emit({ event: 'error', error: 'want {queue, delayMs >= jitterMs >= 0}', line }); return; }
    q.delayMs = d;
    q.jitterMs = j;
    emit({ event: 'set', queue: cmd.queue, delayMs: d, jitterMs: j });
  });
  rl.on('close', () => { void stop(); });
  process.on('SIGTERM', () => { void stop(); });
  process.on('SIGINT', () => { void stop(); });
  process.on('SIGUSR2', () => emit(stats()));
}

main().catch((err: unknown) => {
  process.stderr.write(`delayer: ${(err as Error).message}\n`);
  process.exit(1);
});
