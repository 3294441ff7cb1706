/**
 * Load-generator worker for the memory benchmark: opens N WebSocket
 * connections from one loopback source address, heartbeats each with the
 * 1-byte frame every interval (jittered phase, lib/fixed-beat.ts), and reports counts to the
 * parent over IPC. Commands from the parent: {cmd:'stats'}, {cmd:'close'}.
 * A refused or failed connect is retried (up to MAX_ATTEMPTS, with a growing
 * jittered pause), so every server carries the same number of connections
 * when the parent measures; `retries` and `errors` (by message) say how often
 * and why, `failed` counts the connections that never opened.
 */
import WebSocket from 'ws';
import { mintToken } from '../../services/standalone/dev-token.js';
import { encodeHeartbeat } from '../../protocol/index.js';
import { beatEvery } from '../lib/fixed-beat.js';
import { connectUrl, subprotocols } from '../lib/protocol-session.js';

interface Args { url: string; count: number; firstStage?: number; localAddress: string; intervalMs: number; secret?: string; prefix: string; concurrency: number }
const args = JSON.parse(process.argv[2]!) as Args;
const HB = encodeHeartbeat();
const sockets: WebSocket[] = [];
let open = 0, acks = 0, closedUnexpectedly = 0, failed = 0, sent = 0, retries = 0;
const errors: Record<string, number> = {};
let closing = false;
const MAX_ATTEMPTS = 8;

async function openOne(i: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const err = await tryOpen(i);
    if (err === undefined) return;
    errors[err] = (errors[err] ?? 0) + 1;
    if (attempt === MAX_ATTEMPTS) { failed++; return; }
    retries++;
    await new Promise((r) => setTimeout(r, 250 * attempt * (0.5 + Math.random())));
  }
}

/** One connect attempt: undefined once open, else why it failed. */
async function tryOpen(i: number): Promise<string | undefined> {
  const protocols = subprotocols(args.secret ? await mintToken(args.secret, `${args.prefix}-${i}`, { ttlSeconds: 3600 }) : undefined);
  return new Promise<string | undefined>((resolve) => {
    const ws = new WebSocket(connectUrl(args.url, { hbMs: args.intervalMs }), protocols, { localAddress: args.localAddress, perMessageDeflate: false });
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => {
      open++;
      sockets.push(ws);
      beatEvery(ws, args.intervalMs, HB, () => { sent++; });
      ws.on('close', () => { if (!closing) closedUnexpectedly++; });
      resolve(undefined);
    });
    ws.on('message', (_d, isBinary) => { if (isBinary) acks++; });
    // Before 'open' an error is a failed connect (ws then emits 'close' as well); after it, the close counts.
    ws.on('error', (e) => { resolve(e.message.slice(0, 60)); });
  });
}

let proceed: () => void = () => {};
const continued = new Promise<void>((r) => { proceed = r; });

async function openUpTo(n: number, from: number): Promise<void> {
  let next = from;
  const lanes = Array.from({ length: args.concurrency }, async () => {
    while (next < n) await openOne(next++);
  });
  await Promise.all(lanes);
}

async function main(): Promise<void> {
  // Optional two stages, so the parent can measure memory at two connection counts.
  const first = Math.min(args.firstStage ?? args.count, args.count);
  await openUpTo(first, 0);
  if (first < args.count) {
    process.send!({ type: 'stage', open, failed });
    await continued;
    await openUpTo(args.count, first);
  }
  process.send!({ type: 'ready', open, failed });
}

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'continue') proceed();
  if (m.cmd === 'stats') process.send!({ type: 'stats', open, acks, sent, closedUnexpectedly, failed, retries, errors });
  if (m.cmd === 'close') {
    closing = true;
    for (const ws of sockets) ws.terminate();
    setTimeout(() => process.exit(0), 200);
  }
});
void main();
