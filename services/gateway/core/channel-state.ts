/** A channel's state on a gateway (channels.ts): its position, members, ring of recent messages and joins in progress. */
import type { ChannelHistoryReply } from '../../shared/bus/messages.js';
import type { ChannelArrival } from './ports.js';
import type { SharedReads } from './shared-reads.js';
import type { CatchUp } from './channel-pager.js';
import type { ChannelConn } from './channels.js';
import { NewestBuffer } from './newest-buffer.js';

/** Messages held per channel before its first history read answers (the newest kept: channels.ts onMessage says why). */
export const MAX_EARLY = 1024;

/** A caught-up member that joins the topic once the live stream reaches `after`. */
export interface Waiter<C> { c: C; after: number }

export class ChannelState<C extends ChannelConn> {
  epoch = '';
  /** Highest offset fanned out in order; -1 until the first history read. */
  last = -1;
  /** Members, each with its join's number: a read answering an earlier join of the same member is stale. */
  readonly members = new Map<C, number>();
  ring: ChannelArrival[] = [];
  readonly held = new Map<number, ChannelArrival>();
  heldSince = 0;
  repairing = false;
  /** Messages that arrived before the first history read answered, replayed once it does. */
  readonly early = new NewestBuffer<ChannelArrival>(MAX_EARLY);
  waiting: Array<Waiter<C>> = [];
  /** Members being caught up (channel-pager.ts): not on the topic yet. */
  readonly catchingUp = new Map<C, CatchUp<C>>();
  /** Members whose join succeeded (presence `join` sent): only they are reported leaving. */
  readonly joined = new Set<C>();
  /** Reported occupied (a member's join succeeded): its last member leaving reports it vacated. */
  occupied = false;
  /** `reads`: history reads in flight, by afterOffset (-1: a position read); joins asking the same share one. */
  constructor(readonly name: string, public interest: { ready: Promise<void>; drop(): void } | null, readonly reads: SharedReads<number, ChannelHistoryReply>) {}
}
