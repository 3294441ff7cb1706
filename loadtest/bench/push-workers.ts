/**
 * The push benches' load workers (push-worker.ts), shared by bench:push and
 * bench:gateway-deliver: their common flags, forking them (users split into
 * equal ranges, one loopback source address per worker), collecting a
 * phase's latencies once its pushes arrived, and closing them.
 *
 * Contract: forkPushWorkers() appends each worker to `into` as it forks, so
 * a bench's killOnExit list that reads `into` covers workers still starting.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Histogram } from '../lib/histogram.js';
import { ask } from '../lib/worker-ipc.js';
import type { WorkerArgs } from './push-worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The flags both benches take for their load (bench:push offers 2,000 pushes/s by default, bench:gateway-deliver 1,000). */
export function pushLoadOptions(rate: string) {
  return {
    users: { type: 'string', default: '4000' }, workers: { type: 'string', default: '2' },
    rate: { type: 'string', default: rate }, duration: { type: 'string', default: '10000' }, warmup: { type: 'string', default: '2000' },
    hb: { type: 'string', default: '20000' }, 'ack-batch': { type: 'string', default: '50' },
  } as const;
}

export interface WorkerReady { open: number; failed: number; errors: Record<string, number> }

/** Forks `o.workers` workers for users u0…u<users-1> against `urls`; resolves when every one reported its clients connected. */
export function forkPushWorkers(into: ChildProcess[], urls: string[], o: { users: number; workers: number; secret: string; hbMs: number; ackBatchMs: number; hops?: boolean }): Promise<WorkerReady[]> {
  const per = Math.ceil(o.users / o.workers);
  const ready: Array<Promise<WorkerReady>> = [];
  for (let i = 0; i < o.workers; i++) {
    const args: WorkerArgs = { urls, first: i * per, count: Math.max(0, Math.min(per, o.users - i * per)),
      localAddress: `127.0.0.${2 + i}`, secret: o.secret, intervalMs: o.hbMs, ackBatchMs: o.ackBatchMs, concurrency: 50,
      ...(o.hops === true ? { hops: true } : {}) };
    const w = fork(path.join(here, 'push-worker.js'), [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    into.push(w);
    ready.push(ask(w, {}, 'ready', 120_000));
  }
  return Promise.all(ready);
}

/** Waits until the workers received `expected` pushes of phase `id` (or `waitMs` passed), then merges their latency histograms. */
export async function collectPhase(workers: readonly ChildProcess[], id: number, expected: number, waitMs = 3000, pollMs = 100): Promise<Histogram> {
  const until = performance.now() + waitMs;
  for (;;) {
    const counts = await Promise.all(workers.map((w) => ask<{ received: Record<string, number> }>(w, { cmd: 'counts' }, 'counts')));
    if (counts.reduce((a, x) => a + (x.received[id] ?? 0), 0) >= expected || performance.now() > until) break;
    await sleep(pollMs);
  }
  const parts = await Promise.all(workers.map((w) => ask<{ hist: ReturnType<Histogram['toSparse']> }>(w, { cmd: 'phase', id }, 'phase')));
  const hist = new Histogram();
  for (const p of parts) hist.merge(p.hist);
  return hist;
}

/** Asks every worker to close its clients, then SIGKILLs any still running 300 ms later. */
export async function closePushWorkers(workers: readonly ChildProcess[]): Promise<void> {
  for (const w of workers) if (w.connected) w.send({ cmd: 'close' });
  await sleep(300);
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
}
