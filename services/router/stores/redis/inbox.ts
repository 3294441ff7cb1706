/**
 * Inbox on Redis (cluster mode). Behaves like MemoryInbox and passes the
 * same contract suite; see keys.ts for the key layout and
 * lua-user.ts for the scripts.
 *
 * Storage choice: a stream per user, entry id "<seq>-0", rather than a sorted
 * set. Range reads by seq, exact MAXLEN and trim-to-cursor (XTRIM MINID,
 * which also returns the trimmed count) are native; fields are stored as is
 * (no per-member encoding, and ZSET members would have to embed the seq to
 * stay unique); and a 1000-entry stream packs into a few listpack nodes where
 * a 1000-member ZSET with payloads over 64 bytes becomes a skiplist plus a
 * dict, several times the memory. Stream ids are not times, so the TTL is an
 * `exp` field: reads skip expired entries, writes trim the expired prefix,
 * and the key's PEXPIREAT is the newest entry's expiry, so an idle user's
 * inbox disappears by itself. The seq counter is a separate key without TTL:
 * a seq must never go backwards, even after every entry has expired.
 *
 * Ordering: each method is one script call, sent when the method is called,
 * so calls are applied in call order (the router's Lanes rely on it for
 * appends). The calls go on the client's lean connection while it is ready
 * (lean-pipe.ts: the push path's and the ack path's per-push calls cost far
 * less CPU there) and on the ioredis client otherwise; every call of this
 * store takes that route, whose switches keep call order (LeanPipe.route).
 */
/** GET and HGET as scripts, so they take the same route as the other calls (call order). */
const GET_ONE = `return redis.call('GET', KEYS[1])`;
import type { Clock } from '../../../shared/clock.js';
import { DEFAULT_INBOX_LIMITS, type AckResult, type AckedPush, type AppendResult, type Inbox, type InboxEntry, type InboxLimits, type InboxSummary, type PushRecord, type SeqPosition } from '../../core/inbox.js';
import type { RedisStoreOptions } from '../shared.js';
import { DEFAULT_PREFIX, UserKeys } from './keys.js';
import { INBOX_ACK, INBOX_APPEND, INBOX_SINCE, INBOX_SUMMARY, SEQ_POSITION } from './lua-user.js';
import { HGET_ONE, asArray, asNumber, asString, defineHotScript, nowArg, type RunScript, type ScriptArg } from './script.js';

export class RedisInbox implements Inbox {
  private readonly keys: UserKeys;
  private readonly clock: Clock | undefined;
  private readonly limits: InboxLimits;
  private readonly appendScript: RunScript;
  private readonly getScript: RunScript;
  private readonly hgetScript: RunScript;
  private readonly sinceScript: RunScript;
  private readonly ackScript: RunScript;
  private readonly summaryScript: RunScript;
  private readonly positionScript: RunScript;

  constructor(opts: RedisStoreOptions & Partial<InboxLimits>) {
    const { redis, prefix, clock, ...limits } = opts;
    this.keys = new UserKeys(prefix ?? DEFAULT_PREFIX);
    this.clock = clock;
    this.limits = { ...DEFAULT_INBOX_LIMITS, ...limits };
    if (!(this.limits.maxLen >= 1)) throw new RangeError('RedisInbox: maxLen must be >= 1');
    // Every call is a hot script (lean connection when there is one): see the file comment on order.
    this.appendScript = defineHotScript(redis, 'inbox_append', INBOX_APPEND);
    this.sinceScript = defineHotScript(redis, 'inbox_since', INBOX_SINCE, { readOnly: true });
    this.ackScript = defineHotScript(redis, 'inbox_ack', INBOX_ACK);
    this.summaryScript = defineHotScript(redis, 'inbox_summary', INBOX_SUMMARY, { readOnly: true });
    this.positionScript = defineHotScript(redis, 'seq_position', SEQ_POSITION);
    this.getScript = defineHotScript(redis, 'get', GET_ONE, { readOnly: true });
    this.hgetScript = defineHotScript(redis, 'hget', HGET_ONE, { readOnly: true });
  }

  async append(user: string, entry: InboxEntry, opts?: { idempotencyKey?: string }): Promise<AppendResult> {
    return (await this.appendLocating(user, entry, opts, false)).appended;
  }

  /**
   * append(), and with `locate` the user's presence hash values read in the
   * same script (RedisPushStore's one round trip per recipient); none for a
   * duplicate.
   */
  async appendLocating(user: string, entry: InboxEntry, opts: { idempotencyKey?: string } | undefined, locate: boolean): Promise<{ appended: AppendResult; presence: string[] | undefined }> {
    const k = this.keys;
    const keys = [k.seq(user), k.epoch(user), k.inbox(user)];
    const idem = opts?.idempotencyKey;
    if (idem !== undefined) keys.push(k.idem(user, idem));
    if (locate) keys.push(k.presence(user));
    const { maxLen, ttlMs, idempotencyTtlMs } = this.limits;
    const args: ScriptArg[] = [nowArg(this.clock), entry.id, String(entry.ts), entry.data, Math.floor(maxLen), Math.ceil(ttlMs), Math.ceil(idempotencyTtlMs)];
    if (locate) args.push('1');
    const r = asArray(await this.appendScript(keys, args));
    if (asNumber(r[0]) === 1) {
      return { appended: { record: { seq: asNumber(r[1]), id: asString(r[2]), ts: asNumber(r[3]), data: asString(r[4]), epoch: asNumber(r[5]) }, duplicate: true }, presence: undefined };
    }
    return {
      appended: { record: { seq: asNumber(r[1]), id: entry.id, ts: entry.ts, data: entry.data, epoch: asNumber(r[2]) }, duplicate: false },
      presence: locate ? r.slice(3).map(asString) : undefined,
    };
  }

  async since(user: string, afterSeq: number, limit: number): Promise<PushRecord[]> {
    const n = Math.floor(limit);
    if (!(n >= 1)) return [];
    // Seqs are integers: "> afterSeq" is "> floor(afterSeq)"; a negative (or NaN) bound means from the start.
    if (afterSeq >= Number.MAX_SAFE_INTEGER) return [];
    const start = afterSeq >= 0 ? `(${Math.floor(afterSeq)}-0` : '-';
    const r = asArray(await this.sinceScript([this.keys.inbox(user), this.keys.epoch(user)], [nowArg(this.clock), start, n]));
    const epoch = asNumber(r[0]);
    const out: PushRecord[] = [];
    for (let i = 1; i + 3 < r.length; i += 4) {
      out.push({ seq: asNumber(r[i]), id: asString(r[i + 1]), ts: asNumber(r[i + 2]), data: asString(r[i + 3]), epoch });
    }
    return out;
  }

  async latestSeq(user: string): Promise<number> {
    const v = await this.getScript([this.keys.seq(user)], []);
    return v === null || v === undefined ? 0 : asNumber(v);
  }

  async position(user: string): Promise<SeqPosition> {
    const r = asArray(await this.positionScript([this.keys.seq(user), this.keys.epoch(user)], []));
    return { seq: asNumber(r[0]), epoch: asNumber(r[1]) };
  }

  async ack(user: string, device: string, seq: number, opts?: { list?: boolean; epoch?: number }): Promise<AckResult> {
    const k = this.keys;
    // Lua numbers are doubles: keep the bound finite; anything above latestSeq is clamped by the script anyway.
    const bound = Number.isNaN(seq) ? 0 : Math.floor(Math.max(-1, Math.min(seq, Number.MAX_SAFE_INTEGER)));
    const list = opts?.list === true;
    const epoch = opts?.epoch === undefined || !Number.isSafeInteger(opts.epoch) ? '' : String(opts.epoch);
    const args: ScriptArg[] = [nowArg(this.clock), device, bound, Math.ceil(this.limits.cursorTtlMs), list ? '1' : '', epoch];
    const r = asArray(await this.ackScript([k.seq(user), k.inbox(user), k.acks(user), k.epoch(user)], args));
    const out: AckResult = { cursor: asNumber(r[0]), trimmed: asNumber(r[1]) };
    if (!list) return out;
    const acked: AckedPush[] = [];
    for (let i = 2; i + 1 < r.length; i += 2) acked.push({ seq: asNumber(r[i]), id: asString(r[i + 1]) });
    return { ...out, acked };
  }

  async acked(user: string, device: string): Promise<number> {
    const v = await this.hgetScript([this.keys.acks(user)], [device]);
    return v === null || v === undefined ? 0 : asNumber(v);
  }

  async summary(user: string): Promise<InboxSummary> {
    const k = this.keys;
    const r = asArray(await this.summaryScript([k.seq(user), k.inbox(user), k.acks(user)], [nowArg(this.clock)]));
    // Entries, not `cursors[device] = …`: a device id may be `__proto__`, which an assignment would swallow.
    const entries: Array<[string, number]> = [];
    for (let i = 2; i + 1 < r.length; i += 2) entries.push([asString(r[i]), asNumber(r[i + 1])]);
    return { latestSeq: asNumber(r[0]), depth: asNumber(r[1]), cursors: Object.fromEntries(entries) };
  }

  /** The client is shared and owned by whoever created it: nothing to release here. */
  async close(): Promise<void> {}
}
