/**
 * One bounded page of a user's inbox after a seq, read in small chunks: the
 * one reader behind resume and fetch replies (gateway-events.ts) and the
 * inbox API (inbox-history.ts). A page stops at `maxPushes` or at about
 * `maxBytes` of data (always at least one push), so a backlog of large
 * pushes neither overflows a bus message or an HTTP answer nor is read whole
 * for each page. `more` when it stopped at a bound.
 *
 * With `epoch` (the caller's reading of the user's sequence epoch), a page
 * whose records turn out to be of another epoch (the store lost the
 * sequence in between) starts again from that epoch's beginning, since
 * `after` was a seq of the old one.
 */
import type { Inbox, PushRecord } from './inbox.js';
import type { StoreCall } from './store-call.js';

/** One page; `epoch` (when the caller named the epoch it read `after` in) is the epoch of the pushes. */
export interface Page { pushes: PushRecord[]; more?: true; epoch?: number }

/** Pushes read from the inbox per round trip while filling a page. */
const CHUNK = 32;

/** How many pushes a page's first read asks for (a caller that read them already passes them as `first`). */
export const firstChunk = (bounds: { maxPushes: number }): number => Math.min(CHUNK, bounds.maxPushes);

/** With `first`: the result of that first read (inbox.since(user, after, firstChunk(bounds))), already made by the caller. */
export async function readPage(
  inbox: Inbox, store: StoreCall, user: string, after: number, bounds: { maxPushes: number; maxBytes: number }, epoch?: number, first?: PushRecord[],
): Promise<Page> {
  let pushes: PushRecord[] = [];
  let bytes = 0;
  let from = after;
  let given = first;
  for (;;) {
    const want = Math.min(CHUNK, bounds.maxPushes - pushes.length);
    const chunk = given ?? await store('since', inbox.since(user, from, want));
    given = undefined;
    const e = chunk[0]?.epoch;
    if (epoch !== undefined && e !== undefined && e !== epoch) {
      // The store lost the sequence after the caller read `epoch`: `after` was a seq of the old one.
      epoch = e;
      if (from !== 0 || pushes.length > 0) { pushes = []; bytes = 0; from = 0; continue; }
    }
    for (const p of chunk) {
      const size = Buffer.byteLength(p.data);
      if (pushes.length > 0 && bytes + size > bounds.maxBytes) return { pushes, more: true, ...at(epoch) };
      pushes.push(p);
      bytes += size;
    }
    if (chunk.length < want) return { pushes, ...at(epoch) };
    if (pushes.length >= bounds.maxPushes) return { pushes, more: true, ...at(epoch) };
    from = chunk[chunk.length - 1]!.seq;
  }
}

const at = (epoch: number | undefined): { epoch?: number } => (epoch !== undefined ? { epoch } : {});
