/**
 * The push path's store step on Redis (core/push-store.ts): one Lua call on
 * the user's keys assigns the seq, stores the push and returns the user's
 * presence entries (INBOX_APPEND in locate mode), so a recipient costs one
 * round trip, in one cluster slot, pipelined with every other call of the
 * turn. The entries are judged like RedisPresence.lookup judges them (mark
 * taken at the call, gateways from the cached gateway view), through the
 * same per-user queue, so call order holds against presence events too.
 */
import type { InboxEntry } from '../../core/inbox.js';
import type { Located, PushStore } from '../../core/push-store.js';
import type { RedisInbox } from './inbox.js';
import type { RedisPresence } from './presence.js';

export class RedisPushStore implements PushStore {
  constructor(private readonly inbox: RedisInbox, private readonly presence: RedisPresence) {}

  async appendAndLookup(user: string, entry: InboxEntry, opts?: { idempotencyKey?: string }): Promise<Located> {
    const r = await this.presence.lookupWith(user, async () => {
      const a = await this.inbox.appendLocating(user, entry, opts, true);
      return { values: a.presence, result: a.appended };
    });
    return { appended: r.result, entries: r.entries };
  }
}
