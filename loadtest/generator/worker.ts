/**
 * Load-generator worker (main.ts forks several): holds connections
 * [first, first+count) as protocol-level clients (ClientSession over `ws`,
 * loopback source addresses round-robin), heartbeating per protocol, acking
 * pushes, reconnecting with resume as the session advises. Every `sampleMs`
 * it sends the parent one sample: gauges plus deltas (counters and sparse
 * latency histograms) since the previous sample.
 *
 * IPC from the parent: {cmd:'start', ratePerS}, {cmd:'halt'} (open no more), {cmd:'drop', fraction},
 * {cmd:'stop'}; for the storm bench also {cmd:'backends', urls} (clients
 * then pick a random one per attempt, as a balancer would), {cmd:'mark'}
 * (per-client time to the next hello goes into `reconnect`) and
 * {cmd:'verify', expected: {user: seqs}} → {type:'verify', checked, missing}.
 */
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ClientSession } from '../lib/protocol-session.js';
import { retryPolicyFor, type RetryModeName } from '../lib/retry-policy.js';
import type { Driver, DriverOptions, EndInfo } from '../lib/ws-driver.js';
import { RawSessionDriver, nowMs } from '../lib/raw-driver.js';
import { mintTokenSync } from '../lib/fast-token.js';
import { Histogram, type Sparse } from '../lib/histogram.js';

export interface WorkerArgs {
  urls: string[]; first: number; count: number; sources: string[]; secret: string; userPrefix: string;
  hbMs: number; retry: RetryModeName; concurrency: number; sampleMs: number;
  /** Keep every received seq per user (for 'verify'). */
  recordSeqs?: boolean;
  /**
   * 'ws' (default): ws-driver.ts. 'raw': raw-driver.ts, a third of the memory per
   * connection, with tokens minted synchronously per attempt (lib/fast-token.ts).
   */
  driver?: 'ws' | 'raw';
  /** How often every connection is polled for due heartbeats and acks (ms, default 100). */
  sweepMs?: number;
}

export interface Counts {
  opened: number; reconnects: number; resumed: number; failed: number; unexpectedCloses: number; dropped: number;
  hbSent: number; hbAcks: number; pushes: number; duplicates: number; gaps: number; zombies: number; timeouts: number;
}
export interface HistDelta { b: Sparse; n: number; maxUs: number; sumUs: number }
export interface Sample {
  type: 'sample'; t: number; open: number; connecting: number; waiting: number; attempted: number;
  d: Counts; codes: Record<string, number>; statuses: Record<string, number>; errors: Record<string, number>;
  /** Retry-After of the 503s received (whole seconds → count). */
  retryAfter?: Record<string, number>;
  hb: HistDelta; push: HistDelta; connect: HistDelta; reconnect: HistDelta;
  /** Worst event-loop delay of this worker over the sample (ms): when high, the generator itself was the bottleneck. */
  lagMaxMs: number;
  /** This worker's resident memory (bytes). */
  rss?: number;
}

export const zeroCounts = (): Counts => ({ opened: 0, reconnects: 0, resumed: 0, failed: 0, unexpectedCloses: 0, dropped: 0,
  hbSent: 0, hbAcks: 0, pushes: 0, duplicates: 0, gaps: 0, zombies: 0, timeouts: 0 });

/** The driver class and token minting per `driver` ('ws' loads ws and jose only when used: ~20 MB less per raw process). */
async function driverKit(a: WorkerArgs): Promise<{ Driver: new (o: DriverOptions) => Driver; mint: (user: string) => string | Promise<string> }> {
  if (a.driver === 'raw') return { Driver: RawSessionDriver, mint: (user) => mintTokenSync(a.secret, user, 6 * 3600) };
  const [{ SessionDriver }, { mintToken }] = await Promise.all([import('../lib/ws-driver.js'), import('../../services/standalone/dev-token.js')]);
  return { Driver: SessionDriver, mint: (user) => mintToken(a.secret, user, { ttlSeconds: 6 * 3600 }) };
}

function runWorker(a: WorkerArgs, kit: Awaited<ReturnType<typeof driverKit>>): void {
  const drivers: Driver[] = [];
  const dropping = new WeakSet<Driver>();
  let d = zeroCounts();
  let codes: Record<string, number> = {}, statuses: Record<string, number> = {}, errors: Record<string, number> = {}, retryAfter: Record<string, number> = {};
  const hb = new Histogram(), push = new Histogram(), connect = new Histogram(), reconnect = new Histogram();
  let urls = a.urls, randomUrl = false, markAt = 0;
  const seqs = new Map<string, Set<number>>();
  const marked = new WeakSet<Driver>();
  const bump = (o: Record<string, number>, k: string): void => { o[k] = (o[k] ?? 0) + 1; };
  const retry = retryPolicyFor(a.retry);
  let stopping = false;

  const onEnd = (e: EndInfo, drv: Driver): void => {
    if (stopping) return;
    if (e.wasOpen) {
      if (dropping.has(drv)) { dropping.delete(drv); d.dropped++; }
      else {
        d.unexpectedCloses++;
        bump(codes, String(e.closeCode ?? 1006));
        if (e.closeCode === 4006) d.timeouts++;
      }
    } else {
      d.failed++;
      if (e.status !== undefined) bump(statuses, String(e.status));
      if (e.status === 503 && e.retryAfterMs !== undefined) bump(retryAfter, String(Math.round(e.retryAfterMs / 1000)));
      else bump(errors, e.error ?? 'closed before open');
    }
  };

  // At most 32 socket creations per event-loop turn (see DriverOptions.gate).
  const queue: Array<() => void> = [];
  const drainQueue = (): void => {
    for (let k = 0; k < 32 && queue.length > 0; k++) queue.shift()!();
    if (queue.length > 0) setImmediate(drainQueue);
  };
  const gate = (fn: () => void): void => { if (queue.push(fn) === 1) setImmediate(drainQueue); };

  const raw = a.driver === 'raw';
  const make = (i: number): Driver => {
    const n = a.first + i;
    const user = `${a.userPrefix}${n}`;
    let token: string | Promise<string> | undefined;
    const session = new ClientSession({ intervalMs: a.hbMs, retry });
    let seenHello = false;
    return new kit.Driver({
      url: () => urls[randomUrl ? Math.floor(Math.random() * urls.length) : n % urls.length]!, localAddress: a.sources[i % a.sources.length]!, session, tokenIn: 'subprotocol',
      // raw: a fresh token per attempt (a few µs, nothing kept per connection); ws: one per client, as before.
      token: raw ? () => kit.mint(user) : () => (token ??= kit.mint(user)),
      onEnd, gate,
      onEvent: (e, drv) => {
        switch (e.type) {
          case 'hello':
            d.opened++;
            if (seenHello) { d.reconnects++; if (e.frame.resumed) d.resumed++; }
            seenHello = true;
            connect.recordMs(nowMs() - drv.attemptStartedAt);
            if (markAt > 0 && !marked.has(drv)) { marked.add(drv); reconnect.recordMs(nowMs() - markAt); }
            break;
          case 'heartbeat_ack': d.hbAcks++; if (e.rttMs !== undefined) hb.recordMs(e.rttMs); break;
          case 'push':
            if (e.duplicate) { d.duplicates++; break; }
            d.pushes++;
            d.gaps += e.gap;
            push.recordMs(e.e2eMs ?? e.latencyMs);
            if (a.recordSeqs) { let set = seqs.get(user); if (!set) seqs.set(user, (set = new Set())); set.add(e.frame.seq); }
            break;
          default: break;
        }
      },
    });
  };

  // Heartbeats and acks: one sweep over every driver instead of a timer per socket.
  let lastHb = 0, lastZombies = 0;
  const sweep = setInterval(() => {
    const now = nowMs();
    for (const drv of drivers) drv.tick(now);
  }, a.sweepMs ?? 100);

  const send = (m: object): void => { if (process.connected) process.send!(m); };
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  let lastSampleAt = nowMs();
  const sample = (): void => {
    // A block that just ended may not be in the monitor yet: the sampler's own lateness covers it.
    const late = nowMs() - lastSampleAt - a.sampleMs;
    lastSampleAt = nowMs();
    let open = 0, connecting = 0, waiting = 0, hbSent = 0, zombies = 0;
    for (const drv of drivers) {
      // Open = hello received; an upgraded socket still waiting for its hello counts as connecting.
      if (drv.ready) open++; else if (drv.state === 'connecting' || drv.state === 'open') connecting++; else if (drv.state === 'waiting') waiting++;
      hbSent += drv.session.stats.heartbeats;
      zombies += drv.session.stats.zombies;
    }
    d.hbSent = hbSent - lastHb; lastHb = hbSent;
    d.zombies = zombies - lastZombies; lastZombies = zombies;
    const s: Sample = { type: 'sample', t: Date.now(), open, connecting, waiting, attempted: drivers.length, d, codes, statuses, errors, retryAfter,
      hb: hb.toSparse(), push: push.toSparse(), connect: connect.toSparse(), reconnect: reconnect.toSparse(),
      lagMaxMs: Math.round(Math.max(lag.max / 1e6, late)), rss: process.memoryUsage.rss() };
    lag.reset();
    send(s);
    d = zeroCounts(); codes = {}; statuses = {}; errors = {}; retryAfter = {};
    hb.reset(); push.reset(); connect.reset(); reconnect.reset();
  };
  const sampler = setInterval(sample, a.sampleMs);

  // Ramp: open at ratePerS, at most `concurrency` handshakes in flight.
  let halted = false;
  const start = (ratePerS: number): void => {
    const t0 = nowMs();
    const pace = setInterval(() => {
      if (stopping || halted) { clearInterval(pace); return; }
      const due = Math.min(a.count, Math.floor(((nowMs() - t0) / 1000) * ratePerS) + 1);
      let inFlight = 0;
      for (let k = Math.max(0, drivers.length - 4 * a.concurrency); k < drivers.length; k++) if (drivers[k]!.state === 'connecting') inFlight++;
      while (drivers.length < due && inFlight < a.concurrency) {
        const drv = make(drivers.length);
        drivers.push(drv);
        drv.connect();
        inFlight++;
      }
      if (drivers.length >= a.count) clearInterval(pace);
    }, 20);
  };

  process.on('message', (msg: { cmd: string; ratePerS?: number; fraction?: number; urls?: string[]; expected?: Record<string, number[]> }) => {
    if (msg.cmd === 'start') start(msg.ratePerS ?? 1000);
    if (msg.cmd === 'halt') halted = true; // open no more connections (the C1M bench's ramp limit)
    if (msg.cmd === 'backends') { urls = msg.urls ?? urls; randomUrl = true; }
    if (msg.cmd === 'mark') markAt = nowMs();
    if (msg.cmd === 'verify') {
      let checked = 0, missing = 0;
      const samples: string[] = [];
      for (const [user, want] of Object.entries(msg.expected ?? {})) {
        const got = seqs.get(user);
        for (const q of want) {
          checked++;
          if (!got?.has(q)) {
            missing++;
            if (samples.length < 5) {
              const drv = drivers[Number(user.slice(a.userPrefix.length)) - a.first];
              const st = drv?.session;
              samples.push(`${user}#${q} got=[${[...(got ?? [])].sort((x, y) => x - y).join(',')}] want=[${want.join(',')}]` +
                (drv && st ? ` lastSeq=${st.lastSeq} gw=${st.gateway ?? '-'} conn=${st.conn ?? '-'} hello=${markAt > 0 ? Math.round(drv.helloAt - markAt) : '-'}ms-after-kill ${JSON.stringify(st.stats)}` : ''));
            }
          }
        }
      }
      send({ type: 'verify', checked, missing, samples });
    }
    if (msg.cmd === 'drop') {
      const open = drivers.filter((x) => x.state === 'open');
      const k = Math.round(open.length * (msg.fraction ?? 0));
      for (let i = 0; i < k; i++) {
        // An even spread over this worker's connections (and so over the gateways).
        const drv = open[Math.floor((i * open.length) / k)]!;
        dropping.add(drv);
        drv.drop();
      }
    }
    if (msg.cmd === 'stop') {
      sample();
      stopping = true;
      clearInterval(sweep);
      clearInterval(sampler);
      for (const drv of drivers) drv.stop();
      send({ type: 'stopped' });
      setTimeout(() => process.exit(0), 300);
    }
  });
  process.on('disconnect', () => process.exit(0)); // parent gone: never linger
  send({ type: 'ready' });
}

if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = JSON.parse(process.argv[2]!) as WorkerArgs;
  void driverKit(args).then((kit) => runWorker(args, kit));
}
