/**
 * Presence directory on Redis (cluster mode). Behaves like MemoryPresence
 * and passes the same contract suite; Lua in lua-presence.ts, keys in
 * keys.ts.
 *
 * Layout (Centrifuge's pattern: Redis 7.0 has no per-field TTL, so expiry is
 * a sorted-set score next to a hash):
 *  - per user, in the user's slot: a hash of the user's entries, and a zset
 *    of tombstones scored by expiry;
 *  - per cluster, in the `{gw}` slot: a zset of gateways scored by lease
 *    expiry, a hash per gateway (last beacon, epoch), and a set per epoch
 *    indexing that gateway's entries, so a sweep finds them.
 *
 * A call that needs both sides (online, offline, lookup) runs as a short
 * sequence of single-slot scripts instead of one script, because a Redis
 * Cluster refuses scripts whose keys span slots. What keeps that correct:
 *  - Gateway epochs (see lua-presence.ts): an entry is valid only while its
 *    gateway's current epoch equals the one it was stamped with. Purging a
 *    gateway is one atomic step in the gateway slot; the removal of the
 *    purged entries from users' hashes that follows is cleanup, order-free
 *    and best-effort (lookup hides and drops leftovers).
 *  - Call order: online and offline send their gateway step synchronously
 *    when called, like beacon and sweep (and lookup its mark), so gateway
 *    steps and marks run in call order on the connection. Every call of
 *    this store is a hot script (script.ts defineHotScript): all take one
 *    route, the client's lean connection while it is ready and the ioredis
 *    client otherwise, and a switch between the two keeps call order
 *    (LeanPipe.route), so that order holds whichever way each call goes; their user steps then run through a per-user queue,
 *    in call order too (purge cleanups join that queue, so an offline called
 *    before a purge still finds its entry). So a beacon with a new boot
 *    called before an online invalidates older entries but not that online's.
 *  - Reads that see both sides are taken as of their call: lookup sends a
 *    mark (epoch counter, time) when called and judges gateways as they
 *    were then (gateways keep their previous epoch and lease for this), and
 *    an online judges its displaced entries as of its own first step. The
 *    one approximation: a gateway re-registered twice since the mark counts
 *    as gone. gateways() waits for the calls made before it to finish, since
 *    entry counts come from the index an online updates last.
 *  - Across routers (the queue group spreads one gateway's events over
 *    several), order was never guaranteed; tombstones and "newest online
 *    wins" are what make that safe, exactly as in memory.
 *
 * Known difference: tombstones are kept per user (the offline event names
 * the user), MemoryPresence keeps them per gateway+connection. Connection ids
 * are unique per gateway and belong to one user, so this only differs for a
 * malformed event pairing one connection with two users.
 */
import type { Clock } from '../../../shared/clock.js';
import type { RedisStoreOptions } from '../shared.js';
import {
  DEFAULT_PRESENCE_LIMITS, type BeaconResult, type GatewayBeacon, type GatewayInfo, type OnlineResult, type Presence, type PresenceEntry,
  type PresenceEvent, type PresenceLimits, type SweepResult,
} from '../../core/presence.js';
import { DEFAULT_PREFIX, GatewayKeys, UserKeys } from './keys.js';
import { GW_BEACON, GW_CONNECT, GW_LIST, GW_MARK, GW_ONLINE, GW_STATE, GW_SWEEP, PRES_DROP, PRES_OFFLINE, PRES_ONLINE } from './lua-presence.js';
import { GatewayView } from './gateway-view.js';
import { HGET_ONE, ReplyShapeError, asArray, asNumber, asString, defineHotScript, nowArg, type RunScript } from './script.js';

/** SREM and HVALS (HGET: script.ts) as scripts, so they take the same route as the other calls (call order: see RedisPresence). */
const SREM_ONE = `return redis.call('SREM', KEYS[1], ARGV[1])`;
const HVALS_ONE = `return redis.call('HVALS', KEYS[1])`;

/** What a user hash stores per entry: the entry without the user, plus the gateway epoch it belongs to. */
interface Stored extends Omit<PresenceEntry, 'user'> {
  epoch: string;
  /** PresenceEvent.start, when the online had one (read by PRES_ONLINE only). */
  start?: number;
}

const noop = (): void => {};

/** Runs tasks with the same key one after another, in call order; different keys run concurrently. */
class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key);
    // An idle key runs at once, so the task's first command is sent from this very call.
    const p = prev === undefined ? task() : prev.then(task);
    // One promise per task for the tail, which also forgets the key once it is the last.
    const done = (): void => { if (this.tails.get(key) === tail) this.tails.delete(key); };
    const tail: Promise<void> = p.then(done, done);
    this.tails.set(key, tail);
    return p;
  }

  /** Resolves once every task queued so far (any key) has settled. */
  async settled(): Promise<void> {
    await Promise.all(this.tails.values());
  }
}

function parseStored(v: string): Stored {
  const o: unknown = JSON.parse(v);
  if (typeof o !== 'object' || o === null) throw new ReplyShapeError('a presence entry', v);
  const e = o as Record<string, unknown>;
  const { device, conn, gateway, session, since, epoch } = e;
  if (typeof device !== 'string' || typeof conn !== 'string' || typeof gateway !== 'string' || typeof session !== 'string'
    || typeof since !== 'number' || typeof epoch !== 'string') throw new ReplyShapeError('a presence entry', v);
  return { device, conn, gateway, session, since, epoch };
}

const toEntry = (user: string, s: Stored): PresenceEntry => ({ user, device: s.device, conn: s.conn, gateway: s.gateway, session: s.session, since: s.since });
/** User-hash field of a connection (connection ids are only unique per gateway). JSON keeps any characters unambiguous. */
const fieldOf = (gateway: string, conn: string): string => JSON.stringify([gateway, conn]);
/** Gateway-index member of a connection: enough to find its user-hash field. */
const refOf = (user: string, conn: string): string => JSON.stringify([user, conn]);

interface Purged {
  gateway: string;
  epoch: string;
  refs: string[];
}

/**
 * Parsed presence entries kept by their stored text (see RedisPresence.parsed), at most this many;
 * cleared when full (a user pushed to again within that many distinct entries parses nothing).
 */
const PARSED_MAX = 16_384;

/** Purge cleanup scripts in flight at once (see cleanup). */
const CLEANUP_IN_FLIGHT = 64;

export class RedisPresence implements Presence {
  private readonly users: UserKeys;
  private readonly gws: GatewayKeys;
  private readonly clock: Clock | undefined;
  private readonly limits: PresenceLimits;
  private readonly queue = new KeyedQueue();
  private readonly s: Record<'gwOnline' | 'gwBeacon' | 'gwConnect' | 'gwMark' | 'gwList' | 'gwSweep' | 'gwEpoch' | 'gwForget' | 'values' | 'online' | 'offline' | 'drop', RunScript>;
  private readonly view: GatewayView;
  /**
   * Stored entry text → parsed entry. A lookup parsed every entry it read (JSON.parse, with V8
   * internalising each key: a few % of the router's CPU at 2,000 pushes/s), though a user's entries
   * rarely change between pushes. The text fixes the entry, so a hit is exact; the objects are
   * shared, so they are never modified (toEntry copies).
   */
  private readonly parsed = new Map<string, Readonly<Stored>>();
  /** The mark lookups called in this event-loop turn share (see mark()). */
  private turnMark: Promise<unknown[]> | undefined;

  constructor(opts: RedisStoreOptions & Partial<PresenceLimits>) {
    const { redis, prefix, clock, ...limits } = opts;
    this.users = new UserKeys(prefix ?? DEFAULT_PREFIX);
    this.gws = new GatewayKeys(prefix ?? DEFAULT_PREFIX);
    this.clock = clock;
    this.limits = { ...DEFAULT_PRESENCE_LIMITS, ...limits };
    // Every call is a hot script: all of them take one route (the lean connection when there is one, else
    // ioredis), whose switches keep call order (LeanPipe.route), so the gateway steps and the marks stay in
    // call order by construction (see the file comment).
    // The beacon alone is `reserved`: a push overload of the lean connection does not refuse it
    // (LeanPipe.route), so it cannot cost a gateway its lease. Per-connection steps (online, offline) are
    // not: in a reconnect storm they would fill the reserve and the beacons be refused anyway. The sweep
    // is not either: it ends lapsed leases, keeps none, and a refused one runs again on its next tick.
    const d = (name: string, lua: string, readOnly = false, reserved = false): RunScript => defineHotScript(redis, name, lua, { readOnly, reserved });
    this.s = {
      gwOnline: d('gw_online', GW_ONLINE), gwBeacon: d('gw_beacon', GW_BEACON, false, true),
      gwConnect: d('gw_connect', GW_CONNECT), gwMark: d('gw_mark', GW_MARK, true), gwList: d('gw_list', GW_LIST, true),
      gwSweep: d('gw_sweep', GW_SWEEP), gwEpoch: d('hget', HGET_ONE, true), gwForget: d('srem', SREM_ONE),
      values: d('hvals', HVALS_ONE, true), online: d('pres_online', PRES_ONLINE),
      offline: d('pres_offline', PRES_OFFLINE), drop: d('pres_drop', PRES_DROP),
    };
    this.view = new GatewayView(d('gw_state', GW_STATE, true), { leases: this.gws.leases, epoch: this.gws.epoch, base: this.gws.base });
  }

  /**
   * The point in the gateway slot's history a lookup is judged at. Lookups
   * called in the same event-loop turn share one (their marks would go out
   * in the same pipeline write anyway), unless this process wrote to the
   * gateway slot in between: every gateway step clears it.
   */
  private mark(): Promise<unknown[]> {
    if (this.turnMark === undefined) {
      const m = this.s.gwMark([this.gws.epoch], [this.now]).then(asArray);
      m.catch(noop);
      this.turnMark = m;
      setImmediate(() => { if (this.turnMark === m) this.turnMark = undefined; });
    }
    return this.turnMark;
  }

  private get now(): string { return nowArg(this.clock); }

  online(ev: PresenceEvent, maxDevices = 0): Promise<OnlineResult> {
    this.turnMark = undefined;
    const g = this.gws;
    const first = this.s.gwOnline([g.leases, g.info(ev.gateway), g.epoch], [this.now, g.base, ev.gateway, Math.ceil(this.limits.leaseMs), String(ev.at)]);
    first.catch(noop); // awaited below, possibly after other tasks of this user: not an unhandled rejection meanwhile
    return this.queue.run(ev.user, async () => {
      const r = asArray(await first);
      const [epoch, n0, t0] = [asString(r[0]), asString(r[1]), asString(r[2])];
      const gatewayRegistered = asNumber(r[3]) === 1;
      // Not awaited: the cleanup queues behind this very task when it touches this user.
      if (r.length > 4) void this.cleanup(readPurges(r, 4, ev.gateway, false));
      const u = this.users;
      const field = fieldOf(ev.gateway, ev.conn);
      const stored: Stored = { device: ev.device, conn: ev.conn, gateway: ev.gateway, session: ev.session, since: ev.at, epoch, ...(ev.start !== undefined ? { start: ev.start } : {}) };
      const res = asArray(await this.s.online([u.presence(ev.user), u.tomb(ev.user)],
        [this.now, field, JSON.stringify(stored), ev.device, maxDevices, ev.start !== undefined ? String(ev.start) : '']));
      if (asNumber(res[0]) === -1) return { displaced: [], gatewayRegistered, refused: true };
      if (asNumber(res[0]) === -2) return { displaced: [], gatewayRegistered, stale: true };
      const added = asNumber(res[0]) === 1;
      const displaced = res.slice(1).map((v) => parseStored(asString(v)));
      if (!added && displaced.length === 0) return { displaced: [], gatewayRegistered };
      // Displaced entries are judged as of when this online took effect (n0, t0), as memory would (see GW_CONNECT).
      const args: string[] = [this.now, g.base, t0, n0, epoch, refOf(ev.user, ev.conn), added ? '1' : '0'];
      for (const d of displaced) args.push(d.gateway, d.epoch, refOf(ev.user, d.conn));
      const c = asArray(await this.s.gwConnect([g.leases, g.info(ev.gateway)], args));
      // The gateway was purged between the first step and now: the new entry is already dead.
      if (added && asNumber(c[0]) === 0) void this.cleanup([{ gateway: ev.gateway, epoch, refs: [refOf(ev.user, ev.conn)] }]);
      // An entry of a dead gateway is just stale: nobody needs to close it.
      return { displaced: displaced.filter((_, i) => asNumber(c[i + 1]) === 1).map((d) => toEntry(ev.user, d)), gatewayRegistered };
    });
  }

  offline(ev: PresenceEvent): Promise<boolean> {
    this.turnMark = undefined;
    const first = this.s.gwEpoch([this.gws.info(ev.gateway)], ['epoch']);
    first.catch(noop);
    return this.queue.run(ev.user, async () => {
      const e = await first;
      const epoch = e === null || e === undefined ? '' : asString(e);
      const u = this.users;
      const r = asArray(await this.s.offline([u.presence(ev.user), u.tomb(ev.user)], [this.now, fieldOf(ev.gateway, ev.conn), epoch, Math.ceil(this.limits.tombstoneMs)]));
      if (asNumber(r[0]) !== 1) return false;
      await this.s.gwForget([this.gws.conns(asString(r[1]))], [refOf(ev.user, ev.conn)]);
      return true;
    });
  }

  lookup(user: string): Promise<PresenceEntry[]> {
    return this.lookupWith(user, async () => ({ values: asArray(await this.s.values([this.users.presence(user)], [])).map(asString), result: undefined })).then((r) => r.entries);
  }

  /**
   * lookup() whose read of the user's entries is `read`: any single script
   * on the user's keys that also returns the presence hash's values (the
   * push store's append does), so one round trip serves both. Same call
   * order and as-of rules as lookup: the mark is taken now, `read` runs in
   * the user's queue. `values: undefined` skips the lookup (entries []).
   *
   * The mark is sent when lookupWith is called and a hot-script `read`
   * (the push store's append) later, on the same route (the file comment),
   * so Redis applies the mark first. (The answer would be right in the
   * other order too: the entries read are at least those present at the
   * call, judged against gateway state no older than the call, and an entry
   * whose gateway changed epoch in between is dead for good, since epochs
   * only grow.) A connection that comes online while a push is in flight
   * and is missed by its lookup reads that push on its resume read, which
   * runs after its presence step (core/gateway-events.ts).
   */
  lookupWith<T>(user: string, read: () => Promise<{ values: string[] | undefined; result: T }>): Promise<{ result: T; entries: PresenceEntry[] }> {
    // The gateway side is read after the user's entries, so it is read as of this mark, sent now:
    // a gateway restarted by a later beacon still counts for this lookup, as it would in memory.
    const mark = this.mark();
    return this.queue.run(user, async () => {
      const { values, result } = await read();
      if (values === undefined || values.length === 0) return { result, entries: [] };
      const stored = values.map(this.parseCached);
      const m = await mark;
      const gateways = stored.length === 1 ? [stored[0]!.gateway] : [...new Set(stored.map((x) => x.gateway))];
      const state = await this.view.asOf(gateways, asNumber(m[0]), asNumber(m[1]));
      const entries: PresenceEntry[] = [];
      const stale: Purged[] = [];
      for (const x of stored) {
        const g = state.get(x.gateway)!;
        if (g.asOf === x.epoch && g.alive) entries.push(toEntry(user, x));
        // Epochs only grow: an entry older than its gateway's current epoch (or of a swept gateway) is dead for good.
        // One newer than the mark was added since (maybe by another router) and is left alone.
        else if (g.current === '' || Number(x.epoch) < Number(g.current)) stale.push({ gateway: x.gateway, epoch: x.epoch, refs: [refOf(user, x.conn)] });
      }
      // Leftovers of a purge whose cleanup did not run (e.g. the router died): drop them, without delaying the answer.
      if (stale.length > 0) void this.cleanup(stale);
      return { result, entries };
    });
  }

  private readonly parseCached = (v: string): Readonly<Stored> => {
    let s = this.parsed.get(v);
    if (s === undefined) {
      s = parseStored(v);
      if (this.parsed.size >= PARSED_MAX) this.parsed.clear();
      this.parsed.set(v, s);
    }
    return s;
  };

  async beacon(b: GatewayBeacon): Promise<BeaconResult> {
    this.turnMark = undefined;
    const g = this.gws;
    const r = asArray(await this.s.gwBeacon([g.leases, g.info(b.gateway), g.epoch], [
      this.now, g.base, b.gateway, Math.ceil(this.limits.leaseMs), b.boot, String(b.connections), b.draining ? '1' : '0', String(b.at), b.version ?? '',
    ]));
    if (r.length > 1) await this.cleanup(readPurges(r, 1, b.gateway, false));
    return { registered: asNumber(r[0]) === 1 };
  }

  async gateways(): Promise<GatewayInfo[]> {
    // Entry counts come from the gateway index, which an online updates in its last step:
    // let the calls made before this one finish, so their entries are counted.
    await this.queue.settled();
    const r = asArray(await this.s.gwList([this.gws.leases], [this.now, this.gws.base]));
    const now = asNumber(r[0]);
    const out: GatewayInfo[] = [];
    for (let i = 1; i + 7 < r.length; i += 8) {
      const version = asString(r[i + 7]);
      out.push({
        gateway: asString(r[i]), boot: asString(r[i + 1]), connections: asNumber(r[i + 2]), draining: asString(r[i + 3]) === '1',
        at: asNumber(r[i + 4]), ageMs: Math.round(now - asNumber(r[i + 5])), entries: asNumber(r[i + 6]), ...(version !== '' ? { version } : {}),
      });
    }
    return out.sort((a, b) => (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0));
  }

  async sweep(): Promise<SweepResult> {
    this.turnMark = undefined;
    const r = asArray(await this.s.gwSweep([this.gws.leases], [this.now, this.gws.base]));
    const purged = readPurges(r, 1, '', true);
    await this.cleanup(purged);
    return { gateways: asNumber(r[0]), entries: purged.reduce((n, p) => n + p.refs.length, 0) };
  }

  /**
   * Removes purged entries from their users' hashes, one script per user,
   * all pipelined. Best-effort: those entries are already invisible (their
   * epoch is over), so a failure here only leaves garbage for lookup to drop.
   * Each user's script goes through that user's queue, so a call made before
   * the purge (an offline still waiting for its turn) still finds its entry,
   * as it would have in memory. Never rejects.
   */
  private async cleanup(purged: readonly Purged[]): Promise<void> {
    const byUser = new Map<string, Map<string, string[]>>(); // user → epoch → fields
    for (const p of purged) {
      for (const ref of p.refs) {
        const [user, conn] = JSON.parse(ref) as [string, string];
        let epochs = byUser.get(user);
        if (!epochs) byUser.set(user, (epochs = new Map()));
        const fields = epochs.get(p.epoch) ?? [];
        fields.push(fieldOf(p.gateway, conn));
        epochs.set(p.epoch, fields);
      }
    }
    const jobs: Array<() => Promise<unknown>> = [];
    for (const [user, epochs] of byUser) {
      for (const [epoch, fields] of epochs) jobs.push(() => this.queue.run(user, () => this.s.drop([this.users.presence(user)], ['', epoch, ...fields])));
    }
    // At most CLEANUP_IN_FLIGHT at once: a dead gateway's purge is one script per user, and sent all at
    // once (15,000 for one killed gateway in bench:storm) they queued ahead of every session start on the
    // connection: no resume completed for ~4 s, right in the middle of the reconnect storm.
    let next = 0;
    const worker = async (): Promise<void> => { while (next < jobs.length) await jobs[next++]!().catch(() => undefined); };
    await Promise.all(Array.from({ length: Math.min(CLEANUP_IN_FLIGHT, jobs.length) }, worker));
  }

  /** The client is shared and owned by whoever created it: nothing to release here. */
  async close(): Promise<void> {}
}

/**
 * Reads purge groups from a gateway script reply, from index `i`:
 * `epoch, n, ref×n` repeated, each preceded by the gateway id when `withId`.
 */
function readPurges(r: unknown[], i: number, gateway: string, withId: boolean): Purged[] {
  const out: Purged[] = [];
  while (i < r.length) {
    const gw = withId ? asString(r[i++]) : gateway;
    const epoch = asString(r[i]);
    const n = asNumber(r[i + 1]);
    const refs = r.slice(i + 2, i + 2 + n).map(asString);
    i += 2 + n;
    out.push({ gateway: gw, epoch, refs });
  }
  return out;
}
