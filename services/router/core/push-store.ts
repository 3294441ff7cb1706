/**
 * The push path's one store step per recipient: assign the seq and store the
 * push (Inbox.append), and find where the user is connected
 * (Presence.lookup), as if append were called and then lookup, in that
 * order. A duplicate (idempotency key seen) returns no entries: nothing is
 * delivered for it.
 *
 * The Redis store does both in one Lua call on the user's keys (one round
 * trip, one slot), judging gateways from a cached view of the gateway slot
 * (stores/redis/push-store.ts); composePushStore runs the two contracts'
 * calls concurrently and serves the memory stores and any other pair.
 */
import type { AppendResult, Inbox, InboxEntry } from './inbox.js';
import type { Presence, PresenceEntry } from './presence.js';

export interface Located {
  appended: AppendResult;
  /** The user's live connections ([] for a duplicate). */
  entries: PresenceEntry[];
}

export interface PushStore {
  appendAndLookup(user: string, entry: InboxEntry, opts?: { idempotencyKey?: string }): Promise<Located>;
  /**
   * appendAndLookup answered synchronously (throws what the promise would
   * reject with): only a store that does its work in process offers it (the
   * memory store). The router core then stores and routes a small push in
   * the request's own turn (router-core.ts).
   */
  appendAndLookupNow?(user: string, entry: InboxEntry, opts?: { idempotencyKey?: string }): Located;
}

/** Append and lookup issued together (a duplicate's lookup result is dropped). */
export function composePushStore(inbox: Inbox, presence: Presence): PushStore {
  return {
    appendAndLookup: async (user, entry, opts) => {
      const [appended, entries] = await Promise.all([inbox.append(user, entry, opts), presence.lookup(user)]);
      return { appended, entries: appended.duplicate ? [] : entries };
    },
  };
}
