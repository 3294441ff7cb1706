/**
 * Heartbeat learning per network, for LonglinkClient: which network the
 * device is on, the policy's record for it (loaded from and saved to
 * HeartbeatMemory), and what a connection's beats teach the policy (a probe
 * answered, an idle beat that died). The policy's rules are in
 * heartbeat-policy.ts; this holds the client's side of them.
 */
import type { HeartbeatPolicy, PolicyChange } from './heartbeat-policy.js';
import type { Beat } from './heartbeat-scheduler.js';
import type { LossInfo } from './reconnect-machine.js';
import type { HeartbeatMemory } from './storage.js';
import type { IntervalEvent } from './types.js';

export interface HeartbeatLearningHooks {
  /** The policy's interval changed: the current connection's scheduler takes it. */
  interval(ms: number): void;
  /** Emitted to the app as the client's `interval` event. */
  changed(e: IntervalEvent): void;
  error(e: Error): void;
}

const toError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** Idle time beyond which a beat counts as sent late (its failure is not held against the interval). */
export function lateBeatLimit(intervalMs: number): number {
  return intervalMs * 1.25 + 250;
}

export class HeartbeatLearning {
  /** Network whose record the policy holds; undefined until loaded. */
  private loadedNetwork: string | undefined;
  private networkSeq = 0;

  constructor(
    readonly policy: HeartbeatPolicy,
    private readonly memory: HeartbeatMemory,
    /** The network the device is on now. */
    private networkKey: string,
    private readonly hooks: HeartbeatLearningHooks,
  ) {}

  get network(): string { return this.networkKey; }
  get intervalMs(): number { return this.policy.intervalMs; }
  get stable(): boolean { return this.policy.stable; }

  /** The device moved to network `key`; returns whether that is a change (its record is then loaded). */
  switchTo(key: string): boolean {
    const changed = key !== this.networkKey;
    this.networkKey = key;
    if (changed) void this.load(key);
    return changed;
  }

  /** Before an attempt: the current network's record is loaded. */
  async ready(): Promise<void> {
    if (this.loadedNetwork !== this.networkKey) await this.load(this.networkKey);
  }

  /** A hello: the gateway's heartbeat bounds. */
  setBounds(minMs: number, maxMs: number): void {
    this.report(this.policy.setBounds(minMs, maxMs));
  }

  /** A heartbeat ack: an answered probe says its interval works. */
  answered(beat: Beat | undefined): void {
    if (beat?.kind === 'probe') this.report(this.policy.onSuccess(beat.intervalMs), true);
  }

  /**
   * The connection was lost with `beat` awaiting its ack. Mars: a failure is
   * an idle beat that died unanswered (our timeout, or a close without a close
   * frame). The jittered first beat counts too: it waited *less* than the
   * interval, so its death shows the interval is too long all the more (and
   * without it, a connection that dies on every first beat would never reach
   * a probe and never learn). See heartbeat-policy.ts. A beat whose timer
   * fired far too late (device asleep, background-tab throttling) was idle
   * much longer than the interval: its death says nothing about the interval.
   */
  lost(info: LossInfo, beat: Beat | undefined): void {
    if ((beat?.kind === 'probe' || beat?.kind === 'first') && !beat.aliveSeen && (info.zombie === true || info.code === 1006)
      && beat.idleMs <= lateBeatLimit(beat.intervalMs)) {
      this.report(this.policy.onFailure(beat.intervalMs), true);
    }
  }

  /** Applies a policy change: tell the scheduler, persist, emit. `persist` also saves counters. */
  private report(change: PolicyChange | undefined, persist = false): void {
    if (change !== undefined) {
      this.hooks.interval(this.policy.intervalMs);
      this.hooks.changed({ network: this.loadedNetwork ?? this.networkKey, ...change });
    }
    if ((change !== undefined || persist) && this.policy.smart && this.loadedNetwork !== undefined) {
      this.memory.save(this.loadedNetwork, this.policy.record()).catch((e: unknown) => this.hooks.error(toError(e)));
    }
  }

  private async load(key: string): Promise<void> {
    const seq = ++this.networkSeq;
    let rec;
    try {
      rec = this.policy.smart ? await this.memory.load(key) : undefined;
    } catch (e) {
      this.hooks.error(toError(e));
    }
    if (seq !== this.networkSeq) return; // a newer switch won
    this.loadedNetwork = key;
    const change = this.policy.useNetwork(rec);
    if (change !== undefined) {
      this.hooks.interval(this.policy.intervalMs);
      this.hooks.changed({ network: key, ...change });
    }
  }
}
