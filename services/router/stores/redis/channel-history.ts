/**
 * Channel history on Redis (cluster mode). Behaves like
 * MemoryChannelHistory and passes the same contract suite.
 *
 * Keys share the hash tag `{c:<channel>}` (channel names cannot hold braces,
 * protocol/identifiers.ts), so one script touches both atomically:
 *
 *   <prefix>:{c:<channel>}:meta   hash    epoch, offset; PEXPIREAT last append + epochTtlMs
 *   <prefix>:{c:<channel>}:hist   stream  id "<offset>-0", fields id ts data exp; MAXLEN maxLen
 *
 * A missing meta hash is a lost (or never used) channel: the script that
 * notices makes the caller's fresh epoch the channel's, restarts offsets at
 * 0 and drops any stream left behind, so offsets of two epochs never mix.
 * Entries carry their own expiry (`exp`) as in the inbox; reads skip expired
 * ones (they always form a prefix) and the stream key expires with its
 * newest entry.
 */
import type { Clock } from '../../../shared/clock.js';
import { DEFAULT_HISTORY_LIMITS, HISTORY_ENTRY_BYTES, type ChannelHistory, type ChannelRecord, type HistoryEntry, type HistoryLimits, type HistoryWindow } from '../../core/channel-history.js';
import { newEpoch, type RedisStoreOptions } from '../shared.js';
import { DEFAULT_PREFIX, checkPrefix } from './keys.js';
import { asArray, asNumber, asString, defineHotScript, nowArg, type RunScript } from './script.js';

/** Shared by both scripts: the channel's epoch, made from ARGV[2] when the meta hash is gone. */
const ENSURE_EPOCH = `
local function ensure_epoch(now, fresh, epochTtl)
  local epoch = redis.call('HGET', KEYS[1], 'epoch')
  if epoch then return epoch end
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', fresh, 'offset', 0)
  redis.call('PEXPIREAT', KEYS[1], fmt(now + epochTtl))
  return fresh
end
`;

/** KEYS meta hist; ARGV now freshEpoch id ts data maxLen ttlMs epochTtlMs → {epoch, offset}. */
const APPEND = ENSURE_EPOCH + `
local now = now_ms(ARGV[1])
local epoch = ensure_epoch(now, ARGV[2], tonumber(ARGV[8]))
local off = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local exp = now + tonumber(ARGV[7])
redis.call('XADD', KEYS[2], 'MAXLEN', tonumber(ARGV[6]), fmt(off) .. '-0', 'id', ARGV[3], 'ts', ARGV[4], 'data', ARGV[5], 'exp', fmt(exp))
redis.call('PEXPIREAT', KEYS[2], fmt(exp))
redis.call('PEXPIREAT', KEYS[1], fmt(now + tonumber(ARGV[8])))
return {epoch, off}
`;

/** Stream entries per XRANGE in the since script: small enough that a read over budget stops early. */
const READ_CHUNK = 8;

/**
 * KEYS meta hist; ARGV now freshEpoch afterOffset('' = none) maxLen epochTtlMs maxBytes(0 = none)
 * → {epoch, offset, covered, [offset id ts data]...}.
 *
 * Reads the stream in chunks of READ_CHUNK and stops at the first sign the
 * answer is "not covered": a gap, or data past maxBytes (then with the
 * messages that fit, for gap repair: channel-history.ts). A recover read of a
 * full window of large messages used to copy all of it (100 x 64 KiB) into
 * the script and the reply, only for the reply to be dropped; now it costs
 * at most maxBytes plus one chunk. Asked further back than the window can
 * reach (more than maxLen behind), it reads nothing.
 */
const SINCE = ENSURE_EPOCH + `
local now = now_ms(ARGV[1])
local epoch = ensure_epoch(now, ARGV[2], tonumber(ARGV[5]))
local latest = tonumber(redis.call('HGET', KEYS[1], 'offset'))
if ARGV[3] == '' then return {epoch, latest, 1} end
local after = tonumber(ARGV[3])
if after == latest then return {epoch, latest, 1} end
if after > latest or latest - after > tonumber(ARGV[4]) then return {epoch, latest, 0} end
local budget = tonumber(ARGV[6])
local bytes = 0
local out = {epoch, latest, 0}
local expect = after + 1
local from = '(' .. fmt(after) .. '-0'
while true do
  local rows = redis.call('XRANGE', KEYS[2], from, '+', 'COUNT', ${READ_CHUNK})
  for _, row in ipairs(rows) do
    local f = row[2]
    local h = {}
    for i = 1, #f, 2 do h[f[i]] = f[i + 1] end
    if tonumber(h.exp) > now then
      local off = tonumber(string.match(row[1], '^(%d+)'))
      if off ~= expect then return {epoch, latest, 0} end
      bytes = bytes + #h.data + ${HISTORY_ENTRY_BYTES}
      if budget > 0 and bytes > budget then return out end
      table.insert(out, off); table.insert(out, h.id); table.insert(out, h.ts); table.insert(out, h.data)
      expect = off + 1
    end
  end
  if #rows < ${READ_CHUNK} then break end
  from = '(' .. rows[#rows][1]
end
if expect ~= latest + 1 then return {epoch, latest, 0} end
out[3] = 1
return out
`;

export class RedisChannelHistory implements ChannelHistory {
  private readonly prefix: string;
  private readonly clock: Clock | undefined;
  private readonly limits: HistoryLimits;
  private readonly appendScript: RunScript;
  private readonly sinceScript: RunScript;

  constructor(opts: RedisStoreOptions & Partial<HistoryLimits>) {
    const { redis, prefix, clock, ...limits } = opts;
    this.prefix = checkPrefix(prefix ?? DEFAULT_PREFIX);
    this.clock = clock;
    this.limits = { ...DEFAULT_HISTORY_LIMITS, ...limits };
    if (!(this.limits.maxLen >= 1)) throw new RangeError('RedisChannelHistory: maxLen must be >= 1');
    // Both on the lean connection when there is one (defineHotScript: one write per event-loop turn, no ioredis
    // command objects): the append is on every publish's path, and routing both keeps this store's calls in call order.
    this.appendScript = defineHotScript(redis, 'channel_append', APPEND);
    this.sinceScript = defineHotScript(redis, 'channel_since', SINCE);
  }

  private keys(channel: string): [string, string] {
    const base = `${this.prefix}:{c:${channel}}:`;
    return [`${base}meta`, `${base}hist`];
  }

  async append(channel: string, entry: HistoryEntry): Promise<{ offset: number; epoch: string }> {
    const { maxLen, ttlMs, epochTtlMs } = this.limits;
    const r = asArray(await this.appendScript(this.keys(channel), [nowArg(this.clock), newEpoch(), entry.id, String(entry.ts), entry.data, Math.floor(maxLen), Math.ceil(ttlMs), Math.ceil(epochTtlMs)]));
    return { epoch: asString(r[0]), offset: asNumber(r[1]) };
  }

  async since(channel: string, afterOffset: number | undefined, maxBytes?: number): Promise<HistoryWindow> {
    const after = afterOffset === undefined ? '' : String(Math.floor(Math.max(0, Math.min(afterOffset, Number.MAX_SAFE_INTEGER))));
    // 0 = no bound in the script; a bound below one byte still refuses any message.
    const budget = maxBytes === undefined || !Number.isFinite(maxBytes) ? 0 : Math.max(0.5, Math.floor(maxBytes));
    const r = asArray(await this.sinceScript(this.keys(channel), [nowArg(this.clock), newEpoch(), after, Math.floor(this.limits.maxLen), Math.ceil(this.limits.epochTtlMs), budget]));
    const pubs: ChannelRecord[] = [];
    for (let i = 3; i + 3 < r.length; i += 4) pubs.push({ offset: asNumber(r[i]), id: asString(r[i + 1]), ts: asNumber(r[i + 2]), data: asString(r[i + 3]) });
    return { epoch: asString(r[0]), offset: asNumber(r[1]), pubs, covered: asNumber(r[2]) === 1 };
  }

  async close(): Promise<void> {}
}
