/**
 * The presence directory contract: which gateway holds which connection of
 * which user, and which gateways are alive.
 *
 * Gateways hold no durable state and can die without saying goodbye, so the
 * directory never trusts an entry on its own: every entry hangs off its
 * gateway's lease. A gateway renews its lease with a beacon every few
 * seconds; once `leaseMs` passes without one, `lookup` stops returning that
 * gateway's entries and `sweep` deletes them. Leases are measured on the
 * store's clock at receipt, never from `beacon.at` (hosts' clocks differ).
 *
 * Restarts: a beacon whose `boot` differs from the known one means the
 * gateway restarted under the same id; its older entries are dead and are
 * dropped. This relies on the gateway sending a beacon before it accepts its
 * first connection (events from one publisher arrive in order).
 *
 * Implementations apply calls in call order (the router's presence handler
 * relies on it): ../stores/memory/presence.ts and ../stores/redis/presence.ts
 * (key layout in ../stores/redis/keys.ts).
 */
import type { PresenceEvent } from '../../shared/bus/messages.js';

export type { PresenceEvent };

export type { GatewayBeacon } from '../../shared/bus/messages.js';
import type { GatewayBeacon } from '../../shared/bus/messages.js';

/** One live connection. */
export interface PresenceEntry {
  user: string;
  device: string;
  conn: string;
  gateway: string;
  session: string;
  /** From the online event: gateway wall clock, epoch ms. */
  since: number;
}

export interface GatewayInfo extends GatewayBeacon {
  /** ms since the last beacon (or the online event that registered the gateway), on the store's clock. */
  ageMs: number;
  /** Directory entries held for this gateway. */
  entries: number;
}

export interface OnlineResult {
  /**
   * Entries of the same user and device that this connection replaced (the
   * cluster-wide one-session rule): removed from the directory; the router
   * tells their gateways to close them. The newest online event wins.
   */
  displaced: PresenceEntry[];
  /**
   * This online (re)registered its gateway (unknown, or its lease had
   * lapsed), like a beacon would (see BeaconResult.registered): whatever
   * entries the gateway had are gone, so the router asks it to re-announce.
   */
  gatewayRegistered: boolean;
  /**
   * Only with `maxDevices`: the user already had that many other devices on
   * alive gateways, so nothing was added or displaced.
   */
  refused?: true;
  /**
   * Only for an online with `start`: the user already has an entry for this
   * device with a later `start` (a newer session start registered first).
   * Nothing was added or displaced. Checked in the same atomic step.
   */
  stale?: true;
}

export interface BeaconResult {
  /**
   * The beacon (re)registered its gateway: unknown (first beacon, or swept
   * after its lease expired), lease expired, or restarted (new boot). Any
   * entries it had are gone. A gateway that still reports connections in
   * such a beacon was alive all along (its beacons were late: an overloaded
   * router or store, a stalled process), so the router asks it to announce
   * its connections again.
   */
  registered: boolean;
}

export interface SweepResult {
  gateways: number;
  entries: number;
}

export interface PresenceLimits {
  /** A gateway without a beacon for this long is dead (ms). A few beacon intervals. */
  leaseMs: number;
  /** How long an offline for an unknown connection blocks its late online (ms). */
  tombstoneMs: number;
}

export const DEFAULT_PRESENCE_LIMITS: Readonly<PresenceLimits> = Object.freeze({ leaseMs: 15_000, tombstoneMs: 60_000 });

export interface Presence {
  /**
   * Records a connection. If its gateway is not alive (unknown, or lease
   * expired), the event counts as a beacon: the gateway is registered with
   * boot "" (unknown), after the stale entries of an expired lease are dropped.
   * Ignored if the connection's offline was already applied (tombstone, see offline).
   * With `maxDevices` > 0 (a session start), refused when the user already
   * has that many devices other than ev.device connected; checked and applied
   * in one atomic step, so concurrent starts on several routers cannot overshoot.
   */
  online(ev: PresenceEvent, maxDevices?: number): Promise<OnlineResult>;

  /**
   * Removes a connection. Several routers share the event stream (queue
   * group), so an offline may be applied before its online: for an unknown
   * connection a tombstone is kept for `tombstoneMs` and that connection's
   * late online is ignored. Returns whether an entry was removed.
   */
  offline(ev: PresenceEvent): Promise<boolean>;

  /** The user's connections on alive gateways. */
  lookup(user: string): Promise<PresenceEntry[]>;

  /** Renews the gateway's lease (see the restart rule above). */
  beacon(b: GatewayBeacon): Promise<BeaconResult>;

  /** Alive gateways, by id. */
  gateways(): Promise<GatewayInfo[]>;

  /** Deletes gateways whose lease expired, and their entries. Called periodically by the router. */
  sweep(): Promise<SweepResult>;

  close(): Promise<void>;
}
