/**
 * Which gateways owe the directory a re-announcement of their connections,
 * and when to ask for it again.
 *
 * Why: the directory can lose a live gateway's entries without any answer
 * saying so. A beacon or online step sent to a store that stalls past the
 * command timeout is rejected here but still runs once the store wakes: if
 * the lease had lapsed meanwhile, that step re-registers the gateway and
 * drops its entries, and the `registered` answer that would have asked for a
 * re-announcement is lost. The beacons after it find the lease alive. And a
 * re-announced online that fails (the next stall) or is shed leaves its
 * connection missing. Any of these failures therefore puts the gateway in
 * debt; its next beacon the store answers asks it to re-announce everything
 * (idempotent: an online for a listed connection changes nothing).
 *
 * Backoff: a re-announcement of a large gateway is tens of thousands of
 * presence events, so while steps keep failing (a store that answers beacons
 * but sheds or times out the burst) requests are spaced: the first is asked
 * for at once, each further one within `MAX_GAP_MS` waits twice as long as
 * the previous gap (1 s, 2 s, … 30 s). A gateway with no debt for a full gap
 * starts again from 1 s. Per router: the queue group spreads one gateway's
 * beacons over every router, so the router that saw the failure sees one of
 * its beacons within a few intervals. Costs O(gateways) memory, O(1) a call.
 */
const FIRST_GAP_MS = 1000;
const MAX_GAP_MS = 30_000;

interface Debt { owed: boolean; lastAt: number; gapMs: number }

export class ResyncDebt {
  private readonly gateways = new Map<string, Debt>();

  /** The gateway's entries may be missing from the directory. */
  owe(gateway: string): void {
    const d = this.gateways.get(gateway);
    if (d) d.owed = true;
    else this.gateways.set(gateway, { owed: true, lastAt: -Infinity, gapMs: FIRST_GAP_MS });
  }

  /** True when the gateway owes a re-announcement and may be asked now (`now`: monotonic ms); the debt is then cleared. */
  due(gateway: string, now: number): boolean {
    const d = this.gateways.get(gateway);
    if (d === undefined) return false;
    const since = now - d.lastAt;
    if (!d.owed) {
      // Quiet for two gaps: forget it (and its backoff).
      if (since >= 2 * d.gapMs) this.gateways.delete(gateway);
      return false;
    }
    if (since < d.gapMs) return false;
    // Asked again within the window: the last one did not settle it, so wait longer next time.
    d.gapMs = since < 2 * d.gapMs && d.lastAt !== -Infinity ? Math.min(MAX_GAP_MS, d.gapMs * 2) : FIRST_GAP_MS;
    d.lastAt = now;
    d.owed = false;
    return true;
  }

  /** A gateway holding no connections has nothing to re-announce. */
  forgive(gateway: string): void {
    this.gateways.delete(gateway);
  }

  /** Gateways currently owing (tests, metrics). */
  get owing(): number {
    let n = 0;
    for (const d of this.gateways.values()) if (d.owed) n++;
    return n;
  }
}
