/**
 * Runs the webhook dispatcher in a worker thread (worker-main.ts) and folds
 * what it reports into the router's WebhookStats and attempt histogram.
 * Why: delivering is CPU work (signing, an HTTP request and a JetStream ack
 * per event) as large as a push's own; on the push path's event loop it
 * would halve push throughput whenever every push produces an event. On its
 * own thread it uses another core; the push path only enqueues.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../shared/log.js';
import type { EndpointStats, ShareCorrections, WebhookStats } from './core/stats.js';

export interface WorkerSetup {
  natsUrls: string[];
  prefix: string;
  name: string;
  logLevel: string;
}

export interface WorkerReport {
  type: 'stats';
  /** Cumulative counters of the worker, per endpoint (delivered, failed, deadLettered, deadDroppedShare are the worker's alone). */
  stats: Record<string, EndpointStats>;
  observations: Array<[string, 'delivered' | 'failed', number]>;
  /** The dead letters' share's corrections (cumulative; this thread keeps that share: it buries). */
  deadShare?: ShareCorrections;
}

export class WorkerDispatcher {
  private worker: Worker | undefined;
  observe: ((endpoint: string, outcome: 'delivered' | 'failed', seconds: number) => void) | undefined;

  constructor(private readonly o: { setup: WorkerSetup; stats: WebhookStats; log: Logger }) {}

  /** Resolves once the worker has its queue consumers running; rejects if it fails to start. */
  start(): Promise<void> {
    if (this.worker) return Promise.resolve();
    const w = new Worker(new URL('./worker-main.js', import.meta.url), { workerData: this.o.setup });
    this.worker = w;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => { reject(err); };
      w.once('error', onError);
      w.on('message', (m: { type: string }) => {
        if (m.type === 'started') { w.off('error', onError); w.on('error', (err) => this.o.log.error({ err: String(err) }, 'webhook worker failed')); resolve(); }
        if (m.type === 'stats') this.fold(m as unknown as WorkerReport);
      });
      w.once('exit', (code) => { if (code !== 0) reject(new Error(`webhook worker exited with ${code}`)); });
    });
  }

  private fold(r: WorkerReport): void {
    for (const [name, s] of Object.entries(r.stats)) {
      const mine = this.o.stats.of(name);
      mine.delivered = s.delivered;
      mine.failed = s.failed;
      mine.deadLettered = s.deadLettered;
      mine.deadDroppedShare = s.deadDroppedShare;
    }
    if (r.deadShare !== undefined) this.o.stats.deadShare = r.deadShare;
    for (const [e, outcome, seconds] of r.observations) this.observe?.(e, outcome, seconds);
  }

  /** Stops consuming (in-flight attempts finish or come back after their lease), then ends the thread. */
  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    const stopped = new Promise<void>((resolve) => {
      w.on('message', (m: { type: string }) => { if (m.type === 'stopped') resolve(); });
      w.once('exit', () => resolve());
    });
    w.postMessage({ cmd: 'stop' });
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 5000).unref())]);
    await w.terminate();
  }
}
