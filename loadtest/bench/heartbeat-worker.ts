/**
 * Load-generator worker for the memory benchmark: opens N WebSocket
 * connections from one loopback source address, heartbeats each with the
 * 1-byte frame every interval (jittered phase, lib/fixed-beat.ts), and reports counts to the
 * parent over IPC. Commands from the parent: {cmd:'stats'}, {cmd:'close'}.
 * A refused or failed connect is retried (up to MAX_ATTEMPTS, with a growing
 * jittered pause), so every server carries the same number of connections
 * when the parent measures; `retries` and `errors` (by message) say how often
 * and why, `failed` counts the connections that never opened.
 *
 * With `targets` (bench:heartbeat-cpu's shared clients) one worker holds
 * connections to several servers, opened interleaved (one to each in turn)
 * and heartbeating on the same kind of timers, so every server sees the same
 * client processes and no server's clients are forked, or connect, before
 * another's; `stats` then also carries the counts per target, in order.
 */
import WebSocket from 'ws';
import { mintToken } from '../../services/standalone/dev-token.js';
import { encodeHeartbeat } from '../../protocol/index.js';
import { beatEvery } from '../lib/fixed-beat.js';
import { connectUrl, subprotocols } from '../lib/protocol-session.js';

interface Target { url: string; count: number; secret?: string; prefix: string }
interface Args {
  url?: string; count?: number; secret?: string; prefix?: string;
  /** Instead of url/count/secret/prefix: several servers, connections interleaved. */
  targets?: Target[];
  firstStage?: number; localAddress: string; intervalMs: number; concurrency: number;
}
const args = JSON.parse(process.argv[2]!) as Args;
const targets: Target[] = args.targets ?? [{ url: args.url!, count: args.count!, prefix: args.prefix!, ...(args.secret !== undefined ? { secret: args.secret } : {}) }];
const HB = encodeHeartbeat();
const sockets: WebSocket[] = [];
interface Counts { open: number; acks: number; sent: number; closedUnexpectedly: number; failed: number; retries: number; errors: Record<string, number> }
const per: Counts[] = targets.map(() => ({ open: 0, acks: 0, sent: 0, closedUnexpectedly: 0, failed: 0, retries: 0, errors: {} }));
let closing = false;
const MAX_ATTEMPTS = 8;

/** Every connection to open, as (target, index), one to each target in turn while each has some left. */
const plan: Array<[number, number]> = [];
for (let i = 0, left = true; left; i++) {
  left = false;
  targets.forEach((t, k) => { if (i < t.count) { plan.push([k, i]); left = true; } });
}

async function openOne(k: number, i: number): Promise<void> {
  const n = per[k]!;
  for (let attempt = 1; ; attempt++) {
    const err = await tryOpen(k, i);
    if (err === undefined) return;
    n.errors[err] = (n.errors[err] ?? 0) + 1;
    if (attempt === MAX_ATTEMPTS) { n.failed++; return; }
    n.retries++;
    await new Promise((r) => setTimeout(r, 250 * attempt * (0.5 + Math.random())));
  }
}

/** One connect attempt: undefined once open, else why it failed. */
async function tryOpen(k: number, i: number): Promise<string | undefined> {
  const t = targets[k]!, n = per[k]!;
  const protocols = subprotocols(t.secret ? await mintToken(t.secret, `${t.prefix}-${i}`, { ttlSeconds: 3600 }) : undefined);
  return new Promise<string | undefined>((resolve) => {
    const ws = new WebSocket(connectUrl(t.url, { hbMs: args.intervalMs }), protocols, { localAddress: args.localAddress, perMessageDeflate: false });
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => {
      n.open++;
      sockets.push(ws);
      beatEvery(ws, args.intervalMs, HB, () => { n.sent++; });
      ws.on('close', () => { if (!closing) n.closedUnexpectedly++; });
      resolve(undefined);
    });
    ws.on('message', (_d, isBinary) => { if (isBinary) n.acks++; });
    // Before 'open' an error is a failed connect (ws then emits 'close' as well); after it, the close counts.
    ws.on('error', (e) => { resolve(e.message.slice(0, 60)); });
  });
}

let proceed: () => void = () => {};
const continued = new Promise<void>((r) => { proceed = r; });

async function openUpTo(n: number, from: number): Promise<void> {
  let next = from;
  const lanes = Array.from({ length: args.concurrency }, async () => {
    while (next < n) { const [k, i] = plan[next++]!; await openOne(k, i); }
  });
  await Promise.all(lanes);
}

/** The counts summed over targets (what a single-target caller reads), and per target. */
function totals(): Counts & { targets: Counts[] } {
  const sum = (f: (c: Counts) => number): number => per.reduce((a, c) => a + f(c), 0);
  const errors: Record<string, number> = {};
  for (const c of per) for (const [e, v] of Object.entries(c.errors)) errors[e] = (errors[e] ?? 0) + v;
  return {
    open: sum((c) => c.open), acks: sum((c) => c.acks), sent: sum((c) => c.sent), closedUnexpectedly: sum((c) => c.closedUnexpectedly),
    failed: sum((c) => c.failed), retries: sum((c) => c.retries), errors, targets: per,
  };
}

async function main(): Promise<void> {
  // Optional two stages, so the parent can measure memory at two connection counts.
  const first = Math.min(args.firstStage ?? plan.length, plan.length);
  await openUpTo(first, 0);
  if (first < plan.length) {
    const { open, failed } = totals();
    process.send!({ type: 'stage', open, failed });
    await continued;
    await openUpTo(plan.length, first);
  }
  const { open, failed } = totals();
  process.send!({ type: 'ready', open, failed });
}

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'continue') proceed();
  if (m.cmd === 'stats') process.send!({ type: 'stats', ...totals() });
  if (m.cmd === 'close') {
    closing = true;
    for (const ws of sockets) ws.terminate();
    setTimeout(() => process.exit(0), 200);
  }
});
void main();
