/**
 * Lua for RedisResumeRead (core/resume-read.ts): a session start's reads in
 * one step on one user's keys (one hash tag, one cluster slot). The position
 * part is SEQ_POSITION's, the replay start is replayAfter()'s rule, and the
 * read is INBOX_SINCE's (READ_SINCE in lua-user.ts).
 */
import { EPOCH, READ_SINCE } from './lua-user.js';

/**
 * KEYS: seq, epoch, inbox, acks
 * ARGV: now, device, resumed ('1' | ''), lastSeq ('' = none), lastEpoch ('' = none), limit
 * → {seq, epoch, stale (0|1), after, recordsEpoch, seq, id, ts, data, …}
 * (epoch 0 and seq 0: no sequence yet; recordsEpoch is what INBOX_SINCE reports for the records.)
 */
export const RESUME_READ = EPOCH + READ_SINCE + `
local now = now_ms(ARGV[1])
local seq, epoch = 0, 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  seq = tonumber(redis.call('GET', KEYS[1]))
  epoch = epoch_for(KEYS[1], KEYS[2])
end
local stale = ARGV[5] ~= '' and tonumber(ARGV[5]) ~= epoch
local after
if stale then
  after = 0
elseif ARGV[3] == '1' and ARGV[4] ~= '' then
  after = tonumber(ARGV[4])
else
  after = tonumber(redis.call('HGET', KEYS[4], ARGV[2]) or '0')
end
local out = {fmt(seq), fmt(epoch), stale and 1 or 0, fmt(after), fmt(epoch_of(KEYS[2]))}
local limit = tonumber(ARGV[6])
-- As RedisInbox.since: seqs are integers, a negative bound reads from the start, an unsafe one reads nothing.
if limit < 1 or after >= 9007199254740991 then return out end
local start = '-'
if after >= 0 then start = '(' .. fmt(math.floor(after)) .. '-0' end
return read_since(KEYS[3], start, limit, now, out)
`;
