/** ChannelOccupancy in process memory (standalone mode): the Redis store's rules (../redis/channel-occupancy.ts). */
import type { ChannelOccupancy, OccupancyChange, OccupancyReport } from '../../core/channel-occupancy.js';

interface Entry { occupied: boolean; boot: string; seq: number }

export class MemoryChannelOccupancy implements ChannelOccupancy {
  private readonly channels = new Map<string, Map<string, Entry>>();

  async apply(r: OccupancyReport, live: ReadonlyMap<string, string>): Promise<OccupancyChange> {
    const gws = this.channels.get(r.channel) ?? new Map<string, Entry>();
    let before = 0;
    for (const [gw, e] of gws) {
      if (live.get(gw) !== e.boot) gws.delete(gw);
      else if (e.occupied) before++;
    }
    const cur = gws.get(r.gateway);
    if (live.get(r.gateway) !== r.boot || (cur !== undefined && cur.seq >= r.seq)) return this.keep(r.channel, gws, before, before);
    const after = before - (cur?.occupied === true ? 1 : 0) + (r.occupied ? 1 : 0);
    gws.set(r.gateway, { occupied: r.occupied, boot: r.boot, seq: r.seq });
    return this.keep(r.channel, gws, before, after);
  }

  /** A channel no gateway occupies keeps its entries (they order late reports) until the next one finds them dead. */
  private keep(channel: string, gws: Map<string, Entry>, before: number, after: number): OccupancyChange {
    if (gws.size === 0) this.channels.delete(channel); else this.channels.set(channel, gws);
    return { before, after };
  }
}
