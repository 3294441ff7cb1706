/**
 * Catching a joining connection up with a channel's live stream
 * (channels.ts), in pages paced by its socket (docs/protocol.md 13.4).
 *
 * A join knows the last offset the client has (`pos`: its recover position,
 * or the channel's position for a plain join) and has the first history
 * answer. From there, until `pos` reaches the offset this gateway has fanned
 * out (`last`) and the latest one the history has shown (`until`: this
 * gateway's live stream can be behind it, e.g. its tail lost on the bus and
 * not noticed before the next message), the connection is written, in order
 * and once each:
 *
 * 1. what the history answered (a history reply is bounded in bytes: over
 *    the bound it is the prefix that fits);
 * 2. then, if the channel's ring of recent messages holds `pos + 1`, the
 *    ring from there (what the topic's subscribers were sent meanwhile);
 * 3. otherwise the next history page after `pos` (one read in flight per
 *    connection; joins asking for the same channel and offset share it).
 *
 * Then the socket joins the channel's topic, in the same turn as the last
 * write, so live messages follow without a gap or a repeat. If the history
 * was ahead of the live stream, the socket joins when the live stream
 * reaches `pos` (the channel's `waiting` list). Live messages published
 * during the paging are not buffered per connection: the ring and the
 * history already hold them, and the last steps read them from there.
 *
 * Bounds: writing pauses while the socket's send buffer is at
 * `highWaterBytes` and goes on when it drains (or at a tick), so a large
 * recovery never overruns the send-buffer cap. A connection's catch-ups read or
 * hold at most PAGES_PER_CONNECTION history pages (one reply each) at once,
 * over all its channels: a connection recovering 64 channels whose socket is
 * full held 64 (~16 MiB) before. Page reads and
 * recovering joins' first reads (`firstRead`) this gateway has in flight are
 * capped together (`maxReads`, read-gate.ts). Over the cap a read waits its
 * turn: round-robin by the connection's user, oldest first within a user, so
 * one user's burst of reads (many connections recovering many channels) does
 * not queue ahead of another user's read. One that can share a read in
 * flight, or a catch-up that can go on from the ring, does not wait, and a
 * waiter goes as soon as a read of its
 * channel and offset starts (it shares it: many recovering joins at one offset
 * wait for one turn, not one each).
 *
 * A catch-up stops silently when the connection leaves the channel or closes
 * (the channel state's `catchingUp` entry is gone). It is **cut** when it
 * cannot go on: the channel's epoch changed, the history no longer holds
 * `pos + 1` (trimmed or expired while paging), or page reads failed
 * MAX_PAGE_FAILURES times in a row. A cut client is sent a second
 * `subscribed` for the channel with `recovered:false` and the current
 * offset and epoch, and joins the live stream from there.
 */
import { encodeJson, encodePubRaw } from '../../../protocol/index.js';
import type { ChannelHistoryReply, ChannelRecord } from '../../shared/bus/messages.js';
import type { ChannelArrival, ClientSocket } from './ports.js';
import type { SharedReads } from './shared-reads.js';
import { ReadGate } from './read-gate.js';

/** Page reads that may fail in a row (each retried at a tick after `retryAfterMs`) before the catch-up is cut. */
export const MAX_PAGE_FAILURES = 3;

/**
 * History pages one connection's catch-ups read or hold at once (its channels' together). A join's first page comes
 * with the join whatever the socket's state; past this, one that cannot be written now is let go and read again
 * at its turn. One was ~1.8 x slower for a client reading fast while recovering 64 channels (reads one after another).
 */
export const PAGES_PER_CONNECTION = 4;

export interface PagerConn {
  readonly socket: ClientSocket;
  closed: boolean;
  /** Its user: reads waiting for the gate take turns by user (read-gate.ts). */
  readonly user: string;
}

/** What the pager needs of a channel's state (channels.ts). */
export interface PagerChannel<C> {
  readonly name: string;
  epoch: string;
  /** Highest offset fanned out in order. */
  last: number;
  ring: ChannelArrival[];
  waiting: Array<{ c: C; after: number }>;
  /** Connections being caught up, each with its one catch-up; leaving the channel deletes the entry. */
  readonly catchingUp: Map<C, CatchUp<C>>;
  readonly reads: SharedReads<number, ChannelHistoryReply>;
}

interface Step { offset: number; frame: string | Uint8Array }

export interface CatchUp<C> {
  readonly c: C;
  readonly st: PagerChannel<C>;
  /** The epoch of the offsets being written. */
  readonly epoch: string;
  readonly recovering: boolean;
  /** Last offset written to the client. */
  pos: number;
  /**
   * The latest offset the history has shown (its replies' `offset`): written up to at least this, even when the live
   * stream here is behind it (st.last; its tail may have been lost on the bus, found only at the next message).
   */
  until: number;
  page: Step[];
  next: number;
  /** The page came from the ring: it may skip a gap the topic's subscribers saw skipped too. */
  fromRing: boolean;
  fetching: boolean;
  paused: boolean;
  failures: number;
  /** When a failed page read is tried again (hub clock); 0 when none is due. */
  retryAt: number;
}

export interface PagerDeps<C> {
  send(c: C, frame: string | Uint8Array): void;
  /** The history after `afterOffset` (one bounded reply). */
  history(channel: string, afterOffset: number): Promise<ChannelHistoryReply>;
  /** The hub still has this state for its channel (its last member did not leave). */
  current(st: PagerChannel<C>): boolean;
  now(): number;
  highWaterBytes: number;
  retryAfterMs: number;
  /** Page and recovering joins' first reads in flight at most (reads shared with one in flight do not count). */
  maxReads: number;
}

export interface PagerStats {
  /** History pages read after a join's first answer. */
  pages: number;
  /** Times writing paused on a full send buffer. */
  pauses: number;
  /** Catch-ups that could not reach the live stream (a second `subscribed`, recovered:false). */
  cut: number;
  /** Page and first reads in flight now (at most `maxReads`), and catch-ups and joins waiting for one. */
  readsInFlight: number;
  waiting: number;
}

/** A read's key in the gate: the channel and the offset it reads after. */
const readKey = (st: { readonly name: string }, from: number): string => `${from}:${st.name}`;

export class ChannelPager<C extends PagerConn> {
  readonly stats: PagerStats = { pages: 0, pauses: 0, cut: 0, readsInFlight: 0, waiting: 0 };
  private readonly byConn = new Map<C, Set<CatchUp<C>>>();
  private readonly gate: ReadGate;
  /** Catch-ups waiting for a page read (over `maxReads`), each with its turn in the gate. */
  private readonly queued = new Map<CatchUp<C>, () => void>();
  /** Recovering joins waiting for their first read, by connection and channel: cancel (stop) rejects the read. */
  private readonly joining = new Map<C, Map<PagerChannel<C>, () => void>>();

  constructor(private readonly d: PagerDeps<C>) { this.gate = new ReadGate(d.maxReads, this.stats); }

  /**
   * A recovering join's first history read (`after`: the client's offset), under the page reads' cap: it waits its
   * turn unless it can share a read in flight. `current`: the join still stands; stop(c, st) while it waits cancels
   * it (no read, rejected; the join is no longer current and ignores it).
   */
  firstRead(c: C, st: PagerChannel<C>, after: number, current: () => boolean, read: () => Promise<ChannelHistoryReply>): Promise<ChannelHistoryReply> {
    const now = (): Promise<ChannelHistoryReply> => this.read(st, after, read);
    if (!current()) return Promise.reject(new Error('join gone'));
    if (st.reads.has(after) || !this.gate.full) return now();
    return new Promise((resolve, reject) => {
      let mine = this.joining.get(c);
      if (mine === undefined) this.joining.set(c, mine = new Map());
      const off = (): void => { mine.delete(st); if (mine.size === 0 && this.joining.get(c) === mine) this.joining.delete(c); };
      const go = (): void => { off(); if (current()) resolve(now()); else reject(new Error('join gone')); };
      mine.set(st, () => { off(); this.gate.cancel(go); reject(new Error('join gone')); });
      this.gate.wait(go, readKey(st, after), c.user);
    });
  }

  /** Reads `st` after `from`, or shares the read in flight; one that starts lets the waiters for it share it now. */
  private read(st: PagerChannel<C>, from: number, read: () => Promise<ChannelHistoryReply>): Promise<ChannelHistoryReply> {
    const fresh = !st.reads.has(from);
    const p = st.reads.read(from, () => this.gate.track(read()));
    if (fresh) this.gate.release(readKey(st, from));
    return p;
  }

  /**
   * Catches `c` up from `pos` (the last offset it has), with `first` (history after `pos`, in order) to write first.
   * `recovering`: the client asked for recovery and was told `recovered:true`, so a cut tells it otherwise; a plain
   * join that cannot be caught up joins the live stream where it is, as its `subscribed` frame promised nothing more.
   */
  start(c: C, st: PagerChannel<C>, pos: number, first: readonly ChannelRecord[], recovering: boolean, historyOffset = pos): void {
    if (first.length === 0 && pos === st.last && historyOffset <= pos) { c.socket.subscribe(st.name); return; }
    const epoch = st.epoch;
    const cu: CatchUp<C> = {
      c, st, epoch, pos, until: historyOffset, recovering, next: 0, fromRing: false, fetching: false, paused: false, failures: 0, retryAt: 0,
      page: first.map((p) => ({ offset: p.offset, frame: encodePubRaw(st.name, p.offset, epoch, p.id, p.ts, p.data) })),
    };
    const old = st.catchingUp.get(c);
    if (old !== undefined) this.end(old);
    st.catchingUp.set(c, cu);
    let set = this.byConn.get(c);
    if (set === undefined) this.byConn.set(c, set = new Set());
    set.add(cu);
    this.pump(cu);
  }

  /** `c` left `st`'s channel (or closed): its catch-up there stops. */
  stop(c: C, st: PagerChannel<C>): void {
    this.joining.get(c)?.get(st)?.();
    const cu = st.catchingUp.get(c);
    if (cu !== undefined) { this.end(cu); this.wake(c); }
  }

  /** The channel's epoch changed: catch-ups not waiting for a read are cut now (the others when it comes). */
  epochChanged(st: PagerChannel<C>): void {
    for (const cu of [...st.catchingUp.values()]) if (!cu.fetching) this.pump(cu);
  }

  /** The socket's send buffer shrank: paused catch-ups go on. */
  sendBufferDrained(c: C): void {
    const set = this.byConn.get(c);
    if (set !== undefined) this.resume(c, set, (cu) => cu.paused);
  }

  /** Every wheel tick: paused catch-ups whose buffer drained (a missed drain event), failed reads due again. */
  tick(now: number): void {
    for (const [c, set] of [...this.byConn]) {
      if (c.closed) continue;
      const room = c.socket.getBufferedAmount() < this.d.highWaterBytes;
      this.resume(c, set, (cu) => {
        if (cu.fetching) return false;
        const retry = cu.retryAt > 0 && now >= cu.retryAt;
        if (retry) cu.retryAt = 0;
        return retry || (cu.paused && room);
      });
    }
  }

  /**
   * Goes on with `c`'s catch-ups that `which` picks. One with no page to write needs a read: while the connection
   * has PAGES_PER_CONNECTION it waits (paused, woken when one ends) without a pump, so a drain costs a count of the
   * connection's catch-ups, not one per catch-up (a connection can have 64 waiting).
   */
  private resume(c: C, set: Set<CatchUp<C>>, which: (cu: CatchUp<C>) => boolean): void {
    let busy = this.busy(c);
    c.socket.cork(() => {
      for (const cu of [...set]) {
        if (!which(cu)) continue;
        if (cu.next < cu.page.length) { this.pump(cu); continue; }
        if (busy >= PAGES_PER_CONNECTION) { cu.paused = true; continue; }
        this.pump(cu);
        busy = this.busy(c);
      }
    });
  }

  private alive(cu: CatchUp<C>): boolean {
    return !cu.c.closed && cu.st.catchingUp.get(cu.c) === cu && this.d.current(cu.st);
  }

  private pump(cu: CatchUp<C>): void {
    const { c, st } = cu;
    for (;;) {
      if (!this.alive(cu)) { this.end(cu); return; }
      if (st.epoch !== cu.epoch) { this.cut(cu); return; }
      while (cu.next < cu.page.length) {
        if (c.socket.getBufferedAmount() >= this.d.highWaterBytes) {
          if (!cu.paused) { cu.paused = true; this.stats.pauses++; }
          // Past PAGES_PER_CONNECTION pages waiting for the same full socket this one is let go, read again from
          // `pos` at its turn (a join's first page arrives whatever the socket's state).
          if (!cu.fromRing && this.pagesBesides(cu) >= PAGES_PER_CONNECTION) { cu.page = []; cu.next = 0; }
          return;
        }
        const s = cu.page[cu.next++]!;
        if (s.offset <= cu.pos) continue;
        if (s.offset !== cu.pos + 1 && !cu.fromRing) { this.cut(cu); return; }
        this.d.send(c, s.frame);
        cu.pos = s.offset;
        if (c.closed) { this.end(cu); return; }
      }
      cu.paused = false;
      cu.page = [];
      cu.next = 0;
      if (cu.pos >= Math.max(st.last, cu.until)) { this.finish(cu); return; }
      const i = st.ring.findIndex((m) => m.offset === cu.pos + 1);
      if (i < 0) {
        // The connection's other catch-ups read or hold its pages: this one reads when one of them ends (wake).
        if (this.pagesBesides(cu) >= PAGES_PER_CONNECTION) { cu.paused = true; return; }
        this.fetch(cu);
        return;
      }
      cu.page = st.ring.slice(i);
      cu.fromRing = true;
    }
  }

  private fetch(cu: CatchUp<C>): void {
    const { st } = cu;
    const from = cu.pos;
    if (!st.reads.has(from) && this.gate.full) {
      // Its turn: from the ring, a shared read, or a read of its own (pump).
      const go = (): void => { this.queued.delete(cu); if (this.alive(cu)) cu.c.socket.cork(() => this.pump(cu)); else this.end(cu); };
      this.queued.set(cu, go);
      this.gate.wait(go, readKey(st, from), cu.c.user);
      return;
    }
    cu.fetching = true;
    this.stats.pages++;
    this.read(st, from, () => this.d.history(st.name, from)).then((r) => {
      cu.fetching = false;
      if (!this.alive(cu)) { this.end(cu); return; }
      // Another epoch, or the history no longer holds from + 1 (trimmed or expired while paging): cut (pump).
      const ok = r.epoch === cu.epoch && r.pubs[0]?.offset === from + 1;
      if (ok) cu.until = Math.max(cu.until, r.offset);
      cu.failures = 0;
      cu.fromRing = false;
      cu.page = ok ? r.pubs.map((p) => ({ offset: p.offset, frame: encodePubRaw(st.name, p.offset, cu.epoch, p.id, p.ts, p.data) })) : [];
      cu.c.socket.cork(() => { if (ok) this.pump(cu); else if (this.alive(cu)) this.cut(cu); });
    }, () => {
      cu.fetching = false;
      if (!this.alive(cu)) { this.end(cu); return; }
      if (++cu.failures >= MAX_PAGE_FAILURES) cu.c.socket.cork(() => this.cut(cu));
      else cu.retryAt = this.d.now() + this.d.retryAfterMs;
    });
  }

  /**
   * The other catch-ups of `cu`'s connection reading a history page (or waiting for a read's turn) or holding one
   * not yet written. Pages from the ring are the channel's own arrivals, held anyway, and do not count.
   */
  private pagesBesides(cu: CatchUp<C>): number { return this.busy(cu.c, cu); }

  private busy(c: C, except?: CatchUp<C>): number {
    let n = 0;
    for (const o of this.byConn.get(c) ?? []) {
      if (o !== except && (o.fetching || this.queued.has(o) || (!o.fromRing && o.next < o.page.length))) n++;
    }
    return n;
  }

  /** A catch-up of `c` ended: the others waiting for a page's turn go on (those with room read, the rest wait again). */
  private wake(c: C): void {
    const set = this.byConn.get(c);
    if (set !== undefined && !c.closed) this.resume(c, set, (o) => o.paused && !o.fetching && !this.queued.has(o));
  }

  /** Caught up: on the topic now, or once the live stream reaches what the history already gave. */
  private finish(cu: CatchUp<C>): void {
    this.end(cu);
    if (cu.pos === cu.st.last) cu.c.socket.subscribe(cu.st.name);
    else cu.st.waiting.push({ c: cu.c, after: cu.pos });
    this.wake(cu.c);
  }

  private cut(cu: CatchUp<C>): void {
    const { c, st } = cu;
    this.end(cu);
    this.stats.cut++;
    if (cu.recovering) this.d.send(c, encodeJson({ op: 'subscribed', channel: st.name, offset: st.last, epoch: st.epoch, recovered: false }));
    if (!c.closed) c.socket.subscribe(st.name);
    this.wake(c);
  }

  private end(cu: CatchUp<C>): void {
    if (cu.st.catchingUp.get(cu.c) === cu) cu.st.catchingUp.delete(cu.c);
    const go = this.queued.get(cu);
    if (go !== undefined) { this.queued.delete(cu); this.gate.cancel(go); }
    const set = this.byConn.get(cu.c);
    if (set === undefined) return;
    set.delete(cu);
    if (set.size === 0) this.byConn.delete(cu.c);
  }
}
