/**
 * In-process presence directory for standalone mode and tests. Leases read
 * the injected clock. Entries are keyed by gateway + connection id, since
 * connection ids are only unique within one gateway.
 */
import type { Clock } from '../../../shared/clock.js';
import {
  DEFAULT_PRESENCE_LIMITS, type BeaconResult, type GatewayBeacon, type GatewayInfo, type OnlineResult, type Presence, type PresenceEntry,
  type PresenceEvent, type PresenceLimits, type SweepResult,
} from '../../core/presence.js';

interface GatewayState {
  beacon: GatewayBeacon;
  seenAt: number;
  expiresAt: number;
  /** entry key → user */
  conns: Map<string, string>;
}

const entryKey = (gateway: string, conn: string): string => `${gateway}\u0000${conn}`;

export class MemoryPresence implements Presence {
  /** user → entry key → entry */
  private readonly users = new Map<string, Map<string, PresenceEntry>>();
  private readonly gws = new Map<string, GatewayState>();
  private readonly limits: PresenceLimits;
  /** entry key → expiry; insertion order = expiry order (one TTL). */
  private readonly tombstones = new Map<string, number>();
  /** entry key → its session start stamp (PresenceEvent.start), for entries that have one. */
  private readonly starts = new Map<string, number>();

  private readonly clock: Clock;

  constructor(opts: { clock: Clock } & Partial<PresenceLimits>) {
    const { clock, ...limits } = opts;
    this.clock = clock;
    this.limits = { ...DEFAULT_PRESENCE_LIMITS, ...limits };
  }

  private alive(g: GatewayState | undefined, now: number): g is GatewayState {
    return g !== undefined && g.expiresAt > now;
  }

  private remove(user: string, key: string): PresenceEntry | undefined {
    const entries = this.users.get(user);
    const e = entries?.get(key);
    if (!entries || !e) return undefined;
    entries.delete(key);
    this.starts.delete(key);
    if (entries.size === 0) this.users.delete(user);
    this.gws.get(e.gateway)?.conns.delete(key);
    return e;
  }

  /** Drops every entry of a gateway (restart or expired lease). Returns how many. */
  private purge(g: GatewayState): number {
    const n = g.conns.size;
    for (const [key, user] of [...g.conns]) this.remove(user, key);
    g.conns.clear();
    return n;
  }

  private register(b: GatewayBeacon, now: number): GatewayState {
    const g: GatewayState = { beacon: { ...b }, seenAt: now, expiresAt: now + this.limits.leaseMs, conns: new Map() };
    this.gws.set(b.gateway, g);
    return g;
  }

  async online(ev: PresenceEvent, maxDevices = 0): Promise<OnlineResult> {
    const now = this.clock.now();
    let g = this.gws.get(ev.gateway);
    const gatewayRegistered = !this.alive(g, now);
    if (gatewayRegistered) {
      if (g) this.purge(g);
      g = this.register({ gateway: ev.gateway, boot: '', connections: 0, draining: false, at: ev.at }, now);
    }
    const key = entryKey(ev.gateway, ev.conn);
    this.pruneTombstones(now);
    if (this.tombstones.has(key)) return { displaced: [], gatewayRegistered };
    const displaced: PresenceEntry[] = [];
    const entries = this.users.get(ev.user);
    if (maxDevices > 0 && entries) {
      const others = new Set<string>();
      for (const e of entries.values()) if (e.device !== ev.device && this.alive(this.gws.get(e.gateway), now)) others.add(e.device);
      if (others.size >= maxDevices) return { displaced: [], gatewayRegistered, refused: true };
    }
    if (entries && ev.start !== undefined) {
      for (const [k, e] of entries) {
        if (e.device === ev.device && k !== key && (this.starts.get(k) ?? -Infinity) > ev.start) return { displaced: [], gatewayRegistered, stale: true };
      }
    }
    if (entries) {
      for (const [k, e] of [...entries]) {
        if (e.device !== ev.device || k === key) continue;
        this.remove(ev.user, k);
        // An entry of a dead gateway is just stale: nobody needs to close it.
        if (this.alive(this.gws.get(e.gateway), now)) displaced.push(e);
      }
    }
    const entry: PresenceEntry = { user: ev.user, device: ev.device, conn: ev.conn, gateway: ev.gateway, session: ev.session, since: ev.at };
    let map = this.users.get(ev.user);
    if (!map) {
      map = new Map();
      this.users.set(ev.user, map);
    }
    map.set(key, entry);
    if (ev.start !== undefined) this.starts.set(key, ev.start);
    else this.starts.delete(key);
    g!.conns.set(key, ev.user);
    return { displaced, gatewayRegistered };
  }

  async offline(ev: PresenceEvent): Promise<boolean> {
    const key = entryKey(ev.gateway, ev.conn);
    if (this.remove(ev.user, key) !== undefined) return true;
    const now = this.clock.now();
    this.pruneTombstones(now);
    this.tombstones.delete(key);
    this.tombstones.set(key, now + this.limits.tombstoneMs);
    return false;
  }

  private pruneTombstones(now: number): void {
    for (const [k, exp] of this.tombstones) {
      if (exp > now) break;
      this.tombstones.delete(k);
    }
  }

  async lookup(user: string): Promise<PresenceEntry[]> {
    return this.lookupNow(user);
  }

  /** lookup(), synchronously: copies of the entries, the caller's to keep or change. */
  lookupNow(user: string): PresenceEntry[] {
    const out = this.lookupShared(user);
    for (let i = 0; i < out.length; i++) out[i] = { ...out[i]! };
    return out;
  }

  /**
   * lookupNow() without copying the entries (the array is new): the directory's own objects,
   * read-only for the caller (the memory push store: push-store.ts, whose
   * router reads each entry's gateway once, in the call). Safe to share
   * because an entry is never changed in place: online() replaces it with a
   * new object, offline() and the sweeps drop it.
   */
  lookupShared(user: string): PresenceEntry[] {
    const entries = this.users.get(user);
    if (!entries) return [];
    const now = this.clock.now();
    const out: PresenceEntry[] = [];
    for (const e of entries.values()) if (this.alive(this.gws.get(e.gateway), now)) out.push(e);
    return out;
  }

  async beacon(b: GatewayBeacon): Promise<BeaconResult> {
    const now = this.clock.now();
    const g = this.gws.get(b.gateway);
    if (!g) {
      this.register(b, now);
      return { registered: true };
    }
    const restarted = g.beacon.boot !== '' && g.beacon.boot !== b.boot;
    const registered = !this.alive(g, now) || restarted;
    if (registered) this.purge(g);
    g.beacon = { ...b };
    g.seenAt = now;
    g.expiresAt = now + this.limits.leaseMs;
    return { registered };
  }

  async gateways(): Promise<GatewayInfo[]> {
    const now = this.clock.now();
    const out: GatewayInfo[] = [];
    for (const g of this.gws.values()) {
      if (this.alive(g, now)) out.push({ ...g.beacon, ageMs: Math.round(now - g.seenAt), entries: g.conns.size });
    }
    return out.sort((a, b) => (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0));
  }

  async sweep(): Promise<SweepResult> {
    const now = this.clock.now();
    const res: SweepResult = { gateways: 0, entries: 0 };
    for (const [id, g] of [...this.gws]) {
      if (this.alive(g, now)) continue;
      res.entries += this.purge(g);
      res.gateways++;
      this.gws.delete(id);
    }
    return res;
  }

  async close(): Promise<void> {
    this.users.clear();
    this.gws.clear();
    this.tombstones.clear();
    this.starts.clear();
  }
}
