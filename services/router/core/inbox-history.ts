/**
 * `GET /v1/users/:user/inbox?since=SEQ&limit=N`: what a user's inbox holds,
 * for notification bridges and for apps that render history. A read only,
 * over Inbox.since (the call resumes use), so every Inbox adapter serves it.
 *
 * The inbox is not a full history: it holds the pushes some known device of
 * the user has not acked yet (or all still stored, for a device that never
 * acked), bounded by its length and TTL (InboxLimits). `latestSeq` lets the
 * caller see what is gone.
 *
 * Bounded answers: at most MAX_INBOX_LIMIT pushes and about
 * INBOX_PAGE_BYTES of data per call (at least one push); `more` says the
 * caller should ask again with `since` = the last seq returned.
 */
import type { Inbox, PushRecord } from './inbox.js';
import { readPage } from './inbox-page.js';
import type { StoreCall } from './store-call.js';
import { Errors } from '../../shared/errors.js';
import type { InputResult } from './push-input.js';

export const DEFAULT_INBOX_LIMIT = 100;
export const MAX_INBOX_LIMIT = 500;
/** Data bytes one answer carries at most (past the first push). */
export const INBOX_PAGE_BYTES = 1024 * 1024;

export interface InboxQuery {
  user: string;
  /** Pushes with seq > since. */
  since: number;
  limit: number;
}

export interface InboxView {
  user: string;
  /** Highest seq ever assigned to the user (0 if none), even if its push is gone. */
  latestSeq: number;
  /** In seq order; `data` is serialised JSON. */
  pushes: PushRecord[];
  /** Stopped at `limit` or the byte bound: ask again with since = the last seq. */
  more: boolean;
}

const INT = /^(0|[1-9][0-9]{0,15})$/;

/** `since` and `limit` from a query string; anything else, twice, or malformed is a validation error naming it. */
export function parseInboxQuery(user: string, query: string): InputResult<InboxQuery> {
  const params = new URLSearchParams(query);
  const bad = (message: string): InputResult<InboxQuery> => ({ ok: false, error: Errors.API_VALIDATION, message });
  const seen = new Set<string>();
  for (const k of params.keys()) {
    if (k !== 'since' && k !== 'limit') return bad(`${k}: unknown query parameter (use since and limit)`);
    if (seen.has(k)) return bad(`${k}: given more than once`);
    seen.add(k);
  }
  const since = params.get('since');
  const limit = params.get('limit');
  if (since !== null && (!INT.test(since) || Number(since) > Number.MAX_SAFE_INTEGER)) return bad('since: must be a non-negative integer (a seq)');
  if (limit !== null && (!INT.test(limit) || Number(limit) < 1 || Number(limit) > MAX_INBOX_LIMIT)) return bad(`limit: must be an integer from 1 to ${MAX_INBOX_LIMIT}`);
  return { ok: true, value: { user, since: since === null ? 0 : Number(since), limit: limit === null ? DEFAULT_INBOX_LIMIT : Number(limit) } };
}

/** Reads one bounded page. latestSeq is read first, so it is never behind the pushes returned. */
export async function readInbox(inbox: Inbox, store: StoreCall, q: InboxQuery): Promise<InboxView> {
  const latestSeq = await store('since', inbox.latestSeq(q.user));
  const page = await readPage(inbox, store, q.user, q.since, { maxPushes: q.limit, maxBytes: INBOX_PAGE_BYTES });
  return { user: q.user, latestSeq, pushes: page.pushes, more: page.more === true };
}

/** The answer's JSON: stored `data` is already serialised and goes in as is (no parse and re-serialise). */
export function inboxJson(v: InboxView): string {
  const items = v.pushes.map((p) => `{"seq":${p.seq},"id":${JSON.stringify(p.id)},"ts":${p.ts},"data":${p.data}}`);
  return `{"user":${JSON.stringify(v.user)},"latestSeq":${v.latestSeq},"pushes":[${items.join(',')}],"more":${v.more}}`;
}
