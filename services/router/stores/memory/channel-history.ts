/**
 * Channel history in process memory (standalone mode, tests). Passes the
 * same contract suite as the Redis store. Time comes from the injected clock
 * (wall ms), so expiry is testable without sleeping.
 */
import type { Clock } from '../../../shared/clock.js';
import { newEpoch } from '../shared.js';
import { DEFAULT_HISTORY_LIMITS, HISTORY_ENTRY_BYTES, type ChannelHistory, type ChannelRecord, type HistoryEntry, type HistoryLimits, type HistoryWindow } from '../../core/channel-history.js';

interface Stored extends ChannelRecord { exp: number }

interface ChannelState {
  epoch: string;
  offset: number;
  /** Epoch ms after which the channel (epoch included) is forgotten. */
  expiresAt: number;
  entries: Stored[];
}

export class MemoryChannelHistory implements ChannelHistory {
  private readonly channels = new Map<string, ChannelState>();
  private readonly limits: HistoryLimits;
  private readonly clock: Clock;

  constructor(opts: { clock: Clock } & Partial<HistoryLimits>) {
    const { clock, ...limits } = opts;
    this.clock = clock;
    this.limits = { ...DEFAULT_HISTORY_LIMITS, ...limits };
  }

  private state(channel: string, now: number): ChannelState {
    let s = this.channels.get(channel);
    if (s === undefined || s.expiresAt <= now) {
      s = { epoch: newEpoch(), offset: 0, expiresAt: now + this.limits.epochTtlMs, entries: [] };
      this.channels.set(channel, s);
    }
    return s;
  }

  async append(channel: string, entry: HistoryEntry): Promise<{ offset: number; epoch: string }> {
    const now = this.clock.wallNow();
    const s = this.state(channel, now);
    s.offset++;
    s.expiresAt = now + this.limits.epochTtlMs;
    s.entries.push({ offset: s.offset, id: entry.id, ts: entry.ts, data: entry.data, exp: now + this.limits.ttlMs });
    if (s.entries.length > this.limits.maxLen) s.entries.splice(0, s.entries.length - this.limits.maxLen);
    return { offset: s.offset, epoch: s.epoch };
  }

  async since(channel: string, afterOffset: number | undefined, maxBytes = Infinity): Promise<HistoryWindow> {
    const now = this.clock.wallNow();
    const s = this.state(channel, now);
    const head = { epoch: s.epoch, offset: s.offset };
    if (afterOffset === undefined || afterOffset === s.offset) return { ...head, pubs: [], covered: true };
    if (afterOffset > s.offset) return { ...head, pubs: [], covered: false };
    const live = s.entries.filter((e) => e.exp > now && e.offset > afterOffset);
    if (live.length === 0 || live[0]!.offset !== afterOffset + 1) return { ...head, pubs: [], covered: false };
    const pub = ({ offset, id, ts, data }: typeof live[number]) => ({ offset, id, ts, data });
    let bytes = 0;
    for (let i = 0; i < live.length; i++) {
      // Over the bound: not covered, with the prefix that fits (gap repair pages with it; channel-history.ts).
      if ((bytes += Buffer.byteLength(live[i]!.data) + HISTORY_ENTRY_BYTES) > maxBytes) return { ...head, pubs: live.slice(0, i).map(pub), covered: false };
    }
    return { ...head, pubs: live.map(pub), covered: true };
  }

  /** Loses every channel (what a flushed store does): the next use of a channel starts a new epoch. */
  lose(): void {
    this.channels.clear();
  }

  async close(): Promise<void> {}
}
