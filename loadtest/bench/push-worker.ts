/**
 * Client worker for `npm run bench:push` (push.ts forks several). Opens raw
 * protocol connections (one per user `u<i>`) from one loopback source address
 * straight to the gateways (user i → gateway i mod G), heartbeats each every
 * `intervalMs` (random phase), acks pushes with cumulative binary ack frames
 * (batched every `ackBatchMs`), and records end-to-end latency: receive time
 * minus the driver's send time carried in the push's `data.t`
 * (`performance.timeOrigin + performance.now()` in both processes).
 *
 * Latencies go into a fixed-size log-linear histogram per phase (`data.p`), so
 * memory stays bounded whatever the push count. IPC commands from the parent:
 *   {cmd:'counts'}            → {type:'counts', received: {[phase]: n}, ...totals}
 *   {cmd:'phase', id}         → {type:'phase', id, received, hist: [[bucket, n], ...], maxUs, sumUs}
 *                               (the phase is then closed; later arrivals count as `late`)
 *   {cmd:'clock', t}          → {type:'clock', d: now − t}   (clock/IPC sanity check)
 *   {cmd:'close'}             → terminates every socket and exits
 */
import WebSocket from 'ws';
import { fileURLToPath } from 'node:url';
import { mintToken } from '../../services/standalone/dev-token.js';
import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, decodeServerFrame, encodeAck, encodeHeartbeat } from '../../protocol/index.js';
import { HIST_BUCKETS, bucketOf } from '../lib/histogram.js';

// ---- worker -------------------------------------------------------------------------

export interface WorkerArgs {
  urls: string[]; first: number; count: number; localAddress: string; secret: string;
  intervalMs: number; ackBatchMs: number; concurrency: number;
}

interface Conn { ws: WebSocket; maxSeq: number; ackedSeq: number }
interface Phase { received: number; hist: Uint32Array; maxUs: number; sumUs: number }

const now = (): number => performance.timeOrigin + performance.now();

function runWorker(args: WorkerArgs): void {
  const HB = encodeHeartbeat();
  const conns: Conn[] = [];
  const dirty = new Set<Conn>();
  const phases = new Map<number, Phase>();
  const closedPhases = new Set<number>();
  const t = { open: 0, failed: 0, closedUnexpectedly: 0, pushes: 0, late: 0, unmarked: 0, badFrames: 0, reconnectFrames: 0,
    errorFrames: 0, hbSent: 0, hbAcks: 0, acksSent: 0, helloSeqNonZero: 0 };
  let closing = false;
  const errors = new Map<string, number>();

  function record(phase: number, latencyMs: number): void {
    if (closedPhases.has(phase)) { t.late++; return; }
    let p = phases.get(phase);
    if (!p) phases.set(phase, (p = { received: 0, hist: new Uint32Array(HIST_BUCKETS), maxUs: 0, sumUs: 0 }));
    const us = latencyMs * 1000;
    p.received++;
    p.hist[bucketOf(us)]!++;
    p.sumUs += us;
    if (us > p.maxUs) p.maxUs = us;
  }

  function onMessage(c: Conn, data: WebSocket.RawData, isBinary: boolean, onHello: () => void): void {
    const at = now();
    if (isBinary) { t.hbAcks++; return; }
    const d = decodeServerFrame(data as Buffer, false);
    if (!d.ok) { t.badFrames++; return; }
    const f = d.frame;
    switch (f.op) {
      case 'push': {
        t.pushes++;
        const m = f.data as { t?: unknown; p?: unknown } | null;
        if (m !== null && typeof m === 'object' && typeof m.t === 'number' && typeof m.p === 'number') record(m.p, at - m.t);
        else t.unmarked++;
        if (f.seq > c.maxSeq) { c.maxSeq = f.seq; dirty.add(c); }
        break;
      }
      case 'hello':
        if (f.seq > 0) { t.helloSeqNonZero++; c.maxSeq = f.seq; dirty.add(c); }
        onHello();
        break;
      case 'reconnect': t.reconnectFrames++; break;
      case 'error': t.errorFrames++; errors.set(f.name, (errors.get(f.name) ?? 0) + 1); break;
      default: break;
    }
  }

  async function openOne(i: number): Promise<void> {
    const user = `u${i}`;
    const url = args.urls[i % args.urls.length]!;
    const token = await mintToken(args.secret, user, { ttlSeconds: 3600 });
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`${url}?hb=${args.intervalMs}`, [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + token],
        { localAddress: args.localAddress, perMessageDeflate: false });
      ws.binaryType = 'nodebuffer';
      const c: Conn = { ws, maxSeq: 0, ackedSeq: 0 };
      let ready = false;
      const hello = (): void => {
        if (ready) return;
        ready = true;
        t.open++;
        conns.push(c);
        const beat = (): void => { if (ws.readyState === WebSocket.OPEN) { ws.send(HB); t.hbSent++; } };
        const phase = setTimeout(() => {
          beat();
          const timer = setInterval(beat, args.intervalMs);
          ws.once('close', () => clearInterval(timer));
        }, Math.random() * args.intervalMs);
        ws.once('close', () => clearTimeout(phase));
        resolve();
      };
      ws.on('message', (d, isBinary) => onMessage(c, d, isBinary, hello));
      ws.on('close', (code) => {
        if (!closing && ready) t.closedUnexpectedly++;
        if (!ready) { t.failed++; errors.set(`close ${code}`, (errors.get(`close ${code}`) ?? 0) + 1); resolve(); }
      });
      ws.on('error', (err) => { errors.set(err.message.slice(0, 80), (errors.get(err.message.slice(0, 80)) ?? 0) + 1); });
    });
  }

  // Batched cumulative acks: one frame per connection with news, every ackBatchMs.
  setInterval(() => {
    for (const c of dirty) {
      if (c.maxSeq > c.ackedSeq && c.ws.readyState === WebSocket.OPEN) {
        c.ws.send(encodeAck(c.maxSeq));
        c.ackedSeq = c.maxSeq;
        t.acksSent++;
      }
    }
    dirty.clear();
  }, args.ackBatchMs);

  const send = (m: object): void => { if (process.connected) process.send!(m); };

  process.on('message', (m: { cmd: string; id?: number; t?: number }) => {
    switch (m.cmd) {
      case 'counts': {
        const received: Record<string, number> = {};
        for (const [id, p] of phases) received[id] = p.received;
        send({ type: 'counts', received, ...t, errors: Object.fromEntries(errors) });
        break;
      }
      case 'phase': {
        const id = m.id!;
        const p = phases.get(id);
        phases.delete(id);
        closedPhases.add(id);
        const hist: Array<[number, number]> = [];
        if (p) p.hist.forEach((n, i) => { if (n > 0) hist.push([i, n]); });
        send({ type: 'phase', id, received: p?.received ?? 0, hist, maxUs: p?.maxUs ?? 0, sumUs: p?.sumUs ?? 0 });
        break;
      }
      case 'clock': send({ type: 'clock', d: now() - m.t! }); break;
      case 'close':
        closing = true;
        for (const c of conns) c.ws.terminate();
        setTimeout(() => process.exit(0), 200);
        break;
      default: break;
    }
  });
  process.on('disconnect', () => process.exit(0)); // parent gone: never linger

  void (async () => {
    let next = 0;
    const lanes = Array.from({ length: args.concurrency }, async () => {
      while (next < args.count) await openOne(args.first + next++);
    });
    await Promise.all(lanes);
    send({ type: 'ready', open: t.open, failed: t.failed, errors: Object.fromEntries(errors) });
  })();
}

if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  runWorker(JSON.parse(process.argv[2]!) as WorkerArgs);
}
