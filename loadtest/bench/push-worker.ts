/**
 * Client worker for `npm run bench:push` (push.ts forks several). Opens
 * protocol clients (one per user `u<i>`) from one loopback source address
 * straight to the gateways (user i → gateway i mod G). Each is the load
 * tools' ClientSession (protocol-session.ts): the SDK's heartbeat scheduler,
 * and its ack batching with `ackBatchMs` as the ack delay. It records
 * end-to-end latency: receive time minus the driver's send time carried in
 * the push's `data.t` (`performance.timeOrigin + performance.now()` in both
 * processes).
 *
 * Latencies go into the one histogram (loadtest/lib/histogram.ts) per phase
 * (`data.p`), so memory stays bounded whatever the push count. IPC commands from the parent:
 *   {cmd:'counts'}            → {type:'counts', received: {[phase]: n}, ...totals}
 *   {cmd:'phase', id}         → {type:'phase', id, hist: Histogram.toSparse()}
 *                               (the phase is then closed; later arrivals count as `late`)
 *   {cmd:'clock', t}          → {type:'clock', d: now − t}   (clock/IPC sanity check)
 *   {cmd:'hops'}              → {type:'hops', keys, at}: with `hops`, each push's `data.t` (as text) and its
 *                               receive time on CLOCK_MONOTONIC (ms) since the last such command (bench:push --hops)
 *   {cmd:'close'}             → terminates every socket and exits
 */
import { fileURLToPath } from 'node:url';
import { mintToken } from '../../services/standalone/dev-token.js';
import { encodeAck } from '../../protocol/index.js';
import { ClientSession } from '../lib/protocol-session.js';
import { SessionDriver, nowMs as now } from '../lib/ws-driver.js';
import { Histogram } from '../lib/histogram.js';

// ---- worker -------------------------------------------------------------------------

export interface WorkerArgs {
  urls: string[]; first: number; count: number; localAddress: string; secret: string;
  intervalMs: number; ackBatchMs: number; concurrency: number;
  /** Keep every push's receive time on the monotonic clock (bench:push --hops; at most 400,000 between reads). */
  hops?: boolean;
}

function runWorker(args: WorkerArgs): void {
  const drivers: SessionDriver[] = [];
  const phases = new Map<number, Histogram>();
  const closedPhases = new Set<number>();
  const t = { open: 0, failed: 0, closedUnexpectedly: 0, pushes: 0, late: 0, unmarked: 0, badFrames: 0, reconnectFrames: 0,
    errorFrames: 0, hbSent: 0, hbAcks: 0, acksSent: 0, helloSeqNonZero: 0 };
  let closing = false;
  const errors = new Map<string, number>();
  let hopKeys: string[] = [], hopAt: number[] = [];
  const noteError = (e: string): void => { errors.set(e, (errors.get(e) ?? 0) + 1); };

  function record(phase: number, latencyMs: number): void {
    if (closedPhases.has(phase)) { t.late++; return; }
    let h = phases.get(phase);
    if (!h) phases.set(phase, (h = new Histogram()));
    h.recordMs(latencyMs);
  }

  // Heartbeats and acks: one sweep over every session, often enough for the ack delay.
  setInterval(() => { const at = now(); for (const d of drivers) d.tick(at); }, Math.max(5, Math.min(100, args.ackBatchMs)));

  function openOne(i: number): Promise<void> {
    const user = `u${i}`;
    return new Promise<void>((resolve) => {
      let ready = false;
      const d = new SessionDriver({
        url: args.urls[i % args.urls.length]!, token: () => mintToken(args.secret, user, { ttlSeconds: 3600 }), localAddress: args.localAddress, reconnect: false,
        session: new ClientSession({ intervalMs: args.intervalMs, ackBatchMs: args.ackBatchMs }),
        onEvent: (e, drv) => {
          switch (e.type) {
            case 'hello':
              if (ready) break;
              ready = true;
              t.open++;
              // Pushes left from an earlier run: ack them so the inbox is trimmed and they are not replayed into this one.
              if (e.frame.seq > 0) { t.helloSeqNonZero++; drv.send(encodeAck(e.frame.seq)); }
              resolve();
              break;
            case 'push': {
              t.pushes++;
              const m = e.frame.data as { t?: unknown; p?: unknown } | null;
              if (m !== null && typeof m === 'object' && typeof m.t === 'number' && typeof m.p === 'number') {
                record(m.p, now() - m.t);
                if (args.hops === true && hopKeys.length < 400_000) { hopKeys.push(String(m.t)); hopAt.push(Number(process.hrtime.bigint()) / 1e6); }
              }
              else t.unmarked++;
              break;
            }
            case 'invalid': t.badFrames++; break;
            case 'reconnect': t.reconnectFrames++; break;
            case 'error': t.errorFrames++; noteError(e.frame.name); break;
            default: break;
          }
        },
        onEnd: (e) => {
          if (e.error !== undefined) noteError(e.error.slice(0, 80));
          if (!ready) { t.failed++; noteError(e.status !== undefined ? `HTTP ${e.status}` : `close ${e.closeCode ?? 'before open'}`); resolve(); }
          else if (!closing) t.closedUnexpectedly++;
        },
      });
      drivers.push(d);
      d.connect();
    });
  }

  /** Client counters: the sessions' own, plus this worker's. */
  const totals = (): typeof t => {
    let hbSent = 0, hbAcks = 0, acksSent = 0;
    for (const d of drivers) { hbSent += d.session.stats.heartbeats; hbAcks += d.session.stats.heartbeatAcks; acksSent += d.session.stats.acks; }
    return { ...t, hbSent, hbAcks, acksSent };
  };

  const send = (m: object): void => { if (process.connected) process.send!(m); };

  process.on('message', (m: { cmd: string; id?: number; t?: number }) => {
    switch (m.cmd) {
      case 'counts': {
        const received: Record<string, number> = {};
        for (const [id, h] of phases) received[id] = h.n;
        send({ type: 'counts', received, ...totals(), errors: Object.fromEntries(errors) });
        break;
      }
      case 'phase': {
        const id = m.id!;
        const h = phases.get(id) ?? new Histogram();
        phases.delete(id);
        closedPhases.add(id);
        send({ type: 'phase', id, hist: h.toSparse() });
        break;
      }
      case 'clock': send({ type: 'clock', d: now() - m.t! }); break;
      case 'hops':
        send({ type: 'hops', keys: hopKeys, at: hopAt });
        hopKeys = []; hopAt = [];
        break;
      case 'close':
        closing = true;
        for (const d of drivers) d.stop();
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
