/**
 * The test's handle on a client host: an agent process (client-agent.ts) in
 * the host's namespace running SDK clients, whose events arrive here as JSON
 * lines. Events are kept in order so tests can ask "when", "how many", "which".
 */
import { fileURLToPath } from 'node:url';
import type { Netns, NsProcess } from './netns.js';

const AGENT = fileURLToPath(new URL('./client-agent.js', import.meta.url));

export interface AgentEvent {
  ev: 'ready' | 'connected' | 'disconnected' | 'push' | 'interval' | 'ack' | 'stats' | 'error';
  id?: string;
  t: number;
  [k: string]: unknown;
}

export interface ClientSpec {
  id: string;
  url: string;
  token: string;
  device?: string;
  heartbeat?: Record<string, unknown>;
  backoff?: Record<string, unknown>;
  connectTimeoutMs?: number;
}

export interface ClientStatsRow {
  id: string; state: string; session: string | undefined; lastSeq: number; intervalMs: number; stable: boolean;
  connects: number; zombies: number; heartbeatsSent: number; heartbeatAcks: number; pushes: number; duplicates: number; lastRttMs: number | undefined;
}

export class ClientHost {
  readonly events: AgentEvent[] = [];
  private buf = '';
  private readonly waiters = new Set<() => void>();

  private constructor(readonly host: string, readonly proc: NsProcess) {
    proc.child.stdout!.on('data', (d: Buffer) => {
      this.buf += d.toString('utf8');
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try { this.events.push(JSON.parse(line) as AgentEvent); } catch { continue; }
      }
      for (const w of [...this.waiters]) w();
    });
  }

  static async start(net: Netns, host: string): Promise<ClientHost> {
    const h = new ClientHost(host, net.spawnNode(host, AGENT, { LONGLINK_LOG_LEVEL: 'silent' }, [], `${host}:clients`));
    await h.waitEvent((e) => e.ev === 'ready', 15_000, 'agent ready');
    return h;
  }

  private send(o: object): void { this.proc.child.stdin!.write(JSON.stringify(o) + '\n'); }

  add(spec: ClientSpec): void { this.send({ op: 'add', ...spec }); }
  close(id: string): void { this.send({ op: 'close', id }); }

  /** Resolves with the first event (from index `from` on) matching `pred`. */
  waitEvent(pred: (e: AgentEvent) => boolean, timeoutMs: number, what: string, from = 0): Promise<AgentEvent> {
    return new Promise((resolve, reject) => {
      let i = from;
      const check = (): void => {
        for (; i < this.events.length; i++) {
          if (pred(this.events[i]!)) { done(); resolve(this.events[i]!); return; }
        }
        if (!this.proc.running) { done(); reject(new Error(`${this.host}: client agent exited waiting for ${what}; output:\n${this.proc.output().slice(-3000)}`)); }
      };
      const timer = setTimeout(() => { done(); reject(new Error(`${this.host}: timed out after ${timeoutMs} ms waiting for ${what}`)); }, timeoutMs);
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits until `pred` holds over all events so far (re-checked on each new event). */
  waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => { if (pred()) { done(); resolve(); } };
      const timer = setTimeout(() => { done(); reject(new Error(`${this.host}: timed out after ${timeoutMs} ms waiting for ${what}`)); }, timeoutMs);
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  async stats(): Promise<ClientStatsRow[]> {
    const from = this.events.length;
    this.send({ op: 'stats' });
    const e = await this.waitEvent((x) => x.ev === 'stats', 10_000, 'stats', from);
    return e.clients as ClientStatsRow[];
  }

  /**
   * Where the event stream stands now: every event at or after this index came after every event before it
   * (the agent writes one ordered stream). Windows that start right after an SDK event (a death that made the
   * heartbeat settle, for example) are cut by this index, not by time: events carry whole milliseconds, and the
   * window can start in the very millisecond of the event that ended the phase before it.
   */
  mark(): number { return this.events.length; }

  /** Events of client `id` (of kind `ev`), from index `from` on. */
  of(id: string, ev?: AgentEvent['ev'], from = 0): AgentEvent[] {
    const out: AgentEvent[] = [];
    for (let i = from; i < this.events.length; i++) {
      const e = this.events[i]!;
      if (e.id === id && (ev === undefined || e.ev === ev)) out.push(e);
    }
    return out;
  }

  /** Push payloads received by `id` (after the SDK's de-duplication), in order. */
  pushes(id: string): unknown[] { return this.of(id, 'push').map((e) => e.data); }

  async stop(): Promise<void> {
    this.proc.child.stdin!.end();
    await this.proc.exited(5000).catch(() => this.proc.kill('SIGKILL'));
  }
}
