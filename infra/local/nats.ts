/**
 * Real nats-server processes for tests: one server, or a cluster on loopback.
 *
 * Every node gets free ports (found by binding 127.0.0.1:0; never 4222, which
 * the machine's own server uses), a config file and log file in the
 * harness's temp dir, and is awaited until its monitoring endpoint reports
 * /healthz ok (and, in a cluster, until its routes are up). A missing binary
 * is an error naming tests/setup.sh: tests never skip.
 *
 * Node processes are detached from the event loop (log to a file, unref'd)
 * and SIGKILLed on process exit, so a test that forgets stop() cannot hang
 * the runner or leak servers.
 *
 * nats-server 2.9.10 notes: lame_duck_duration has a 30 s minimum (config
 * validation), so lame duck tests rely on a short grace period instead: the
 * server announces LDM at once and starts closing clients after the grace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { NatsBus, NatsBusEvent } from '../../services/shared/bus/nats-bus.js';
import type { Logger } from '../../services/shared/log.js';
import { freePorts, guardChild } from './children.js';

export interface NatsHarnessOptions {
  /** Enable JetStream (store in the harness temp dir). */
  jetstream?: boolean;
  /** JetStream's file store limit per node (`max_file_store`, e.g. "1536MB"); streams with a byte bound reserve it. Default: the server's. */
  jetstreamMaxFileStore?: string;
  /** Lame duck grace period: time between the LDM announcement and the first client close. Default "1s". */
  lameDuckGracePeriod?: string;
  /** How long to wait for a node to become ready. Default 20 s (a loaded 2-core box). */
  readyTimeoutMs?: number;
  /** Config text appended to every node's file (e.g. an `authorization` block); reload() replaces it. */
  extraConfig?: string;
}

export interface NatsNodeInfo {
  readonly index: number;
  readonly name: string;
  /** Client port and URL (nats://127.0.0.1:port). */
  readonly port: number;
  readonly url: string;
  /** Monitoring port (/healthz, /varz, /connz, /routez). */
  readonly httpPort: number;
  readonly clusterPort: number | undefined;
}

export interface NatsHarness {
  readonly nodes: readonly NatsNodeInfo[];
  /** Client URLs of every node (alive or not). */
  readonly urls: string[];
  readonly dir: string;
  /** Index of the node listening on a client "host:port" or URL, or -1. */
  indexOf(server: string): number;
  pid(i: number): number | undefined;
  alive(i: number): boolean;
  /** Sends `signal` (default SIGKILL) to node i and waits for it to exit. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Sends a signal without waiting (SIGUSR2 = lame duck mode, SIGHUP = reload). */
  signal(i: number, signal: NodeJS.Signals): void;
  /** Replaces node i's extraConfig and reloads it (SIGHUP); resolves once /varz shows the new config loaded. */
  reload(i: number, extraConfig: string): Promise<void>;
  /** Puts node i in lame duck mode (SIGUSR2, what `nats-server --signal ldm=<pid>` sends). */
  lameDuck(i: number): void;
  /** Resolves when node i has exited (any cause). */
  exited(i: number, timeoutMs?: number): Promise<void>;
  /** Starts a stopped node again on the same ports; waits until it is ready and routed. */
  restart(i: number): Promise<void>;
  /** Waits until every live node has a route to every other live node. */
  waitForRoutes(timeoutMs?: number): Promise<void>;
  /** GETs a monitoring endpoint (e.g. "connz") of node i as JSON. */
  monitor<T>(i: number, endpoint: string): Promise<T>;
  /** The tail of node i's log, for assertion messages. */
  log(i: number): string;
  /** Kills every node and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Path of the nats-server binary, or an Error telling how to install it. */
export function natsServerBinary(): string {
  const candidates = ['/usr/sbin/nats-server', ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'nats-server'))];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // try the next one
    }
  }
  throw new Error('nats-server not found (looked in /usr/sbin and PATH): run `bash tests/setup.sh` (Debian: apt-get install nats-server)');
}

export function startNatsServer(opts: NatsHarnessOptions = {}): Promise<NatsHarness> {
  return startNats(1, opts);
}

export function startNatsCluster(size = 3, opts: NatsHarnessOptions = {}): Promise<NatsHarness> {
  if (size < 2) throw new RangeError('a cluster needs at least 2 nodes');
  return startNats(size, opts);
}

export { freePorts };

interface Node {
  info: NatsNodeInfo;
  conf: string;
  logFile: string;
  child: ChildProcess | undefined;
  exit: Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startNats(size: number, opts: NatsHarnessOptions): Promise<NatsHarness> {
  const bin = natsServerBinary();
  // A port found free can be taken before the server binds it: retry with fresh ports.
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'longlink-nats-'));
    const h = new Harness(bin, dir, size, opts);
    try {
      await h.init();
      return h;
    } catch (err) {
      lastErr = err;
      await h.stop();
    }
  }
  throw lastErr;
}

class Harness implements NatsHarness {
  private ns: Node[] = [];
  private stopped = false;
  private readonly readyTimeoutMs: number;
  private readonly extra: Array<string | undefined>;

  constructor(private readonly bin: string, readonly dir: string, private readonly size: number, private readonly opts: NatsHarnessOptions) {
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
    this.extra = Array.from({ length: size }, () => opts.extraConfig);
  }

  get nodes(): readonly NatsNodeInfo[] {
    return this.ns.map((n) => n.info);
  }

  get urls(): string[] {
    return this.ns.map((n) => n.info.url);
  }

  async init(): Promise<void> {
    const clustered = this.size > 1;
    const ports = await freePorts(this.size * (clustered ? 3 : 2));
    const at = (i: number): number => ports[i]!;
    const per = clustered ? 3 : 2;
    const infos: NatsNodeInfo[] = [];
    for (let i = 0; i < this.size; i++) {
      const port = at(i * per);
      infos.push({ index: i, name: `n${i}`, port, url: `nats://127.0.0.1:${port}`, httpPort: at(i * per + 1), clusterPort: clustered ? at(i * per + 2) : undefined });
    }
    this.ns = infos.map((info) => {
      const conf = join(this.dir, `${info.name}.conf`);
      writeFileSync(conf, this.config(info, infos));
      return { info, conf, logFile: join(this.dir, `${info.name}.log`), child: undefined, exit: Promise.resolve() };
    });
    for (let i = 0; i < this.size; i++) this.spawn(i);
    await Promise.all(this.ns.map((_, i) => this.waitReady(i)));
    if (clustered) await this.waitForRoutes();
  }

  private config(info: NatsNodeInfo, all: NatsNodeInfo[]): string {
    const lines = [
      `server_name: ${info.name}`,
      `listen: "127.0.0.1:${info.port}"`,
      `http: "127.0.0.1:${info.httpPort}"`,
      `lame_duck_duration: "30s"`,
      `lame_duck_grace_period: "${this.opts.lameDuckGracePeriod ?? '1s'}"`,
    ];
    if (info.clusterPort !== undefined) {
      const routes = all.filter((o) => o.index !== info.index).map((o) => `"nats-route://127.0.0.1:${o.clusterPort}"`);
      lines.push(`cluster { name: longlink-test, listen: "127.0.0.1:${info.clusterPort}", routes: [${routes.join(', ')}] }`);
    }
    const maxFile = this.opts.jetstreamMaxFileStore !== undefined ? `, max_file_store: ${this.opts.jetstreamMaxFileStore}` : '';
    if (this.opts.jetstream) lines.push(`jetstream { store_dir: "${join(this.dir, `js-${info.name}`)}"${maxFile} }`);
    if (this.extra[info.index] !== undefined) lines.push(this.extra[info.index]!);
    return lines.join('\n') + '\n';
  }

  private node(i: number): Node {
    const n = this.ns[i];
    if (!n) throw new RangeError(`no nats node ${i} (cluster of ${this.ns.length})`);
    return n;
  }

  private spawn(i: number): void {
    const n = this.node(i);
    const fd = openSync(n.logFile, 'a');
    const child = spawn(this.bin, ['-c', n.conf], { stdio: ['ignore', fd, fd], detached: false });
    closeSync(fd);
    child.unref();
    guardChild(child);
    n.child = child;
    n.exit = new Promise<void>((resolve) => {
      child.once('exit', () => { resolve(); });
      child.once('error', () => { resolve(); });
    });
  }

  indexOf(server: string): number {
    const hostPort = server.replace(/^nats:\/\//, '');
    return this.ns.findIndex((n) => `127.0.0.1:${n.info.port}` === hostPort || `localhost:${n.info.port}` === hostPort);
  }

  pid(i: number): number | undefined {
    return this.node(i).child?.pid;
  }

  alive(i: number): boolean {
    const c = this.node(i).child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.alive(i)) return;
    this.node(i).child!.kill(signal);
    await this.exited(i);
  }

  signal(i: number, signal: NodeJS.Signals): void {
    if (!this.alive(i)) throw new Error(`nats node ${i} is not running`);
    this.node(i).child!.kill(signal);
  }

  async reload(i: number, extraConfig: string): Promise<void> {
    type Varz = { config_load_time?: string };
    const before = (await this.monitor<Varz>(i, 'varz')).config_load_time;
    const n = this.node(i);
    this.extra[i] = extraConfig;
    writeFileSync(n.conf, this.config(n.info, this.nodes as NatsNodeInfo[]));
    this.signal(i, 'SIGHUP');
    const deadline = Date.now() + this.readyTimeoutMs;
    while ((await this.monitor<Varz>(i, 'varz')).config_load_time === before) {
      if (Date.now() > deadline) throw new Error(`nats node ${i} did not reload within ${this.readyTimeoutMs} ms; log:\n${this.log(i)}`);
      await sleep(20);
    }
  }

  lameDuck(i: number): void {
    this.signal(i, 'SIGUSR2');
  }

  async exited(i: number, timeoutMs = 60_000): Promise<void> {
    const n = this.node(i);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`nats node ${i} did not exit within ${timeoutMs} ms`)), timeoutMs); });
    try {
      await Promise.race([n.exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async restart(i: number): Promise<void> {
    if (this.alive(i)) throw new Error(`nats node ${i} is still running`);
    this.spawn(i);
    await this.waitReady(i);
    if (this.size > 1) await this.waitForRoutes();
  }

  async monitor<T>(i: number, endpoint: string): Promise<T> {
    const res = await fetch(`http://127.0.0.1:${this.node(i).info.httpPort}/${endpoint}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`nats node ${i} /${endpoint}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }

  private async waitReady(i: number): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    while (Date.now() < deadline) {
      if (!this.alive(i)) throw new Error(`nats node ${i} exited during start-up; log:\n${this.log(i)}`);
      try {
        const h = await this.monitor<{ status?: string }>(i, 'healthz');
        if (h.status === 'ok') return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`nats node ${i} not ready within ${this.readyTimeoutMs} ms; log:\n${this.log(i)}`);
  }

  async waitForRoutes(timeoutMs = this.readyTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const alive = this.ns.filter((_, i) => this.alive(i)).map((n) => n.info.index);
    type Routez = { server_id: string; routes?: Array<{ remote_id: string }> };
    for (;;) {
      try {
        // 2.9's routez names peers by server id only (no remote_name), and may
        // briefly list duplicate routes while solicited and accepted ones meet.
        const rz = await Promise.all(alive.map((i) => this.monitor<Routez>(i, 'routez')));
        const ids = new Set(rz.map((r) => r.server_id));
        const meshed = rz.every((r) => {
          const peers = new Set((r.routes ?? []).map((x) => x.remote_id).filter((id) => ids.has(id) && id !== r.server_id));
          return peers.size === ids.size - 1;
        });
        if (meshed) return;
      } catch {
        // a node not answering yet counts as not routed
      }
      if (Date.now() > deadline) throw new Error(`nats routes not established within ${timeoutMs} ms; logs:\n${alive.map((i) => this.log(i)).join('\n---\n')}`);
      await sleep(100);
    }
  }

  log(i: number): string {
    try {
      const text = readFileSync(this.node(i).logFile, 'utf8');
      return text.length > 8000 ? text.slice(-8000) : text;
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.ns.map((_, i) => this.kill(i).catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  obj: object;
}

/** A Logger (pino-shaped) that records instead of printing; `echo` prints warn/error too, for debugging. */
export function recordingLog(echo = false): { log: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (obj: object, msg: string): void => {
    entries.push({ level, msg, obj });
    if (echo && (level === 'warn' || level === 'error')) console.error(`[${level}] ${msg}`, obj);
  };
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, entries };
}

/** Resolves with the first NatsBus event matching `pred` (listening starts now). */
export function nextEvent(bus: NatsBus, pred: (e: NatsBusEvent) => boolean, what: string, timeoutMs = 30_000): Promise<NatsBusEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (status ${bus.status})`)); }, timeoutMs);
    const off = bus.onStatus((e) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}
