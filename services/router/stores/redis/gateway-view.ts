/**
 * What presence lookups need from the gateway slot, cached: each gateway's
 * epoch, previous epoch and leases, as read together with the slot's epoch
 * counter. A lookup judges gateways as of its mark (counter n0, time t0; see
 * presence.ts). A cached gateway answers for a mark when nothing was
 * (re)registered since it was read (same counter) and its lease, as read,
 * still covers t0; leases only grow between registrations, so the answer is
 * the one GW_MARK's lookup would give (lua-presence.ts as_of). Anything else is read again (one script for
 * every gateway a call needs), so pushes to
 * users on healthy gateways cost no gateway-slot reads beyond the mark.
 */
import { asArray, asNumber, asString, type RunScript } from './script.js';

interface Cached {
  /** Epoch counter when read. */
  n: number;
  epoch: string;
  prev: string;
  prevLease: number;
  lease: number;
}

export interface GatewayAsOf {
  /** The epoch the gateway had at the mark ('' if unknown then). */
  asOf: string;
  alive: boolean;
  /** Its epoch when read ('' if unknown): entries older than this are dead for good. */
  current: string;
}

const num = (v: string): number => (v === '' ? 0 : Number(v));

export class GatewayView {
  private readonly cache = new Map<string, Cached>();

  constructor(private readonly state: RunScript, private readonly keys: { leases: string; epoch: string; base: string }) {}

  async asOf(gateways: readonly string[], n0: number, t0: number): Promise<Map<string, GatewayAsOf>> {
    const out = new Map<string, GatewayAsOf>();
    const need: string[] = [];
    for (const g of gateways) {
      const c = this.cache.get(g);
      if (c !== undefined && c.n === n0 && (c.epoch === '' || c.lease > t0)) out.set(g, judge(c, n0, t0));
      else need.push(g);
    }
    if (need.length === 0) return out;
    const fresh = await this.read(need);
    need.forEach((g, i) => out.set(g, judge(fresh[i]!, n0, t0)));
    return out;
  }

  /** Forgets everything (a write through this process changed the gateway slot). */
  invalidate(): void {
    this.cache.clear();
  }

  /**
   * One script for the gateways a call needs. Issued after the caller's mark
   * (callers await it first), so its values are as of the mark or later;
   * reads are not shared between calls for that reason.
   */
  private async read(gateways: readonly string[]): Promise<Cached[]> {
    const r = asArray(await this.state([this.keys.leases, this.keys.epoch], [this.keys.base, ...gateways]));
    const n = asNumber(r[0]);
    return gateways.map((g, i) => {
      const at = 1 + 4 * i;
      const c: Cached = { n, epoch: asString(r[at]), prev: asString(r[at + 1]), prevLease: num(asString(r[at + 2])), lease: num(asString(r[at + 3])) };
      const old = this.cache.get(g);
      if (old === undefined || old.n <= n) this.cache.set(g, c);
      return c;
    });
  }
}

/** lua-presence.ts as_of, on a cached read: exact unless re-registered twice since the mark (then ''). */
function judge(c: Cached, n0: number, t0: number): GatewayAsOf {
  if (c.epoch === '') return { asOf: '', alive: false, current: '' };
  if (Number(c.epoch) <= n0) return { asOf: c.epoch, alive: c.lease > t0, current: c.epoch };
  if (c.prev !== '' && Number(c.prev) <= n0) return { asOf: c.prev, alive: c.prevLease > t0, current: c.epoch };
  return { asOf: '', alive: false, current: c.epoch };
}
