/**
 * A TCP proxy that behaves like a carrier-grade NAT, for testing heartbeats.
 *
 * Every accepted connection is a "mapping". When a mapping has seen no traffic
 * (either direction) for the idle timeout T, the NAT forgets it and from then
 * on silently swallows everything in both directions: no FIN, no RST, the
 * sockets stay open, and bytes written into them vanish. That is exactly the
 * failure a client heartbeat must detect. Half-closes (FIN) are forwarded only
 * while the mapping lives; on a dead mapping they are swallowed too.
 *
 * Run-time controls:
 *  - setIdleTimeout(T): a network switch to a NAT with another timeout. Applies
 *    to existing mappings at once (measured from their last packet).
 *  - dropLink(): every existing mapping is blackholed (4G↔Wi-Fi: the old path
 *    is gone, the sockets do not know). New connections work.
 *  - setOffline(true): new connections are accepted but blackholed (the SYN
 *    "goes nowhere": the client's handshake hangs until its own timeout).
 *  - setDelay(ms): one-way latency added to every forwarded chunk, order kept.
 *  - resetAll(): cut every mapping with an RST on both sides (resetAndDestroy).
 *
 * Expiry is decided at packet arrival (exact) and by a periodic sweep (so the
 * `expire` event and stats are timely without traffic); both apply the same
 * rule: idle >= T.
 */
import net from 'node:net';

export interface NatProxyOptions {
  listenHost?: string;
  /** 0 picks a free port. */
  listenPort?: number;
  targetHost: string;
  targetPort: number;
  /** Idle timeout T (ms). 0 or Infinity: mappings never expire. */
  idleTimeoutMs: number;
  delayMs?: number;
  /** Sweep period (ms); default min(1000, max(20, T/20)). */
  sweepMs?: number;
}

export type MappingState = 'open' | 'expired' | 'blackholed' | 'closed';

export interface MappingInfo {
  id: number;
  state: MappingState;
  /** ms since the last forwarded byte. */
  idleMs: number;
  bytesUp: number;
  bytesDown: number;
  bytesSwallowed: number;
}

export interface NatStats {
  accepted: number;
  active: number;
  expired: number;
  blackholed: number;
  resets: number;
  bytesForwarded: number;
  bytesSwallowed: number;
}

export type NatEvent =
  | { type: 'open'; mapping: MappingInfo }
  | { type: 'expire'; mapping: MappingInfo }
  | { type: 'blackhole'; mapping: MappingInfo }
  | { type: 'close'; mapping: MappingInfo };

interface Mapping {
  id: number;
  state: MappingState;
  last: number;
  client: net.Socket;
  upstream: net.Socket | undefined;
  clientClosed: boolean;
  upstreamClosed: boolean;
  bytesUp: number;
  bytesDown: number;
  bytesSwallowed: number;
  /** Per-direction due time of the last delayed chunk, so a delay change never reorders bytes. */
  lastDueUp: number;
  lastDueDown: number;
}

const now = (): number => performance.now();

export class NatProxy {
  private readonly server: net.Server;
  private readonly maps = new Map<number, Mapping>();
  private readonly listeners = new Set<(ev: NatEvent) => void>();
  private timeoutMs: number;
  private delayMs: number;
  private offline = false;
  private nextId = 1;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly st: NatStats = { accepted: 0, active: 0, expired: 0, blackholed: 0, resets: 0, bytesForwarded: 0, bytesSwallowed: 0 };
  private boundPort = 0;

  private constructor(private readonly o: NatProxyOptions) {
    this.timeoutMs = o.idleTimeoutMs;
    this.delayMs = o.delayMs ?? 0;
    this.server = net.createServer({ allowHalfOpen: true }, (s) => this.accept(s));
  }

  /** Starts listening; resolves once bound. */
  static async start(o: NatProxyOptions): Promise<NatProxy> {
    const p = new NatProxy(o);
    await new Promise<void>((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen(o.listenPort ?? 0, o.listenHost ?? '127.0.0.1', () => {
        p.server.off('error', reject);
        resolve();
      });
    });
    p.boundPort = (p.server.address() as net.AddressInfo).port;
    p.armSweep();
    return p;
  }

  get port(): number { return this.boundPort; }
  get idleTimeoutMs(): number { return this.timeoutMs; }

  get stats(): NatStats {
    this.sweep();
    return { ...this.st, active: this.maps.size };
  }

  mappings(): MappingInfo[] {
    this.sweep();
    return [...this.maps.values()].map((m) => this.info(m));
  }

  subscribe(fn: (ev: NatEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  setIdleTimeout(ms: number): void {
    this.timeoutMs = ms;
    this.armSweep();
    this.sweep();
  }

  setDelay(ms: number): void { this.delayMs = Math.max(0, ms); }

  setOffline(offline: boolean): void { this.offline = offline; }

  /** Blackholes every live mapping (a 4G↔Wi-Fi switch). Returns how many. */
  dropLink(): number {
    let n = 0;
    for (const m of this.maps.values()) {
      if (m.state !== 'open') continue;
      this.kill(m, 'blackholed');
      n++;
    }
    return n;
  }

  /** Cuts every mapping with an RST on both sides. Returns how many. */
  resetAll(): number {
    let n = 0;
    for (const m of [...this.maps.values()]) {
      n++;
      this.st.resets++;
      m.state = 'closed';
      if (!m.client.destroyed) m.client.resetAndDestroy();
      if (m.upstream !== undefined && !m.upstream.destroyed) m.upstream.resetAndDestroy();
      this.remove(m);
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const m of this.maps.values()) {
      m.client.destroy();
      m.upstream?.destroy();
    }
    this.maps.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- internals -----------------------------------------------------------------

  private accept(client: net.Socket): void {
    client.setNoDelay(true);
    const m: Mapping = {
      id: this.nextId++, state: 'open', last: now(), client, upstream: undefined, clientClosed: false, upstreamClosed: false,
      bytesUp: 0, bytesDown: 0, bytesSwallowed: 0, lastDueUp: 0, lastDueDown: 0,
    };
    this.maps.set(m.id, m);
    this.st.accepted++;
    client.on('data', (c: Buffer) => this.onData(m, 'up', c));
    client.on('end', () => this.onEnd(m, 'up'));
    client.on('error', () => {});
    client.on('close', () => { m.clientClosed = true; this.onSideClosed(m, 'client'); });
    if (this.offline) {
      this.kill(m, 'blackholed');
    } else {
      const up = net.connect({ host: this.o.targetHost, port: this.o.targetPort, allowHalfOpen: true });
      up.setNoDelay(true);
      m.upstream = up;
      up.on('data', (c: Buffer) => this.onData(m, 'down', c));
      up.on('end', () => this.onEnd(m, 'down'));
      up.on('error', () => {});
      up.on('close', () => { m.upstreamClosed = true; this.onSideClosed(m, 'upstream'); });
    }
    this.emit({ type: 'open', mapping: this.info(m) });
  }

  private onData(m: Mapping, dir: 'up' | 'down', chunk: Buffer): void {
    const t = now();
    this.check(m, t);
    if (m.state !== 'open') {
      m.bytesSwallowed += chunk.length;
      this.st.bytesSwallowed += chunk.length;
      return;
    }
    m.last = t;
    if (dir === 'up') m.bytesUp += chunk.length;
    else m.bytesDown += chunk.length;
    this.st.bytesForwarded += chunk.length;
    const to = dir === 'up' ? m.upstream : m.client;
    if (to === undefined) return;
    if (this.delayMs <= 0 && (dir === 'up' ? m.lastDueUp : m.lastDueDown) <= t) {
      to.write(chunk);
      return;
    }
    const due = Math.max(t + this.delayMs, dir === 'up' ? m.lastDueUp : m.lastDueDown);
    if (dir === 'up') m.lastDueUp = due;
    else m.lastDueDown = due;
    setTimeout(() => { if (!to.destroyed) to.write(chunk); }, due - t);
  }

  private onEnd(m: Mapping, dir: 'up' | 'down'): void {
    this.check(m, now());
    if (m.state !== 'open') return; // a FIN into a dead mapping goes nowhere
    const to = dir === 'up' ? m.upstream : m.client;
    const lastDue = dir === 'up' ? m.lastDueUp : m.lastDueDown;
    const wait = Math.max(0, lastDue - now());
    setTimeout(() => { if (to !== undefined && !to.destroyed) to.end(); }, wait);
  }

  private onSideClosed(m: Mapping, side: 'client' | 'upstream'): void {
    if (m.state === 'open') {
      // A live mapping carries the teardown through; a dead one keeps the other side hanging.
      const other = side === 'client' ? m.upstream : m.client;
      if (other !== undefined && !other.destroyed) other.end();
      setTimeout(() => other?.destroy(), 5_000).unref();
    }
    if (m.clientClosed && (m.upstream === undefined || m.upstreamClosed)) this.remove(m);
  }

  private check(m: Mapping, t: number): void {
    if (m.state === 'open' && this.timeoutMs > 0 && Number.isFinite(this.timeoutMs) && t - m.last >= this.timeoutMs) this.kill(m, 'expired');
  }

  private kill(m: Mapping, state: 'expired' | 'blackholed'): void {
    m.state = state;
    if (state === 'expired') this.st.expired++;
    else this.st.blackholed++;
    this.emit({ type: state === 'expired' ? 'expire' : 'blackhole', mapping: this.info(m) });
  }

  private remove(m: Mapping): void {
    if (!this.maps.delete(m.id)) return;
    this.emit({ type: 'close', mapping: this.info(m) });
  }

  private sweep(): void {
    const t = now();
    for (const m of this.maps.values()) this.check(m, t);
  }

  private armSweep(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    const T = this.timeoutMs;
    const every = this.o.sweepMs ?? (T > 0 && Number.isFinite(T) ? Math.min(1000, Math.max(20, T / 20)) : 1000);
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  private info(m: Mapping): MappingInfo {
    return { id: m.id, state: m.state, idleMs: now() - m.last, bytesUp: m.bytesUp, bytesDown: m.bytesDown, bytesSwallowed: m.bytesSwallowed };
  }

  private emit(ev: NatEvent): void {
    for (const l of [...this.listeners]) {
      try { l(ev); } catch { /* a listener's problem is not the proxy's */ }
    }
  }
}
