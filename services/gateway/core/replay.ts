/**
 * Flow-controlled replay of a session's backlog, paced by the socket.
 *
 * Why: a backlog written in one go overruns the send-buffer cap (a 250 x
 * 60 KB inbox is 15 MB against a 1 MiB cap): the socket is cut off, the
 * client's acks for what it did read are lost with it, and the next session
 * starts over from the same point. Instead the replay writes while the send
 * buffer is under `highWaterBytes`, continues on the transport's drain event,
 * and fetches the next page from the inbox (after what was written) when a
 * page is used up. Inbound frames, acks included, are handled between steps,
 * so the inbox is trimmed as the client gets through it.
 *
 * Live pushes arriving meanwhile wait in the connection's pending list and
 * are offered (de-duplicated by seq) once the replay ends. That list is
 * bounded: past `maxPending` it is dropped and one more page is fetched,
 * which is safe because every live push was appended to the inbox before it
 * was published, so a page read later contains it.
 */
import type { PushRecord } from './ports.js';
import { enterEpoch, type EpochConn } from './epoch.js';

export interface ReplayConn extends EpochConn {
  closed: boolean;
  sentSeq: number;
  pending: PushRecord[] | null;
  replay: ReplayState | null;
  socket: { getBufferedAmount(): number };
}

export interface ReplayState {
  page: readonly PushRecord[];
  next: number;
  /** The inbox may hold more after this page. */
  more: boolean;
  fetching: boolean;
  /** Pending live pushes were dropped since the current fetch started: one more page is needed. */
  dropped: boolean;
  /** Highest seq assigned to the user, from the last page's reply, and its epoch. */
  latestSeq: number;
  epoch: number | undefined;
}

export interface ReplayPage {
  pushes: PushRecord[];
  more?: boolean;
  latestSeq: number;
  epoch?: number;
}

export interface ReplayDeps<C extends ReplayConn> {
  write(c: C, p: PushRecord): void;
  /** Next page of the inbox after `afterSeq` (of the connection's epoch). */
  fetch(c: C, afterSeq: number): Promise<ReplayPage>;
  /** The replay is over (pending still set: the caller offers it to live delivery). */
  done(c: C): void;
  /** The page fetch failed: the caller closes the connection (the client resumes from its acks). */
  failed(c: C, err: unknown): void;
  highWaterBytes: number;
  maxPending: number;
}

export class Replayer<C extends ReplayConn> {
  /** Pages fetched after the first one, and times writing paused on a full send buffer. */
  pagesFetched = 0;
  pauses = 0;

  constructor(private readonly d: ReplayDeps<C>) {}

  /** Starts with the session start's page (already fetched by the resume). */
  start(c: C, first: ReplayPage): void {
    c.replay = { page: first.pushes, next: 0, more: first.more === true, fetching: false, dropped: false, latestSeq: first.latestSeq, epoch: first.epoch };
    this.pump(c);
  }

  /** The socket's send buffer shrank. */
  sendBufferDrained(c: C): void {
    if (c.replay !== null && !c.replay.fetching) this.pump(c);
  }

  /** Live pushes during the replay; see the file comment for the bound. */
  hold(c: C, pushes: readonly PushRecord[]): void {
    const pending = c.pending!;
    for (const p of pushes) pending.push(p);
    if (c.replay !== null && pending.length > this.d.maxPending) {
      pending.length = 0;
      c.replay.more = true;
      c.replay.dropped = true;
    }
  }

  private pump(c: C): void {
    const r = c.replay!;
    for (;;) {
      if (c.closed) return;
      while (r.next < r.page.length) {
        if (c.socket.getBufferedAmount() >= this.d.highWaterBytes) { this.pauses++; return; }
        const p = r.page[r.next++]!;
        // A page of a newer epoch (the store lost the sequence mid-replay) restarts the watermark.
        if (enterEpoch(c, p.epoch) !== 'stale' && p.seq > c.sentSeq) this.d.write(c, p);
        if (c.closed) return;
      }
      if (!r.more) break;
      this.fetchNext(c, r);
      return;
    }
    // Nothing left: as for an empty resume, the user's latest seq is the in-order watermark.
    if (r.page.length === 0 && enterEpoch(c, r.epoch) !== 'stale') c.sentSeq = Math.max(c.sentSeq, r.latestSeq);
    c.replay = null;
    this.d.done(c);
  }

  private fetchNext(c: C, r: ReplayState): void {
    r.fetching = true;
    r.dropped = false;
    this.pagesFetched++;
    this.d.fetch(c, c.sentSeq).then(
      (page) => {
        r.fetching = false;
        if (c.closed) return;
        r.page = page.pushes;
        r.next = 0;
        r.more = (page.more === true && page.pushes.length > 0) || r.dropped;
        r.latestSeq = page.latestSeq;
        r.epoch = page.epoch;
        this.pump(c);
      },
      (err: unknown) => {
        r.fetching = false;
        if (!c.closed) this.d.failed(c, err);
      },
    );
  }
}
