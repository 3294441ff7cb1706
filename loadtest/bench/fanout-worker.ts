/**
 * A fan-out bench worker (fanout.ts): opens `count` protocol clients
 * (`channels=1`) spread over the gateways, each user
 * `fan<first+i>` with a token naming the bench channel plus, for the
 * sustained and latency phases, the one channel of each group the user falls
 * in (`groups`: user n is in `<prefix><floor(n/size)>` while n < size×count).
 * Each is the load tools' ClientSession (protocol-session.ts): the SDK's
 * heartbeat scheduler, as the push workers run it, on a driver chosen by
 * `client` (fanout-receipts.ts): 'lean' (raw-driver.ts, pub frames counted
 * from their bytes) or 'ws' (ws-driver.ts, every frame decoded: the bench's
 * client before the lean one, kept for before/after runs).
 * Pushes are not acked (`acks: false`), so the per-user push baseline costs
 * the gateways what it always did here: delivery alone, no ack traffic.
 * With `bareUrl` it also opens `bareCount` plain `ws` sockets to the bare
 * uWS publisher (fanout-bare.ts), from `bareAddress`: the kernel floor row.
 *
 * It records per `channel#offset` how many received it and the latest receipt
 * time (plus pushes by id, and `bare#offset` for the bare sockets).
 * Heartbeats: one sweep over every session each `SWEEP_MS` (the interval asked
 * for is 10 minutes, so a coarse sweep changes nothing the gateways see).
 * Out-of-order or duplicate receipts are counted per connection and channel.
 *
 * Health, per phase (`health`, which resets it): every end of a connection
 * that was not retried, by close code and reason (or HTTP status, or client
 * error text), and this process's event-loop delay: a starved client
 * process's heartbeats and reads are late, which is one way a full-size run
 * loses connections, and this says whether it happened.
 *
 * IPC: parent → { cmd: 'counts' | 'health' | 'close' }; worker → { type: 'ready' | 'counts' | 'health', ... }.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { mintToken } from '../../services/standalone/dev-token.js';
import { ClientSession } from '../lib/protocol-session.js';
import { SessionDriver, nowMs, type Driver } from '../lib/ws-driver.js';
import { RawSessionDriver } from '../lib/raw-driver.js';
import { scanPub, type PubScan } from '../lib/pub-scan.js';
import { LeanConn, Tallies } from './fanout-receipts.js';

export interface ChannelGroup { prefix: string; size: number; count: number }

export interface FanoutWorkerArgs {
  urls: string[];
  first: number;
  count: number;
  channel: string;
  groups: ChannelGroup[];
  secret: string;
  localAddress: string;
  concurrency: number;
  bareUrl?: string;
  bareCount?: number;
  bareAddress?: string;
  /** Receive path: 'lean' (default) or 'ws' (fanout-receipts.ts). */
  client?: 'lean' | 'ws';
}

/** Heartbeat interval asked for: long, so heartbeats cost the gateways next to nothing while they fan out. */
const HB_MS = 600_000;
/** Heartbeat sweep period: 'ws' keeps the 50 ms it always had; a sweep visits every session (12,500 a process at full size). */
const SWEEP_MS = 1000;

const a = JSON.parse(process.argv[2]!) as FanoutWorkerArgs;
const lean = (a.client ?? 'lean') === 'lean';
/** The lean path's receipts (fanout-receipts.ts); the 'ws' path keeps `pubs`. */
const tallies = new Tallies();
const send = (m: object): void => { process.send?.(m); };
/** `channel#offset` → [receipts, latest receipt wall ms] */
const pubs = new Map<string, [number, number]>();
/** push id → [receipts, latest receipt wall ms] */
const pushes = new Map<string, [number, number]>();
let subscribed = 0, disorder = 0, closed = 0, failed = 0, bareOpen = 0, bareClosed = 0;
const drivers: Driver[] = [];
/** Ends by cause since the last `health` ("1006", "4008 slow consumer", "http 503", "error ECONNRESET"…). */
let closes: Record<string, number> = {};
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function endCause(e: { closeCode?: number; closeReason?: string; status?: number; error?: string }): string {
  if (e.closeCode !== undefined) return e.closeReason ? `${e.closeCode} ${e.closeReason}` : String(e.closeCode);
  if (e.status !== undefined) return `http ${e.status}`;
  return `error ${e.error ?? 'unknown'}`;
}
const bare: WebSocket[] = [];

function note<K>(m: Map<K, [number, number]>, k: K, now: number): void {
  const e = m.get(k);
  if (e === undefined) m.set(k, [1, now]);
  else { e[0]++; if (now > e[1]) e[1] = now; }
}

/** The channels user n's token names. */
function channelsOf(n: number, main: string, groups: readonly ChannelGroup[]): string[] {
  const out = [main];
  for (const g of groups) if (n < g.size * g.count) out.push(`${g.prefix}${Math.floor(n / g.size)}`);
  return out;
}

/** Tries per subscriber: an open refused or timed out under the connect burst (a busy shared box) is tried again. */
const OPEN_TRIES = 4;
let failureNotes = 0;

function open(i: number, attempt = 0): Promise<void> {
  const n = a.first + i;
  const channels = channelsOf(n, a.channel, a.groups);
  return new Promise<void>((resolve) => {
    const last = new Map<string, number>();
    let pending = channels.length;
    const lc = lean ? new LeanConn(channels, tallies) : undefined;
    const Driver = lean ? RawSessionDriver : SessionDriver;
    const d = new Driver({
      url: a.urls[n % a.urls.length]!, channels: true, localAddress: a.localAddress, reconnect: false,
      token: () => mintToken(a.secret, `fan${n}`, { ttlSeconds: 7200, channels }),
      session: new ClientSession({ intervalMs: HB_MS, acks: false }),
      ...(lc ? { intercept: (op: number, buf: Buffer, s: number, e: number) => lc.intercept(op, buf, s, e, Date.now()) } : {}),
      onEvent: (e) => {
        const now = Date.now();
        if (e.type === 'subscribed' && channels.includes(e.frame.channel)) { if (--pending === 0) { subscribed++; resolve(); } }
        else if (e.type === 'pub') {
          if (lean) tallies.slowPubs++;
          const ch = e.frame.channel;
          if (e.frame.offset <= (last.get(ch) ?? 0)) disorder++;
          last.set(ch, e.frame.offset);
          note(pubs, `${ch}#${e.frame.offset}`, now);
        } else if (e.type === 'push') note(pushes, e.frame.id, now);
      },
      onEnd: (e) => {
        // Never subscribed (refused, timed out, or closed while starting): a fresh connection, after a pause.
        if (pending > 0 && attempt + 1 < OPEN_TRIES) {
          setTimeout(() => { void open(i, attempt + 1).then(resolve); }, 500 * (attempt + 1));
          return;
        }
        closed++;
        const cause = endCause(e);
        closes[cause] = (closes[cause] ?? 0) + 1;
        if (e.error !== undefined || !e.wasOpen) failed++;
        if (pending > 0 && failureNotes++ < 5) process.stderr.write(`[fanout-worker] fan${n} not subscribed after ${attempt + 1} tries: ${e.error ?? `closed (open: ${e.wasOpen})`}\n`);
        resolve();
      },
    });
    drivers.push(d);
    d.connect();
  });
}

const bareScan: PubScan = { channelStart: 0, channelEnd: 0, offset: 0 };
const bareTally = tallies.get('bare');
/**
 * A plain socket to the bare publisher: counts `bare#offset` (the frame is a pub frame, as the gateways send).
 * A failed open (a full accept backlog under the connect burst) is retried a few times, then counted.
 */
function openBare(attempt = 0): Promise<void> {
  return new Promise<void>((resolve) => {
    const ws = new WebSocket(a.bareUrl!, { perMessageDeflate: false, localAddress: a.bareAddress!, handshakeTimeout: 30_000 });
    let last = 0, opened = false;
    ws.on('open', () => { opened = true; bare.push(ws); bareOpen++; resolve(); });
    ws.on('message', (data: Buffer) => {
      // Lean: the offset from the bytes (the bare server sends the gateways' pub frame); else decoded, as before.
      const offset = lean && scanPub(data, 0, data.length, bareScan) ? bareScan.offset : (JSON.parse(String(data)) as { offset: number }).offset;
      if (offset <= last) disorder++;
      last = offset;
      if (lean) bareTally.add(offset, Date.now());
      else note(pubs, `bare#${offset}`, Date.now());
    });
    ws.on('error', (err) => {
      if (opened) return;
      if (attempt < 4) { setTimeout(() => { void openBare(attempt + 1).then(resolve); }, 200 * (attempt + 1)); return; }
      failed++;
      process.stderr.write(`[fanout-worker] bare socket: ${err.message}\n`);
      resolve();
    });
    ws.on('close', (code) => { if (opened) { bareClosed++; const cause = `bare ${code}`; closes[cause] = (closes[cause] ?? 0) + 1; } });
  });
}

async function lanes(n: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => { while (next < n) await fn(next++); };
  await Promise.all(Array.from({ length: Math.min(a.concurrency, n) }, lane));
}

async function main(): Promise<void> {
  // Heartbeats: one sweep over every session (as the push workers do).
  setInterval(() => { const at = nowMs(); for (const d of drivers) d.tick(at); }, lean ? SWEEP_MS : 50);
  await lanes(a.count, open);
  if (a.bareUrl !== undefined) await lanes(a.bareCount ?? 0, () => openBare());
  send({ type: 'ready', subscribed, failed, closed, bareOpen });
}

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'counts') {
    const all = [...pubs];
    tallies.entries(all);
    send({ type: 'counts', pubs: all, pushes: [...pushes], disorder: disorder + tallies.disorder, slowPubs: tallies.slowPubs, closed: closed + bareClosed, subscribed, bareOpen });
  }
  else if (m.cmd === 'health') {
    const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
    send({ type: 'health', lag_p50_ms: ms(loopDelay.percentile(50)), lag_p99_ms: ms(loopDelay.percentile(99)), lag_max_ms: ms(loopDelay.max), closes });
    loopDelay.reset();
    closes = {};
  } else if (m.cmd === 'close') { for (const d of drivers) d.stop(); for (const ws of bare) ws.terminate(); process.exit(0); }
});
void main();
