/**
 * The C1M bench's client processes: the native client
 * (loadtest/c1m-client/client.c, commands as stdin lines) or the load
 * generator's Node worker (commands over IPC). Both report worker.ts' Sample
 * objects, so the bench aggregates them alike.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLUSTER_SECRET } from '../../infra/local/cluster-harness.js';
import { nextMessage } from '../lib/worker-ipc.js';
import type { WorkerShare } from '../generator/options.js';
import type { Sample, WorkerArgs } from '../generator/worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface ClientCommand { cmd: string; ratePerS?: number; urls?: string[] }
export interface ClientProc {
  pid: number | undefined;
  proc: ChildProcess;
  send(m: ClientCommand): void;
  /** Settles once the process has its share's tokens ready and waits for `start`. */
  ready: Promise<void>;
  stopped: Promise<void>;
}
export interface ClientOptions {
  kind: 'native' | 'node';
  /** Folder the native client is compiled into (once per run). */
  out: string;
  urls: string[];
  hbMs: number;
  sampleMs: number;
  concurrency: string;
  sweepMs: number;
  nodeArgs: string[];
}

/** Compiles loadtest/c1m-client/client.c into `dir` (cc and OpenSSL's libcrypto). */
function buildNativeClient(dir: string): string {
  const src = path.join(here, '../../../loadtest/c1m-client/client.c');
  const bin = path.join(dir, 'c1m-client');
  const r = spawnSync('cc', ['-O2', '-o', bin, src, '-lcrypto', '-lm'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the native client failed (needs cc and libssl-dev; or --client node):\n${r.stderr ?? r.error?.message}`);
  return bin;
}
const built = new Map<string, string>();
const port = (u: string): string => /:(\d+)\//.exec(u)![1]!;

export function startClientProcess(o: ClientOptions, s: WorkerShare, onSample: (m: Sample) => void): ClientProc {
  const stoppedOf = (p: ChildProcess): Promise<void> => new Promise((r) => p.on('exit', () => r()));
  if (o.kind === 'native') {
    let bin = built.get(o.out);
    if (bin === undefined) { bin = buildNativeClient(o.out); built.set(o.out, bin); }
    const w = spawn(bin, ['--ports', o.urls.map(port).join(','), '--first', String(s.first), '--count', String(s.count), '--sources', s.sources.join(','),
      '--secret', CLUSTER_SECRET, '--prefix', 'c1m-', '--hb', String(o.hbMs), '--concurrency', o.concurrency, '--sample-ms', String(o.sampleMs)],
    { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = '';
    let readyR: () => void = () => undefined;
    const ready = new Promise<void>((r) => { readyR = r; });
    w.stdout!.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      let k: number;
      while ((k = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, k); buf = buf.slice(k + 1);
        const m = JSON.parse(line) as Sample | { type: 'ready' | 'stopped' };
        if (m.type === 'ready') readyR(); else if (m.type === 'sample') onSample(m);
      }
    });
    w.stdin!.on('error', () => undefined);
    return { pid: w.pid, proc: w, ready, stopped: stoppedOf(w), send: (m) => {
      if (w.stdin!.destroyed) return;
      const line = m.cmd === 'start' ? `start ${m.ratePerS}` : m.cmd === 'backends' ? `backends ${m.urls!.map(port).join(',')}` : m.cmd;
      w.stdin!.write(line + '\n');
    } };
  }
  const args: WorkerArgs = { urls: o.urls, first: s.first, count: s.count, sources: s.sources, secret: CLUSTER_SECRET, userPrefix: 'c1m-',
    hbMs: o.hbMs, retry: 'sdk', concurrency: Number(o.concurrency), sampleMs: o.sampleMs, driver: 'raw', sweepMs: o.sweepMs };
  const w = fork(path.join(here, '../generator/worker.js'), [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: o.nodeArgs });
  w.on('message', (m: Sample) => onSample(m));
  return { pid: w.pid, proc: w, ready: nextMessage(w, 'ready').then(() => undefined), stopped: stoppedOf(w), send: (m) => { if (w.connected) w.send(m); } };
}
