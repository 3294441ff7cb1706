/**
 * A real redis-server process for tests.
 *
 * Each harness gets a free loopback port (found by binding 127.0.0.1:0; never
 * 6379, which the machine's own server uses) and its own temp dir for the
 * AOF/RDB files and the log. `restart()` reuses both, so a restart test sees
 * exactly what the killed server had persisted. A missing binary is an error
 * naming tests/setup.sh: tests never skip.
 *
 * Server processes are SIGKILLed on process exit, so a test that forgets
 * cleanup() cannot leak servers or hang the runner.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePorts, guardChild } from './children.js';

export interface RedisHarnessOptions {
  /** Durable mode: `--appendonly yes --appendfsync always`, so every acknowledged write survives SIGKILL. */
  aof?: boolean;
  /**
   * A one-node Redis Cluster owning all 16384 slots. Cluster mode enforces
   * what a sharded deployment needs (CROSSSLOT for multi-key commands, and
   * same-slot key access inside shebang scripts) and routes through ioredis'
   * Cluster client, without the cost of several nodes.
   */
  cluster?: boolean;
  /** How long to wait for "Ready to accept connections". Default 15 s (a loaded 2-core box). */
  readyTimeoutMs?: number;
}

export interface RedisHarness {
  readonly port: number;
  /** redis://127.0.0.1:<port> (with `cluster`, the one seed node). */
  readonly url: string;
  /** Working dir: appendonlydir/, dump.rdb (RDB saving is off), redis.log. */
  readonly dir: string;
  readonly pid: number | undefined;
  running(): boolean;
  /** Graceful shutdown (SIGTERM); waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash: no shutdown work, only what was already on disk survives. Waits for the exit. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: the socket stays open but nothing answers (a hung server). */
  pause(): void;
  resume(): void;
  /** Starts the server again on the same port and dir (stops it first if running); waits until it is ready. */
  restart(): Promise<void>;
  /** The server's log, for assertion messages. */
  log(): string;
  /** Kills the server and removes the temp dir. Idempotent. */
  cleanup(): Promise<void>;
}


/** Throws an Error naming the missing binary and the setup script if redis-server is not on PATH. */
export function assertRedisServer(): void {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error('redis-server not found on PATH: run `bash tests/setup.sh` (Debian: apt-get install redis-server)');
  }
}

class Harness implements RedisHarness {
  readonly url: string;
  private child: ChildProcess | undefined;
  private exit: Promise<void> = Promise.resolve();
  private readonly logFile: string;

  constructor(readonly port: number, readonly dir: string, private readonly opts: RedisHarnessOptions) {
    this.url = `redis://127.0.0.1:${port}`;
    this.logFile = join(dir, 'redis.log');
  }

  get pid(): number | undefined { return this.child?.pid; }

  running(): boolean { return this.child !== undefined; }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  async start(): Promise<void> {
    const aof = this.opts.aof === true;
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--logfile', this.logFile,
      '--save', '', '--daemonize', 'no', '--protected-mode', 'no', '--databases', '1',
      '--appendonly', aof ? 'yes' : 'no', '--appendfsync', aof ? 'always' : 'everysec',
      ...(this.opts.cluster === true ? ['--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, 'nodes.conf'), '--cluster-announce-ip', '127.0.0.1'] : []),
    ];
    // The log is appended to across restarts: count the ready lines before spawning, since a server
    // that starts before this process reads the log again would otherwise have its line counted as old.
    const before = this.log().split('Ready to accept connections').length;
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.child = child;
    guardChild(child);
    let exited = false;
    this.exit = new Promise<void>((resolve) => {
      child.once('exit', () => { exited = true; if (this.child === child) this.child = undefined; resolve(); });
      child.once('error', () => { exited = true; if (this.child === child) this.child = undefined; resolve(); });
    });
    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 15_000);
    while (Date.now() < deadline) {
      if (this.log().split('Ready to accept connections').length > before) {
        if (this.opts.cluster === true) await this.assignSlots(deadline);
        return;
      }
      if (exited) throw new Error(`redis-server on port ${this.port} exited during start-up; log:\n${this.log().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`redis-server on port ${this.port} not ready in time; log:\n${this.log().slice(-2000)}`);
  }

  /** Gives the node every slot (first start only: nodes.conf keeps them) and waits for cluster_state:ok. */
  private async assignSlots(deadline: number): Promise<void> {
    const c = new Redis({ host: '127.0.0.1', port: this.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    c.on('error', () => { /* reported by the calls below */ });
    try {
      await c.connect();
      const info = async (): Promise<string> => String(await c.call('CLUSTER', 'INFO'));
      if (/cluster_slots_assigned:0\b/.test(await info())) await c.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      while (!/cluster_state:ok/.test(await info())) {
        if (Date.now() > deadline) throw new Error(`redis cluster node on port ${this.port} not ok in time:\n${await info()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      c.disconnect();
    }
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const c = this.child;
    if (!c) return;
    c.kill('SIGCONT'); // a paused server would never handle SIGTERM
    c.kill(signal);
    await this.exit;
  }

  stop(): Promise<void> { return this.signalAndWait('SIGTERM'); }
  kill(): Promise<void> { return this.signalAndWait('SIGKILL'); }
  pause(): void { this.child?.kill('SIGSTOP'); }
  resume(): void { this.child?.kill('SIGCONT'); }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async cleanup(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts redis-server on a free loopback port with its own temp dir; resolves once it accepts connections. */
export async function startRedis(opts: RedisHarnessOptions = {}): Promise<RedisHarness> {
  assertRedisServer();
  // A port found free can be taken before the server binds it: retry with a fresh one.
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const h = new Harness((await freePorts(1))[0]!, mkdtempSync(join(tmpdir(), 'longlink-redis-')), opts);
    try {
      await h.start();
      return h;
    } catch (err) {
      lastErr = err;
      await h.cleanup();
    }
  }
  throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
}
