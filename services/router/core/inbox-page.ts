/**
 * One bounded page of a user's inbox after a seq, read in small chunks: the
 * one reader behind resume and fetch replies (gateway-events.ts) and the
 * inbox API (inbox-history.ts). A page stops at `maxPushes` or at about
 * `maxBytes` of data (always at least one push), so a backlog of large
 * pushes neither overflows a bus message or an HTTP answer nor is read whole
 * for each page. `more` when it stopped at a bound.
 */
import type { Inbox, PushRecord } from './inbox.js';
import type { StoreCall } from './store-call.js';

/** Pushes read from the inbox per round trip while filling a page. */
const CHUNK = 32;

export async function readPage(
  inbox: Inbox, store: StoreCall, user: string, after: number, bounds: { maxPushes: number; maxBytes: number },
): Promise<{ pushes: PushRecord[]; more?: true }> {
  const pushes: PushRecord[] = [];
  let bytes = 0;
  let from = after;
  for (;;) {
    const want = Math.min(CHUNK, bounds.maxPushes - pushes.length);
    const chunk = await store('since', inbox.since(user, from, want));
    for (const p of chunk) {
      const size = Buffer.byteLength(p.data);
      if (pushes.length > 0 && bytes + size > bounds.maxBytes) return { pushes, more: true };
      pushes.push(p);
      bytes += size;
    }
    if (chunk.length < want) return { pushes };
    if (pushes.length >= bounds.maxPushes) return { pushes, more: true };
    from = chunk[chunk.length - 1]!.seq;
  }
}
