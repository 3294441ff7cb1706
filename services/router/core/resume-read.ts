/**
 * The reads a session start makes once its connection is in the directory,
 * as one store step: the user's sequence position, where the replay starts,
 * and the first chunk of the replay.
 *
 * Where the replay starts (the rule gateway-events.ts used to apply between
 * three separate reads): after the client's `lastSeq` when its session
 * resumed and it names the current epoch (or none); after the device's ack
 * cursor when the session is new; from the beginning when the client names
 * an epoch the store no longer has (`stale`: the sequence was lost, so its
 * seqs mean nothing now).
 *
 * Contract (tests/contract/resume-read.contract.ts, both stores): `pos` is
 * read no later than `first`, so every push up to `pos.seq` after `after`
 * is in `first` (up to `limit`, unexpired ones only, in seq order, each with
 * the epoch of the sequence it was read from); later pushes may be there too.
 *
 * Why a port of its own: on Redis these were two or three sequential round
 * trips per resume (position, the ack cursor when not resumed, the first
 * inbox chunk); stores/redis/resume-read.ts does them in one Lua call on the
 * user's keys (one slot). composeResumeRead serves the memory store and any
 * other Inbox with the Inbox's own calls, in that order.
 */
import type { Inbox, PushRecord, SeqPosition } from './inbox.js';

export interface ResumeFrom {
  /** Whether the session was resumed (Sessions.open). */
  resumed: boolean;
  /** The client's last seq (`last_seq`) and the epoch it belongs to, when it sent them. */
  lastSeq?: number | undefined;
  lastEpoch?: number | undefined;
}

export interface ResumeStart {
  pos: SeqPosition;
  /** The replay starts after this seq (of `pos.epoch`). */
  after: number;
  /** The client named an epoch other than `pos.epoch`. */
  stale: boolean;
  /** Pushes after `after`, at most `limit`. */
  first: PushRecord[];
}

export interface ResumeRead {
  start(user: string, device: string, from: ResumeFrom, limit: number): Promise<ResumeStart>;
}

/** The replay start for a position (see the module comment); `acked` is read only when needed. */
export async function replayAfter(pos: SeqPosition, from: ResumeFrom, acked: () => Promise<number>): Promise<{ after: number; stale: boolean }> {
  const stale = from.lastEpoch !== undefined && from.lastEpoch !== pos.epoch;
  if (stale) return { after: 0, stale };
  return { after: from.resumed && from.lastSeq !== undefined ? from.lastSeq : await acked(), stale };
}

/** The Inbox's calls in order: position, the cursor when needed, the first chunk. */
export function composeResumeRead(inbox: Inbox): ResumeRead {
  return {
    start: async (user, device, from, limit) => {
      const pos = await inbox.position(user);
      const { after, stale } = await replayAfter(pos, from, () => inbox.acked(user, device));
      return { pos, after, stale, first: await inbox.since(user, after, limit) };
    },
  };
}
