/**
 * Channel state on the client (docs/protocol.md §13): positions per channel,
 * de-duplication and order checks on `pub` frames, per-channel handlers, and
 * what to send in the `recover` frame after a reconnect.
 *
 * - A `pub` at or below the last offset of the same epoch is a duplicate:
 *   dropped. One with a new epoch resets the channel (the history was lost):
 *   the app is told (`channelReset`) and refetches. One more than one above
 *   the last is a gap: the app is told, and the client reconnects with
 *   recovery (at most once per `gapReconnectMs`).
 * - Positions survive reconnects (and, through resumeState, restarts), so a
 *   reconnect asks the gateway for exactly what was missed.
 * - Positions are kept most recently used first and at most
 *   LIMITS.maxRecoverChannels of them (what one `recover` frame can name). A
 *   channel the server joined the connection to (a backend subscribe) can
 *   vanish at a reconnect without an `unsubscribed` frame; its position then
 *   ages out instead of piling up ahead of the channels the client still
 *   has, which every `subscribed` and `pub` moves to the front.
 */
import { LIMITS, type ChannelPosition, type PubFrame, type SubscribedFrame, type UnsubscribedFrame } from '../../protocol/index.js';

export interface ChannelMessage {
  channel: string;
  offset: number;
  epoch: string;
  id: string;
  /** Router accept time (epoch ms). */
  ts: number;
  data: unknown;
}

/** The app should refetch what it derives from `channel`: messages were missed and cannot be recovered. */
export interface ChannelReset {
  channel: string;
  epoch: string;
  offset: number;
  reason: 'not_recovered' | 'epoch_changed' | 'gap';
}

export interface ChannelEvents {
  message(m: ChannelMessage): void;
  subscribed(f: { channel: string; offset: number; epoch: string; recovered?: boolean }): void;
  unsubscribed(f: { channel: string; error?: string }): void;
  reset(r: ChannelReset): void;
  /** A gap was seen: reconnect with recovery. */
  resync(reason: string): void;
  /** A per-channel handler threw. */
  error(err: unknown): void;
}

/** Most one reconnect for a gap per this long (ms): a gap the history cannot fill must not become a reconnect loop. */
export const GAP_RECONNECT_MS = 30_000;

export class Channels {
  private readonly positions = new Map<string, { epoch: string; offset: number }>();
  private readonly handlers = new Map<string, Set<(m: ChannelMessage) => void>>();
  private readonly live = new Set<string>();
  private lastResyncAt = -Infinity;
  duplicates = 0;

  /** `initial`: saved positions, most recent first (as `recoverPositions` gives them). */
  constructor(private readonly ev: ChannelEvents, private readonly now: () => number, initial: readonly ChannelPosition[] = []) {
    for (const p of [...initial].reverse()) this.touch(p.channel, { epoch: p.epoch, offset: p.offset });
  }

  /** Channels the current connection receives. */
  get names(): string[] { return [...this.live]; }

  /** Where each channel stopped, most recently used first: what a reconnect's `recover` frame sends. */
  get recoverPositions(): ChannelPosition[] {
    return [...this.positions].reverse().map(([channel, p]) => ({ channel, offset: p.offset, epoch: p.epoch }));
  }

  /** Sets a position as the most recent (the Map's last entry); drops the least recent past the bound. */
  private touch(channel: string, p: { epoch: string; offset: number }): void {
    this.positions.delete(channel);
    this.positions.set(channel, p);
    for (const oldest of this.positions.keys()) {
      if (this.positions.size <= LIMITS.maxRecoverChannels) break;
      this.positions.delete(oldest);
    }
  }

  /** Adds a handler for one channel's messages; returns the function that removes it. */
  on(channel: string, fn: (m: ChannelMessage) => void): () => void {
    let set = this.handlers.get(channel);
    if (set === undefined) { set = new Set(); this.handlers.set(channel, set); }
    set.add(fn);
    return () => { set.delete(fn); };
  }

  /** The connection ended: nothing is live until the next `subscribed` frames. */
  detach(): void {
    this.live.clear();
  }

  onSubscribed(f: SubscribedFrame): void {
    this.live.add(f.channel);
    const known = this.positions.get(f.channel);
    if (f.recovered === true && known !== undefined && known.epoch === f.epoch) {
      // The missed messages follow; the position moves as they arrive.
      this.touch(f.channel, known);
    } else {
      this.touch(f.channel, { epoch: f.epoch, offset: f.offset });
      const lost = f.recovered === false || (known !== undefined && (known.epoch !== f.epoch || known.offset < f.offset));
      if (lost) this.ev.reset({ channel: f.channel, epoch: f.epoch, offset: f.offset, reason: known !== undefined && known.epoch !== f.epoch ? 'epoch_changed' : 'not_recovered' });
    }
    this.ev.subscribed({ channel: f.channel, offset: f.offset, epoch: f.epoch, ...(f.recovered !== undefined ? { recovered: f.recovered } : {}) });
  }

  onUnsubscribed(f: UnsubscribedFrame): void {
    this.live.delete(f.channel);
    this.positions.delete(f.channel);
    this.ev.unsubscribed(f.error === undefined ? { channel: f.channel } : { channel: f.channel, error: f.error });
  }

  onPub(f: PubFrame): void {
    const known = this.positions.get(f.channel);
    if (known !== undefined && known.epoch === f.epoch) {
      if (f.offset <= known.offset) { this.duplicates++; return; }
      if (f.offset > known.offset + 1) {
        this.ev.reset({ channel: f.channel, epoch: f.epoch, offset: f.offset, reason: 'gap' });
        if (this.now() - this.lastResyncAt >= GAP_RECONNECT_MS) {
          this.lastResyncAt = this.now();
          // Recover from the last contiguous offset: this message is dropped and comes back with the missing ones.
          this.ev.resync(`channel ${f.channel}: offsets ${known.offset + 1}-${f.offset - 1} missing`);
          return;
        }
      }
    } else if (known !== undefined) {
      this.ev.reset({ channel: f.channel, epoch: f.epoch, offset: f.offset, reason: 'epoch_changed' });
    }
    this.touch(f.channel, { epoch: f.epoch, offset: f.offset });
    const m: ChannelMessage = { channel: f.channel, offset: f.offset, epoch: f.epoch, id: f.id, ts: f.ts, data: f.data };
    this.ev.message(m);
    const set = this.handlers.get(f.channel);
    if (set === undefined) return;
    for (const fn of [...set]) {
      try { fn(m); } catch (err) { this.ev.error(err); }
    }
  }
}
