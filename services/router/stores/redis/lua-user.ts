/**
 * Lua for RedisInbox and RedisSessions. Each script touches the keys of one
 * user only (one hash tag, one cluster slot), and runs atomically, which is
 * what the contracts' "atomic" and "gap-free" promises rest on.
 *
 * Inbox entries live in a stream whose entry ids are "<seq>-0": XRANGE by id
 * is a range by seq, `XADD … MAXLEN n` is the exact length bound, and
 * `XTRIM MINID` both trims to the ack cursor and reports how many it removed.
 * Fields are always written in the order id, ts, data, exp, so `f[8]` is exp.
 */

/**
 * Drops the expired prefix of a stream. Entries share one TTL and are in seq order, so expired ones come first.
 * Each batch starts at the stream's first entry (XRANGE from '-'), so a live first entry means nothing is
 * expired: no XTRIM then (it would remove nothing; on the push path that was one call per append or ack).
 */
const PRUNE = `
local function prune(key, now)
  while true do
    local batch = redis.call('XRANGE', key, '-', '+', 'COUNT', 16)
    if #batch == 0 then return end
    for i, e in ipairs(batch) do
      if tonumber(e[2][8]) > now then
        if i > 1 then redis.call('XTRIM', key, 'MINID', e[1]) end
        return
      end
    end
    local last = tonumber(string.match(batch[#batch][1], '^%d+'))
    redis.call('XTRIM', key, 'MINID', fmt(last + 1) .. '-0')
  end
end
`;

/**
 * The sequence's epoch, created with the seq counter: when the counter is
 * missing (never written, or lost to a FLUSHALL, a restart without
 * persistence, a failover to a replica that never had it) the sequence
 * starts again at 1 under a new epoch, the server's TIME in microseconds,
 * greater than any epoch the lost sequence can have had. A counter without an
 * epoch (written before epochs existed) gets one the same way.
 */
export const EPOCH_OF = `
local function epoch_of(epoch_key)
  return tonumber(redis.call('GET', epoch_key) or '0')
end
`;
export const EPOCH = EPOCH_OF + `
local function epoch_for(seq_key, epoch_key)
  local e = redis.call('GET', epoch_key)
  if e and redis.call('EXISTS', seq_key) == 1 then return tonumber(e) end
  local t = redis.call('TIME')
  local new = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('SET', epoch_key, fmt(new))
  return new
end
`;

/**
 * The user's latest seq and its epoch; a counter without an epoch gets one
 * (see EPOCH), so a sequence that exists always has an epoch.
 * KEYS: seq, epoch   → {seq, epoch} ({0, 0}: no sequence)
 */
export const SEQ_POSITION = EPOCH + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
return {tonumber(redis.call('GET', KEYS[1])), fmt(epoch_for(KEYS[1], KEYS[2]))}
`;

/**
 * Idempotency check, seq INCR, XADD with exact MAXLEN, TTL prune, key
 * expiry, idempotency record: one atomic step, so a seq is never lost,
 * reused or assigned to two concurrent retries of one key.
 * With ARGV[8] = '1' ("locate", the push path: core/push-store.ts) the last
 * key is the user's presence hash and a fresh append also returns its
 * values, so one round trip both stores the push and finds the user.
 * KEYS: seq, epoch, inbox[, idem][, presence]   ARGV: now, id, ts, data, maxLen, ttlMs, idemTtlMs[, locate]
 * → {0, seq, epoch[, presence value…]} | {1, seq, id, ts, data, epoch} (duplicate: the first append's record)
 */
export const INBOX_APPEND = PRUNE + EPOCH + `
local now = now_ms(ARGV[1])
local locate = ARGV[8] == '1'
local idem = nil
if #KEYS >= (locate and 5 or 4) then idem = KEYS[4] end
if idem then
  local r = redis.call('HMGET', idem, 'seq', 'id', 'ts', 'data')
  if r[1] then return {1, r[1], r[2], r[3], r[4], epoch_of(KEYS[2])} end
end
prune(KEYS[3], now)
local epoch = epoch_for(KEYS[1], KEYS[2])
local seq = redis.call('INCR', KEYS[1])
local exp = now + tonumber(ARGV[6])
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[5], fmt(seq) .. '-0', 'id', ARGV[2], 'ts', ARGV[3], 'data', ARGV[4], 'exp', fmt(exp))
extend_to(KEYS[3], exp)
if idem then
  redis.call('HSET', idem, 'seq', fmt(seq), 'id', ARGV[2], 'ts', ARGV[3], 'data', ARGV[4])
  redis.call('PEXPIREAT', idem, fmt(now + tonumber(ARGV[7])))
end
local out = {0, seq, fmt(epoch)}
if locate then
  for _, v in ipairs(redis.call('HVALS', KEYS[#KEYS])) do out[#out + 1] = v end
end
return out
`;

/**
 * Appends to `out` up to `limit` unexpired entries of the inbox stream after
 * `start` ("(<seq>-0" exclusive, or "-") as seq, id, ts, data; expired ones
 * are skipped, not deleted, so reads never write. Shared by INBOX_SINCE and
 * RESUME_READ (lua-resume.ts).
 */
export const READ_SINCE = `
local function read_since(inbox_key, start, limit, now, out)
  local n = 0
  while n < limit do
    local want = limit - n
    local batch = redis.call('XRANGE', inbox_key, start, '+', 'COUNT', want)
    for _, e in ipairs(batch) do
      local f = e[2]
      if tonumber(f[8]) > now then
        out[#out + 1] = string.match(e[1], '^%d+')
        out[#out + 1] = f[2]
        out[#out + 1] = f[4]
        out[#out + 1] = f[6]
        n = n + 1
      end
    end
    if #batch < want then break end
    start = '(' .. batch[#batch][1]
  end
  return out
end
`;

/**
 * Read-only: unexpired entries after a stream id, up to `limit`, skipping
 * (not deleting) expired ones so reads never write; and the epoch they
 * belong to, read in the same step.
 * KEYS: inbox, epoch   ARGV: now, start ("(<seq>-0" exclusive, or "-"), limit
 * → {epoch, seq, id, ts, data, …}
 */
export const INBOX_SINCE = EPOCH_OF + READ_SINCE + `
local now = now_ms(ARGV[1])
local limit = tonumber(ARGV[3])
return read_since(KEYS[1], ARGV[2], limit, now, {fmt(epoch_of(KEYS[2]))})
`;

/**
 * Cumulative ack and trim to the minimum cursor, atomically, so no device's
 * cursor can move between computing the minimum and trimming. With ARGV[5]
 * = '1' ("list") it also returns seq and id of every stored push the ack
 * newly covered (old cursor < seq ≤ new cursor), read before the trim. An
 * ack naming another epoch than the user's (ARGV[6]; '' names none) changes
 * nothing: its seqs are of a lost sequence.
 * KEYS: seq, inbox, acks, epoch   ARGV: now, device, seq, cursorTtlMs, list ('1' | ''), epoch
 * → {cursor, trimmed[, seq, id, …]}
 */
export const INBOX_ACK = PRUNE + EPOCH_OF + `
local latest = tonumber(redis.call('GET', KEYS[1]) or '0')
if latest == 0 then return {0, 0} end
if ARGV[6] ~= '' and tonumber(ARGV[6]) ~= epoch_of(KEYS[4]) then
  return {tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0'), 0}
end
local now = now_ms(ARGV[1])
prune(KEYS[2], now)
local prev = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
local cursor = math.max(prev, math.min(tonumber(ARGV[3]), latest))
local newly = {}
if ARGV[5] == '1' and cursor > prev then
  for _, e in ipairs(redis.call('XRANGE', KEYS[2], '(' .. fmt(prev) .. '-0', fmt(cursor) .. '-0')) do
    newly[#newly + 1] = string.match(e[1], '^%d+')
    newly[#newly + 1] = e[2][2]
  end
end
redis.call('HSET', KEYS[3], ARGV[2], fmt(cursor))
-- All cursors of the user are forgotten together, cursorTtlMs after the last ack.
redis.call('PEXPIREAT', KEYS[3], fmt(now + tonumber(ARGV[4])))
local min = cursor
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do
  local c = tonumber(v)
  if c < min then min = c end
end
local trimmed = 0
if min >= 1 then trimmed = redis.call('XTRIM', KEYS[2], 'MINID', fmt(min + 1) .. '-0') end
local out = {cursor, trimmed}
for _, v in ipairs(newly) do out[#out + 1] = v end
return out
`;

/**
 * Read-only: latest seq, unexpired entry count and every ack cursor. Expired
 * entries form a prefix (one TTL, seq order), so only that prefix is walked.
 * KEYS: seq, inbox, acks   ARGV: now   → {latestSeq, depth, device, cursor, …}
 */
export const INBOX_SUMMARY = `
local now = now_ms(ARGV[1])
local len = redis.call('XLEN', KEYS[2])
local expired, start = 0, '-'
while expired < len do
  local batch = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', 64)
  if #batch == 0 then break end
  local live = false
  for _, e in ipairs(batch) do
    if tonumber(e[2][8]) > now then live = true break end
    expired = expired + 1
  end
  if live then break end
  start = '(' .. batch[#batch][1]
end
local out = {tonumber(redis.call('GET', KEYS[1]) or '0'), len - expired}
for _, v in ipairs(redis.call('HGETALL', KEYS[3])) do out[#out + 1] = v end
return out
`;

/** Splits a stored "<expiresAt>|<session>" value. */
const SESSION_PARSE = `
local function parse(v)
  local sep = string.find(v, '|', 1, true)
  return tonumber(string.sub(v, 1, sep - 1)), string.sub(v, sep + 1)
end
`;

/**
 * Resume-or-replace in one step, so concurrent resumes of one session all see
 * it and a replacement is never half-applied. Other devices' expired
 * sessions are dropped on the way (a user has few devices).
 * KEYS: sessions   ARGV: now, device, requested ('' = none), newId, ttlMs
 * → {resumed (0|1), session}
 */
export const SESSION_OPEN = SESSION_PARSE + `
local now = now_ms(ARGV[1])
local exp = now + tonumber(ARGV[5])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local at, id = parse(all[i + 1])
  if at <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] == ARGV[2] and ARGV[3] ~= '' and id == ARGV[3] then
    redis.call('HSET', KEYS[1], ARGV[2], fmt(exp) .. '|' .. id)
    extend_to(KEYS[1], exp)
    return {1, id}
  end
end
redis.call('HSET', KEYS[1], ARGV[2], fmt(exp) .. '|' .. ARGV[4])
extend_to(KEYS[1], exp)
return {0, ARGV[4]}
`;

/**
 * KEYS: sessions   ARGV: now, device, session, ttlMs   → 1 if extended, else 0
 */
export const SESSION_TOUCH = SESSION_PARSE + `
local now = now_ms(ARGV[1])
local v = redis.call('HGET', KEYS[1], ARGV[2])
if not v then return 0 end
local at, id = parse(v)
if at <= now or id ~= ARGV[3] then return 0 end
local exp = now + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[2], fmt(exp) .. '|' .. id)
extend_to(KEYS[1], exp)
return 1
`;
