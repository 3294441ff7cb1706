/**
 * Network namespaces for tests and benchmarks: hosts, veth links, addresses,
 * routes, iptables rules and processes, all inside namespaces this run made.
 *
 * Names: every namespace is `llnet-<pid>-<rand>-<host>`, so parallel runs
 * never collide, and a run can find the leftovers of earlier crashed runs of
 * its own (pid no longer alive) and remove them. Interfaces are created
 * directly inside their namespaces (never in the host's), so their names only
 * need to be unique per namespace. Nothing here touches the host's own
 * namespace: no address, route, rule or sysctl.
 *
 * Rules use iptables-legacy: the nf_tables backend turns -j NFQUEUE into a
 * native nft "queue" expression, which needs CONFIG_NFT_QUEUE (not on every
 * kernel); the legacy tables only need xt_NFQUEUE.
 *
 * Teardown: destroy() kills this run's processes and deletes its namespaces
 * (their veths go with them); an exit/signal hook does the same synchronously
 * if the test process dies first.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pexec = promisify(execFile);
const NAME_RE = /^llnet-(\d+)-[a-z0-9]{4}-/;

export class NetnsUnavailable extends Error {
  constructor(why: string, cause?: unknown) {
    super(`network namespaces are not usable here: ${why}. The netns tests need root, iproute2, iptables (iptables-legacy), conntrack and a kernel with conntrack/NAT/NFQUEUE; tests/setup.sh installs the packages.`, { cause });
    this.name = 'NetnsUnavailable';
  }
}

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await pexec(cmd, args, { maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`, { cause: err });
  }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Checks everything the harness needs, with a message naming what is missing. Never skips. */
export async function preflight(): Promise<void> {
  if (process.platform !== 'linux') throw new NetnsUnavailable(`platform is ${process.platform}, not linux`);
  if (process.getuid?.() !== 0) throw new NetnsUnavailable('not running as root (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN)');
  for (const bin of ['ip', 'iptables-legacy', 'conntrack']) {
    try { await sh(bin, ['-V']); } catch (err) { throw new NetnsUnavailable(`\`${bin}\` is missing`, err); }
  }
  const probe = `llnet-${process.pid}-${randomBytes(2).toString('hex')}-probe`;
  try {
    await sh('ip', ['netns', 'add', probe]);
    await sh('ip', ['netns', 'exec', probe, 'iptables-legacy', '-w', '-t', 'nat', '-L', '-n']);
    await sh('ip', ['netns', 'exec', probe, 'sysctl', '-n', 'net.netfilter.nf_conntrack_tcp_timeout_established']);
  } catch (err) {
    throw new NetnsUnavailable((err as Error).message, err);
  } finally {
    await sh('ip', ['netns', 'del', probe]).catch(() => undefined);
  }
}

/** Removes namespaces of earlier runs of this harness whose process is gone (and kills what still runs in them). */
export async function cleanLeftovers(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']);
  const removed: string[] = [];
  for (const line of out.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = NAME_RE.exec(name);
    if (m === null || alive(Number(m[1]))) continue;
    const pids = (await sh('ip', ['netns', 'pids', name]).catch(() => '')).split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await sh('ip', ['netns', 'del', name]).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** A process started inside a namespace (`ip netns exec` execs it: same pid). */
export class NsProcess {
  private out = '';
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly child: ChildProcess, readonly label: string) {
    const onData = (d: Buffer): void => { this.out += d.toString('utf8'); this.poke(); };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code, signal) => { this.exit = { code, signal }; this.poke(); });
  }

  get running(): boolean { return this.exit === undefined; }
  output(): string { return this.out; }

  private poke(): void { for (const w of [...this.waiters]) w(); }

  private wait<T>(get: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { done(); reject(new Error(`${this.label}: timed out waiting for ${what}; output:\n${this.out.slice(-4000)}`)); }, timeoutMs);
      const check = (): void => {
        let v: T | undefined;
        try { v = get(); } catch (err) { done(); reject(err as Error); return; }
        if (v !== undefined) { done(); resolve(v); }
      };
      const done = (): void => { clearTimeout(timer); const i = this.waiters.indexOf(check); if (i >= 0) this.waiters.splice(i, 1); };
      this.waiters.push(check);
      check();
    });
  }

  /** First match of `re` in stdout+stderr. */
  waitFor(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    return this.wait(() => {
      const m = this.out.match(re);
      if (m) return m;
      if (this.exit) throw new Error(`${this.label} exited (${this.exit.code ?? this.exit.signal}) before ${re}; output:\n${this.out.slice(-4000)}`);
      return undefined;
    }, timeoutMs, String(re));
  }

  exited(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.wait(() => this.exit, timeoutMs, 'exit');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.exit === undefined) this.child.kill(signal);
  }

  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.exit !== undefined) return;
    this.kill('SIGTERM');
    await this.exited(timeoutMs).catch(() => { this.kill('SIGKILL'); return this.exited(5000); });
  }
}

const liveRuns = new Set<Netns>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => { for (const n of liveRuns) n.destroySync(); });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => { for (const n of liveRuns) n.destroySync(); process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)); });
  }
}

export interface LinkEnd { host: string; addr: string }

export class Netns {
  readonly run: string;
  private readonly hosts = new Set<string>();
  private readonly procs = new Set<NsProcess>();
  private destroyed = false;

  private constructor() {
    this.run = `llnet-${process.pid}-${randomBytes(2).toString('hex')}`;
  }

  /** Checks the machine, removes this harness's leftovers from crashed runs, and starts an empty run. */
  static async create(): Promise<Netns> {
    await preflight();
    await cleanLeftovers();
    const n = new Netns();
    liveRuns.add(n);
    hookExit();
    return n;
  }

  ns(host: string): string {
    if (!this.hosts.has(host)) throw new Error(`unknown host ${host}`);
    return `${this.run}-${host}`;
  }

  async addHost(host: string): Promise<void> {
    if (!/^[a-z][a-z0-9]{0,9}$/.test(host)) throw new Error(`host name ${host}: [a-z][a-z0-9]{0,9}`);
    if (this.destroyed) throw new Error('network destroyed');
    this.hosts.add(host);
    await sh('ip', ['netns', 'add', this.ns(host)]);
    await this.ip(host, 'link', 'set', 'lo', 'up');
  }

  /** `ip …` inside `host`. */
  ip(host: string, ...args: string[]): Promise<string> {
    return sh('ip', ['-n', this.ns(host), ...args]);
  }

  exec(host: string, cmd: string, ...args: string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', this.ns(host), cmd, ...args]);
  }

  iptables(host: string, ...args: string[]): Promise<string> {
    return this.exec(host, 'iptables-legacy', '-w', ...args);
  }

  async sysctl(host: string, key: string, value: string | number): Promise<void> {
    await this.exec(host, 'sysctl', '-q', '-w', `${key}=${value}`);
  }

  async readSysctl(host: string, key: string): Promise<string> {
    return (await this.exec(host, 'sysctl', '-n', key)).trim();
  }

  /**
   * A veth pair between two hosts, created inside them: `v-<b>` in a, `v-<a>`
   * in b, with /24 addresses. Returns the interface names.
   */
  async link(a: LinkEnd, b: LinkEnd, prefixLen = 24): Promise<{ aIf: string; bIf: string }> {
    const aIf = `v-${b.host}`;
    const bIf = `v-${a.host}`;
    await sh('ip', ['link', 'add', aIf, 'netns', this.ns(a.host), 'type', 'veth', 'peer', 'name', bIf, 'netns', this.ns(b.host)]);
    await this.ip(a.host, 'addr', 'add', `${a.addr}/${prefixLen}`, 'dev', aIf);
    await this.ip(b.host, 'addr', 'add', `${b.addr}/${prefixLen}`, 'dev', bIf);
    await this.ip(a.host, 'link', 'set', aIf, 'up');
    await this.ip(b.host, 'link', 'set', bIf, 'up');
    return { aIf, bIf };
  }

  /** Starts `argv` inside `host` (stdin piped, stdout/stderr captured). */
  spawn(host: string, argv: string[], env: Record<string, string> = {}, label = `${host}:${argv[0]}`): NsProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns(host), ...argv], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new NsProcess(child, label);
    this.procs.add(p);
    child.once('exit', () => this.procs.delete(p));
    child.once('error', () => this.procs.delete(p));
    return p;
  }

  /** A Node script from dist/ inside `host`. */
  spawnNode(host: string, script: string, env: Record<string, string> = {}, args: string[] = [], label?: string): NsProcess {
    return this.spawn(host, [process.execPath, script, ...args], env, label ?? `${host}:${script.split('/').pop()}`);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.procs].map((p) => p.stop(5000).catch(() => undefined)));
    for (const h of this.hosts) await sh('ip', ['netns', 'del', `${this.run}-${h}`]).catch(() => undefined);
    liveRuns.delete(this);
  }

  /** For exit hooks: no awaiting possible. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) p.kill('SIGKILL');
    for (const h of this.hosts) {
      try { execFileSync('ip', ['netns', 'del', `${this.run}-${h}`], { stdio: 'ignore' }); } catch { /* already gone */ }
    }
    liveRuns.delete(this);
  }
}
