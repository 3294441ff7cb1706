/**
 * Channel webhooks (docs/webhooks.md "Channel events"): cluster-wide
 * `channel.occupied` (the channel's first subscriber anywhere) and
 * `channel.vacated` (its last one left), and per user `channel.subscribed` /
 * `channel.unsubscribed`.
 *
 * Membership lives on the gateways. Each gateway reports only its own
 * transitions (first local subscriber joined, last local one left: one bus
 * message per transition, never per join), and the routers keep, per
 * channel, which gateways are occupied (the `ChannelOccupancy` store). A
 * report that takes the count of occupied gateways from 0 to 1 is
 * `channel.occupied`, from 1 to 0 `channel.vacated`. The store applies a
 * report atomically and in gateway order (each carries the gateway's boot
 * and a sequence number), so two routers handling one gateway's reports out
 * of order, or two gateways' reports at once, still give one event per
 * cluster-wide transition.
 *
 * Gateways that are gone: every report names the live gateways (the presence
 * directory's leases and boots); entries of any other gateway, or of an
 * earlier boot of one, count as unoccupied and are dropped. A gateway that
 * dies holding a channel's only subscribers sends nothing, so that channel is
 * not reported vacated; its next subscriber reports it occupied again.
 */
import type { ChannelOccupancyEvent } from '../../shared/bus/messages.js';
import type { BackendEvents } from './backend-events.js';
import type { Presence } from './presence.js';
import type { StoreCall } from './store-call.js';

/** One gateway's report, in that gateway's order (`boot`, then `seq`). */
export interface OccupancyReport { channel: string; gateway: string; boot: string; seq: number; occupied: boolean }

/** Occupied gateways before and after a report (after === before: a stale report, or nothing changed). */
export interface OccupancyChange { before: number; after: number }

/** Per channel: which gateways have local subscribers. Memory (standalone) and Redis (cluster). */
export interface ChannelOccupancy {
  /**
   * Applies `r` unless the gateway already reported something later (same
   * boot, higher seq) or is not in `live` (gateway → its live boot); drops
   * the entries of gateways not in `live` first.
   */
  apply(r: OccupancyReport, live: ReadonlyMap<string, string>): Promise<OccupancyChange>;
}

export interface ChannelEventData { channel: string; at: number }

/** Turns gateways' occupancy reports into channel.occupied / channel.vacated events. */
export class ChannelOccupancyEvents {
  constructor(private readonly d: { occupancy: ChannelOccupancy; presence: Presence; events: BackendEvents; store: StoreCall }) {}

  get wanted(): boolean { return this.d.events.wants('channel.occupied') || this.d.events.wants('channel.vacated'); }

  async report(ev: ChannelOccupancyEvent): Promise<void> {
    if (ev.boot === undefined || ev.seq === undefined) return;
    const gws = await this.d.store('gateways', this.d.presence.gateways());
    const live = new Map(gws.map((g) => [g.gateway, g.boot] as const));
    const { before, after } = await this.d.store('channel-occupancy', this.d.occupancy.apply({ channel: ev.channel, gateway: ev.gateway, boot: ev.boot, seq: ev.seq, occupied: ev.occupied }, live));
    const data: ChannelEventData = { channel: ev.channel, at: ev.at };
    // Charged to the user whose join or leave made it: one client that cycles a connection naming channels no one
    // else follows made two uncharged events per channel per cycle, past its share (the body names no user).
    if (before === 0 && after > 0 && this.d.events.wants('channel.occupied')) this.d.events.emit('channel.occupied', data, undefined, ev.user);
    if (before > 0 && after === 0 && this.d.events.wants('channel.vacated')) this.d.events.emit('channel.vacated', data, undefined, ev.user);
  }
}
