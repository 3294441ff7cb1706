/**
 * Sessions on Redis (cluster mode). Behaves like MemorySessions and passes
 * the same contract suite.
 *
 * One hash per user, device → "<expiresAt>|<session>" (Redis 7.0 has no
 * per-field TTL, so each device's expiry is in its value and checked by the
 * scripts). The key's own expiry follows the latest device expiry (extend
 * only), so a user who never returns leaves nothing behind. Expired fields
 * of other devices are dropped whenever the user opens a session, which
 * replaces MemorySessions' periodic sweep.
 */
import type { Clock } from '../../../shared/clock.js';
import type { RedisStoreOptions } from '../shared.js';
import type { RedisClient } from './client.js';
import { DEFAULT_PREFIX, UserKeys } from './keys.js';
import { SESSION_OPEN, SESSION_TOUCH } from './lua-user.js';
import { asArray, asNumber, asString, defineScript, nowArg, type RunScript } from './script.js';
import { newSessionId } from '../shared.js';
import { DEFAULT_SESSION_LIMITS, type SessionLimits, type SessionOpen, type Sessions } from '../../core/sessions.js';

export class RedisSessions implements Sessions {
  private readonly redis: RedisClient;
  private readonly keys: UserKeys;
  private readonly clock: Clock | undefined;
  private readonly limits: SessionLimits;
  private readonly openScript: RunScript;
  private readonly touchScript: RunScript;

  constructor(opts: RedisStoreOptions & Partial<SessionLimits>) {
    const { redis, prefix, clock, ...limits } = opts;
    this.redis = redis;
    this.keys = new UserKeys(prefix ?? DEFAULT_PREFIX);
    this.clock = clock;
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...limits };
    this.openScript = defineScript(redis, 'session_open', SESSION_OPEN);
    this.touchScript = defineScript(redis, 'session_touch', SESSION_TOUCH);
  }

  async open(user: string, device: string, requested?: string): Promise<SessionOpen> {
    // The candidate id is drawn here (Lua has no secure randomness) and used only if nothing is resumed.
    const r = asArray(await this.openScript([this.keys.sessions(user)], [
      nowArg(this.clock), device, requested ?? '', newSessionId(), Math.ceil(this.limits.ttlMs),
    ]));
    return { session: asString(r[1]), resumed: asNumber(r[0]) === 1 };
  }

  async touch(user: string, device: string, session: string): Promise<boolean> {
    const r = await this.touchScript([this.keys.sessions(user)], [nowArg(this.clock), device, session, Math.ceil(this.limits.ttlMs)]);
    return asNumber(r) === 1;
  }

  async drop(user: string, device?: string): Promise<void> {
    const key = this.keys.sessions(user);
    if (device === undefined) await this.redis.del(key);
    else await this.redis.hdel(key, device);
  }

  /** The client is shared and owned by whoever created it: nothing to release here. */
  async close(): Promise<void> {}
}
