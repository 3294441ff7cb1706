/**
 * Shaping one link as seen from the host that forwards its traffic (the
 * carrier NAT for client links), without netem/tbf:
 *  - loss: `-m statistic --mode random --probability p -j DROP`, each way;
 *  - delay and jitter: mangle FORWARD sends each direction to its own NFQUEUE,
 *    held by a delayer process (delayer.ts). Mangle runs before filter, and an
 *    accepted verdict resumes at the next hook, so the filter table's rules
 *    (loss, cut, INVALID drop) still apply to delayed packets;
 *  - cut: DROP both ways, silently (a partition, not a refusal).
 * All rules live in the per-link chains LL-SHAPE-<if> (filter) and
 * LL-DELAY-<if> (mangle) inside the forwarding host's namespace.
 */
import { fileURLToPath } from 'node:url';
import type { Netns, NsProcess } from './netns.js';

const DELAYER = fileURLToPath(new URL('./delayer.js', import.meta.url));

export interface Shape {
  /** One-way delay each direction (ms): RTT = 2 × delayMs. */
  delayMs?: number;
  /** Uniform ± jitter on each one-way delay (ms), ≤ delayMs. */
  jitterMs?: number;
  /** Loss per packet, each direction, in percent. */
  lossPct?: number;
}

export class ShapedLink {
  private delayer: NsProcess | undefined;
  private cut = false;
  private loss = 0;

  /**
   * `host` forwards the link's traffic through interface `ifname`; `queueBase`
   * and queueBase+1 are the NFQUEUE numbers for its two directions (unique per host).
   */
  constructor(private readonly net: Netns, readonly host: string, readonly ifname: string, private readonly queueBase: number) {}

  private get shapeChain(): string { return `LL-SHAPE-${this.ifname}`; }
  private get delayChain(): string { return `LL-DELAY-${this.ifname}`; }

  /** Creates the (empty) chains and hooks them first in FORWARD. */
  async install(): Promise<void> {
    await this.net.iptables(this.host, '-N', this.shapeChain);
    await this.net.iptables(this.host, '-I', 'FORWARD', '1', '-i', this.ifname, '-j', this.shapeChain);
    await this.net.iptables(this.host, '-I', 'FORWARD', '1', '-o', this.ifname, '-j', this.shapeChain);
    await this.net.iptables(this.host, '-t', 'mangle', '-N', this.delayChain);
    await this.net.iptables(this.host, '-t', 'mangle', '-A', 'FORWARD', '-i', this.ifname, '-j', this.delayChain);
    await this.net.iptables(this.host, '-t', 'mangle', '-A', 'FORWARD', '-o', this.ifname, '-j', this.delayChain);
  }

  private async rebuildFilter(): Promise<void> {
    await this.net.iptables(this.host, '-F', this.shapeChain);
    if (this.cut) {
      await this.net.iptables(this.host, '-A', this.shapeChain, '-j', 'DROP');
      return;
    }
    if (this.loss > 0) {
      await this.net.iptables(this.host, '-A', this.shapeChain, '-m', 'statistic', '--mode', 'random', '--probability', (this.loss / 100).toFixed(6), '-j', 'DROP');
    }
  }

  async set(s: Shape): Promise<void> {
    const delay = s.delayMs ?? 0;
    const jitter = s.jitterMs ?? 0;
    if (jitter > delay) throw new RangeError('jitterMs must be <= delayMs');
    this.loss = s.lossPct ?? 0;
    await this.rebuildFilter();
    if (delay > 0 && this.delayer === undefined) {
      const q = this.queueBase;
      this.delayer = this.net.spawnNode(this.host, DELAYER, {}, ['--queues', `${q},${q + 1}`, '--seed', String(q + 1)], `${this.host}:delayer-${this.ifname}`);
      await this.delayer.waitFor(/"event":"bound"/, 15_000);
      // Uplink (in from the client side) and downlink (out towards it) each get their own queue.
      await this.net.iptables(this.host, '-t', 'mangle', '-A', this.delayChain, '-i', this.ifname, '-j', 'NFQUEUE', '--queue-num', String(q));
      await this.net.iptables(this.host, '-t', 'mangle', '-A', this.delayChain, '-o', this.ifname, '-j', 'NFQUEUE', '--queue-num', String(q + 1));
    }
    if (this.delayer !== undefined) {
      for (const queue of [this.queueBase, this.queueBase + 1]) this.delayer.child.stdin!.write(JSON.stringify({ queue, delayMs: delay, jitterMs: jitter }) + '\n');
      const want = `"queue":${this.queueBase + 1},"delayMs":${delay},"jitterMs":${jitter}`;
      await this.delayer.waitFor(new RegExp(want.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 10_000);
    }
  }

  /** Partition (true) or heal (false): packets vanish both ways, nobody is told. */
  async setCut(cut: boolean): Promise<void> {
    this.cut = cut;
    await this.rebuildFilter();
  }

  /** Packets dropped by the shaping rules so far (loss or cut), from iptables' counters. */
  async dropped(): Promise<number> {
    const out = await this.net.iptables(this.host, '-L', this.shapeChain, '-n', '-v', '-x');
    return out.split('\n').filter((l) => /\bDROP\b/.test(l)).reduce((n, l) => n + Number(l.trim().split(/\s+/)[0] ?? 0), 0);
  }

  async close(): Promise<void> {
    await this.delayer?.stop(5000).catch(() => undefined);
    this.delayer = undefined;
  }
}
