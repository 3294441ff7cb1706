/**
 * ChannelOccupancy on Redis (cluster mode): one hash per channel,
 *
 *   <prefix>:{c:<channel>}:occ   hash   gateway → "<0|1>|<boot>|<seq>"; expires 10 min after no gateway is occupied
 *
 * (the channel's hash tag, as its history keys). One script applies a
 * report: entries of gateways not live (or of an earlier boot) are dropped,
 * a report older than the gateway's entry (same boot, seq not higher) or
 * from a boot that is not the live one changes nothing, and it answers the
 * occupied count before and after. The hash of a channel nobody occupies
 * lingers 10 minutes so a late report is still recognised as late.
 */
import type { ChannelOccupancy, OccupancyChange, OccupancyReport } from '../../core/channel-occupancy.js';
import type { RedisStoreOptions } from '../shared.js';
import { DEFAULT_PREFIX, checkPrefix } from './keys.js';
import { asArray, asNumber, defineScript, type RunScript } from './script.js';

const IDLE_TTL_MS = 600_000;

/** KEYS occ; ARGV now gateway boot seq state(0|1) idleTtl [liveGateway liveBoot]... → {before, after}. */
const APPLY = `
local live = {}
for i = 7, #ARGV, 2 do live[ARGV[i]] = ARGV[i + 1] end
local fields = redis.call('HGETALL', KEYS[1])
local before, cur = 0, nil
for i = 1, #fields, 2 do
  local gw = fields[i]
  local st, boot, seq = string.match(fields[i + 1], '^(%d)|([^|]*)|(%d+)$')
  if st == nil or live[gw] ~= boot then
    redis.call('HDEL', KEYS[1], gw)
  else
    if st == '1' then before = before + 1 end
    if gw == ARGV[2] then cur = { st, tonumber(seq) } end
  end
end
local after = before
if live[ARGV[2]] == ARGV[3] and (cur == nil or cur[2] < tonumber(ARGV[4])) then
  if cur ~= nil and cur[1] == '1' then after = after - 1 end
  if ARGV[5] == '1' then after = after + 1 end
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[5] .. '|' .. ARGV[3] .. '|' .. ARGV[4])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  if after == 0 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[6])) else redis.call('PERSIST', KEYS[1]) end
end
return { before, after }
`;

export class RedisChannelOccupancy implements ChannelOccupancy {
  private readonly prefix: string;
  private readonly script: RunScript;

  constructor(opts: Pick<RedisStoreOptions, 'redis' | 'prefix'>) {
    this.prefix = checkPrefix(opts.prefix ?? DEFAULT_PREFIX);
    this.script = defineScript(opts.redis, 'channel_occupancy', APPLY);
  }

  async apply(r: OccupancyReport, live: ReadonlyMap<string, string>): Promise<OccupancyChange> {
    const args: Array<string | number> = ['', r.gateway, r.boot, String(r.seq), r.occupied ? '1' : '0', IDLE_TTL_MS];
    for (const [gw, boot] of live) args.push(gw, boot);
    const out = asArray(await this.script([`${this.prefix}:{c:${r.channel}}:occ`], args));
    return { before: asNumber(out[0]), after: asNumber(out[1]) };
  }
}
