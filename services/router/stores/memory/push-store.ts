/**
 * The push path's store step (core/push-store.ts) on the memory stores:
 * append, then lookup, done synchronously in one call, answered with one
 * settled promise. composePushStore would serve too, but allocates two
 * async calls, a Promise.all and its array per recipient: a standalone
 * router stores 100,000 recipients per maximum batch, and that garbage set
 * the length of its collection pauses.
 */
import type { InboxEntry } from '../../core/inbox.js';
import type { Located, PushStore } from '../../core/push-store.js';
import type { MemoryInbox } from './inbox.js';
import type { MemoryPresence } from './presence.js';

export class MemoryPushStore implements PushStore {
  constructor(private readonly inbox: MemoryInbox, private readonly presence: MemoryPresence) {}

  appendAndLookup(user: string, entry: InboxEntry, opts?: { idempotencyKey?: string }): Promise<Located> {
    try {
      return Promise.resolve(this.appendAndLookupNow(user, entry, opts));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  appendAndLookupNow(user: string, entry: InboxEntry, opts?: { idempotencyKey?: string }): Located {
    const appended = this.inbox.appendNow(user, entry, opts);
    // The directory's entries, not copies (MemoryPresence.lookupShared): the router only reads them.
    return { appended, entries: appended.duplicate ? [] : this.presence.lookupShared(user) };
  }
}
