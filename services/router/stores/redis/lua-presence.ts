/**
 * Lua for RedisPresence (see presence.ts for how the steps fit).
 *
 * Gateway scripts ("GW_*") touch only `{gw}`-tagged keys: KEYS[1] is the
 * leases zset, and they derive `gw:<id>` info hashes and `conns:<epoch>` sets
 * from ARGV[2], the `<prefix>:{gw}:` base, which shares that hash tag, so
 * they stay in one cluster slot. User scripts ("PRES_*") touch one user's
 * keys only.
 *
 * Epochs: every registration of a gateway (first sighting, online after an
 * expired lease, beacon after an expired lease or with a new boot id) takes a
 * new number from the `epoch` counter (never a number used before, even after
 * the counter was lost: see next_epoch). Entries are stamped with the epoch
 * they were added under, and an entry counts only while its gateway's
 * current epoch equals it. Dropping all entries of a gateway is therefore a
 * single atomic step in the gateway slot (new epoch, delete the conns set);
 * deleting the dead entries from the users' hashes is cleanup that may
 * happen later, in any order, and never touches a live entry.
 */

const GW_HELPERS = `
local function info_key(g) return ARGV[2] .. 'gw:' .. g end
-- The next gateway epoch. A missing counter (first use, or lost to a wipe or
-- failover) starts from the server's TIME in microseconds, not 0: epochs and
-- counter values must never repeat ones read before the loss, or a router's
-- cached view (gateway-view.ts) would take a new registration for an old one
-- and hide the gateway's entries.
local function next_epoch(key)
  if redis.call('EXISTS', key) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', key, string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2])))
  end
  return redis.call('INCR', key)
end
local function conns_key(e) return ARGV[2] .. 'conns:' .. e end
-- Ends the gateway's current epoch: returns {epoch, refs} of the entries to clean up, or nil.
local function purge(ik)
  local old = redis.call('HGET', ik, 'epoch')
  if not old then return nil end
  local ck = conns_key(old)
  local refs = redis.call('SMEMBERS', ck)
  redis.call('DEL', ck)
  return {old, refs}
end
-- Appends a purge result to a reply as: epoch, n, ref…
local function push_purge(out, p)
  if not p then return end
  out[#out + 1] = p[1]
  out[#out + 1] = #p[2]
  for _, r in ipairs(p[2]) do out[#out + 1] = r end
end
-- A gateway's epoch and liveness as they were at an earlier point of the
-- gateway slot's history: when the epoch counter stood at n0, at time t0.
-- A gateway re-registered since then kept its previous epoch and lease in
-- prev/prevLease. Exact unless it was re-registered twice since: then ''.
local function as_of(g, n0, t0)
  local f = redis.call('HMGET', info_key(g), 'epoch', 'prev', 'prevLease')
  if not f[1] then return '', 0 end
  if tonumber(f[1]) <= n0 then
    local lease = redis.call('ZSCORE', KEYS[1], g)
    return f[1], (lease and tonumber(lease) > t0) and 1 or 0
  end
  if f[2] and tonumber(f[2]) <= n0 then return f[2], (tonumber(f[3]) > t0) and 1 or 0 end
  return '', 0
end
`;

/**
 * First step of an online event: makes sure the gateway is alive; an unknown
 * or expired one is (re)registered with boot "" after its old epoch is purged.
 * Also returns the point in the slot's history the call took effect at (the
 * epoch counter and the time), for GW_CONNECT, and whether it registered
 * the gateway (1) or found it alive (0).
 * KEYS: leases, info(g), epoch   ARGV: now, base, gateway, leaseMs, at
 * → {epoch, n0, t0, registered[, oldEpoch, n, ref…]}
 */
export const GW_ONLINE = GW_HELPERS + `
local now = now_ms(ARGV[1])
local lease = redis.call('ZSCORE', KEYS[1], ARGV[3])
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if epoch and lease and tonumber(lease) > now then
  return {epoch, redis.call('GET', KEYS[3]) or '0', fmt(now), 0}
end
local p = purge(KEYS[2])
local e = fmt(next_epoch(KEYS[3]))
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'boot', '', 'connections', '0', 'draining', '0', 'at', ARGV[5], 'seen', fmt(now), 'epoch', e, 'version', '')
if epoch then redis.call('HSET', KEYS[2], 'prev', epoch, 'prevLease', lease or '0') end
redis.call('ZADD', KEYS[1], fmt(now + tonumber(ARGV[4])), ARGV[3])
local out = {e, e, fmt(now), 1}
push_purge(out, p)
return out
`;

/**
 * Beacon: renews the lease; a restart (new boot, the old one known) or an
 * expired lease first purges the old epoch. `registered` is 1 when the
 * beacon started a new epoch (unknown gateway, expired lease or restart).
 * KEYS: leases, info(g), epoch   ARGV: now, base, gateway, leaseMs, boot, connections, draining (0|1), at, version
 * → {registered, [oldEpoch, n, ref…]}
 */
export const GW_BEACON = GW_HELPERS + `
local now = now_ms(ARGV[1])
local epoch = redis.call('HGET', KEYS[2], 'epoch')
local out = {0}
if not epoch then
  epoch = fmt(next_epoch(KEYS[3]))
  out[1] = 1
else
  local lease = redis.call('ZSCORE', KEYS[1], ARGV[3])
  local boot = redis.call('HGET', KEYS[2], 'boot') or ''
  if not (lease and tonumber(lease) > now) or (boot ~= '' and boot ~= ARGV[5]) then
    push_purge(out, purge(KEYS[2]))
    redis.call('HSET', KEYS[2], 'prev', epoch, 'prevLease', lease or '0')
    epoch = fmt(next_epoch(KEYS[3]))
    out[1] = 1
  end
end
redis.call('HSET', KEYS[2], 'boot', ARGV[5], 'connections', ARGV[6], 'draining', ARGV[7], 'at', ARGV[8], 'seen', fmt(now), 'epoch', epoch, 'version', ARGV[9])
redis.call('ZADD', KEYS[1], fmt(now + tonumber(ARGV[4])), ARGV[3])
return out
`;

/**
 * Last step of an online event: indexes the new entry under its epoch (if
 * that epoch is still current), unindexes the displaced entries, and says
 * which displaced entries were on alive gateways, either when the online took
 * effect (n0, t0 from GW_ONLINE; whatever happened to them since, as in
 * memory) or now (an entry another router added after t0). Erring towards
 * "alive" costs a redundant close; the other way would leave two sessions.
 * KEYS: leases, info(g)   ARGV: now, base, t0, n0, epoch, ref, added (0|1), then per displaced entry: gateway, epoch, ref
 * → {indexed (0|1), alive (0|1) per displaced entry}
 */
export const GW_CONNECT = GW_HELPERS + `
local now, t0, n0 = now_ms(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ok = 0
if ARGV[7] == '1' and redis.call('HGET', KEYS[2], 'epoch') == ARGV[5] then
  redis.call('SADD', conns_key(ARGV[5]), ARGV[6])
  ok = 1
end
local out = {ok}
for i = 8, #ARGV, 3 do
  local g, e = ARGV[i], ARGV[i + 1]
  redis.call('SREM', conns_key(e), ARGV[i + 2])
  local then_e, then_alive = as_of(g, n0, t0)
  local lease = redis.call('ZSCORE', KEYS[1], g)
  local now_alive = lease and tonumber(lease) > now and redis.call('HGET', info_key(g), 'epoch') == e
  out[#out + 1] = ((then_e == e and then_alive == 1) or now_alive) and 1 or 0
end
return out
`;

/**
 * Read-only, sent when lookup is called: marks the point in the gateway
 * slot's history the lookup takes effect at.
 * KEYS: epoch   ARGV: now   → {n0, t0}
 */
export const GW_MARK = `
return {redis.call('GET', KEYS[1]) or '0', fmt(now_ms(ARGV[1]))}
`;

/**
 * Read-only: alive gateways with their last beacon and entry count.
 * KEYS: leases   ARGV: now, base   → {now, then per gateway: id, boot, connections, draining, at, seen, entries, version ('' if none)}
 */
export const GW_LIST = GW_HELPERS + `
local now = now_ms(ARGV[1])
local out = {fmt(now)}
for _, g in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(now), '+inf')) do
  local f = redis.call('HMGET', info_key(g), 'boot', 'connections', 'draining', 'at', 'seen', 'epoch', 'version')
  if f[6] then
    local n = redis.call('SCARD', conns_key(f[6]))
    local row = {g, f[1], f[2], f[3], f[4], f[5], n, f[7] or ''}
    for _, v in ipairs(row) do out[#out + 1] = v end
  end
end
return out
`;

/**
 * Deletes gateways whose lease expired, with their epoch's index.
 * KEYS: leases   ARGV: now, base   → {gateways, then per gateway: id, epoch, n, ref…}
 */
export const GW_SWEEP = GW_HELPERS + `
local now = now_ms(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', fmt(now))
local out = {#ids}
for _, g in ipairs(ids) do
  local ik = info_key(g)
  local p = purge(ik)
  redis.call('DEL', ik)
  redis.call('ZREM', KEYS[1], g)
  out[#out + 1] = g
  if p then
    push_purge(out, p)
  else
    out[#out + 1] = ''
    out[#out + 1] = 0
  end
end
return out
`;

/**
 * User step of an online event: ignored if the connection has a live
 * tombstone; otherwise replaces the user's other entries for the same
 * device (returned as displaced) and stores the new one. With maxDevices > 0,
 * refused ({-1}, nothing changed) when the user's entries already name that
 * many other devices. This slot cannot see gateway epochs, so entries of a
 * gateway purged but not yet cleaned up still count here, until the cleanup
 * that follows every purge (and the lease sweep) removes them.
 * With a start stamp (PresenceEvent.start), refused as stale ({-2}, nothing
 * changed) when another entry of the device has a later one.
 * KEYS: presence, tomb   ARGV: now, field, entry JSON, device, maxDevices, start ('' = none)
 * → {added (0|1), displaced entry JSON…} | {-1} | {-2}
 */
export const PRES_ONLINE = `
local now = now_ms(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now))
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return {0} end
local out = {1}
local all = redis.call('HGETALL', KEYS[1])
local max = tonumber(ARGV[5])
if max > 0 then
  local seen, n = {}, 0
  for i = 2, #all, 2 do
    local d = cjson.decode(all[i]).device
    if d ~= ARGV[4] and not seen[d] then
      seen[d] = true
      n = n + 1
    end
  end
  if n >= max then return {-1} end
end
local start = tonumber(ARGV[6])
if start then
  for i = 1, #all, 2 do
    if all[i] ~= ARGV[2] then
      local e = cjson.decode(all[i + 1])
      if e.device == ARGV[4] and type(e.start) == 'number' and e.start > start then return {-2} end
    end
  end
end
for i = 1, #all, 2 do
  if all[i] ~= ARGV[2] and cjson.decode(all[i + 1]).device == ARGV[4] then
    redis.call('HDEL', KEYS[1], all[i])
    out[#out + 1] = all[i + 1]
  end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return out
`;

/**
 * User step of an offline event. An entry stamped with an epoch other than
 * the gateway's current one was already dropped (purged gateway), so it
 * counts as absent: removed, and a tombstone is left as for an unknown one.
 * KEYS: presence, tomb   ARGV: now, field, current epoch ('' = gateway unknown), tombstoneMs
 * → {1, epoch} removed | {0} tombstoned
 */
export const PRES_OFFLINE = `
local v = redis.call('HGET', KEYS[1], ARGV[2])
if v then
  redis.call('HDEL', KEYS[1], ARGV[2])
  local e = cjson.decode(v).epoch
  if e == ARGV[3] then return {1, e} end
end
local now = now_ms(ARGV[1])
local exp = now + tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now))
redis.call('ZADD', KEYS[2], fmt(exp), ARGV[2])
extend_to(KEYS[2], exp)
return {0}
`;

/**
 * Cleanup: deletes the listed fields if they still hold an entry of `epoch`
 * (a newer entry for the same connection is left alone).
 * KEYS: presence   ARGV: now (unused), epoch, field…   → number deleted
 */
export const PRES_DROP = `
local n = 0
for i = 3, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and cjson.decode(v).epoch == ARGV[2] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`;

/**
 * Read-only: the epoch counter and, per gateway, what lookups judge it by
 * (see gateway-view.ts, which caches it while the counter stands still).
 * KEYS: leases, epoch   ARGV: base, gateway…
 * → {counter, then per gateway: epoch|'', prev|'', prevLease|'', lease|''}
 */
export const GW_STATE = `
local out = {redis.call('GET', KEYS[2]) or '0'}
for i = 2, #ARGV do
  local f = redis.call('HMGET', ARGV[1] .. 'gw:' .. ARGV[i], 'epoch', 'prev', 'prevLease')
  out[#out + 1] = f[1] or ''
  out[#out + 1] = f[2] or ''
  out[#out + 1] = f[3] or ''
  out[#out + 1] = redis.call('ZSCORE', KEYS[1], ARGV[i]) or ''
end
return out
`;
