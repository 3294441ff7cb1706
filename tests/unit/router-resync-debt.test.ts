/**
 * Resync debt (services/router/core/resync-debt.ts) as GatewayEvents runs
 * it up: each failed or shed presence step puts its gateway in debt exactly
 * once, whichever path it came by (the bus's presence queue, a session
 * start). Owing twice for one failure would count one failure twice, and a
 * beacon answered between the two would ask again for a failure it has
 * already asked for (one more backoff step).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../services/shared/clock.js';
import { GatewayEvents } from '../../services/router/core/gateway-events.js';
import { ResyncDebt } from '../../services/router/core/resync-debt.js';
import { DEFAULT_ROUTER_OPTIONS, newRouterStats, type RouterCoreOptions } from '../../services/router/core/router-types.js';
import { storeCall } from '../../services/router/core/store-call.js';
import type { RouterOutbound } from '../../services/router/core/ports.js';
import type { Presence, PresenceEvent } from '../../services/router/core/presence.js';
import { MemoryInbox } from '../../services/router/stores/memory/inbox.js';
import { MemorySessions } from '../../services/router/stores/memory/sessions.js';
import { MemoryPresence } from '../../services/router/stores/memory/presence.js';
import { silent } from '../helpers/log.js';

/** Records every owe() (the gateways named, in order) and otherwise keeps the real bookkeeping. */
class WatchedDebt extends ResyncDebt {
  readonly owed: string[] = [];
  override owe(gateway: string): void { this.owed.push(gateway); super.owe(gateway); }
}

const noOutbound: RouterOutbound = { deliver: () => true, control: () => true, offline: () => true, acked: () => {}, sync: () => true, receiptAddress: 'r' };

/** GatewayEvents over memory stores whose online step awaits `gate` and then fails while `failing`. */
function setup(options: Partial<RouterCoreOptions> = {}): { events: GatewayEvents; debt: WatchedDebt; release: () => void; ev: (conn: string) => PresenceEvent } {
  const clock = new ManualClock(1000);
  const stats = newRouterStats();
  const base = new MemoryPresence({ clock, leaseMs: 10_000 });
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const presence = Object.assign(Object.create(base) as Presence, {
    online: async (): Promise<never> => { await gate; throw new Error('Command timed out'); },
  });
  const debt = new WatchedDebt();
  const events = new GatewayEvents({
    out: noOutbound, inbox: new MemoryInbox({ clock, maxLen: 100 }), sessions: new MemorySessions({ clock }), presence,
    clock, log: silent, stats, store: storeCall(stats, silent), options: { ...DEFAULT_ROUTER_OPTIONS, ...options }, debt,
  });
  const ev = (conn: string): PresenceEvent => ({ type: 'online', user: `u-${conn}`, device: 'd', conn, session: 's', gateway: 'A', at: 1 });
  return { events, debt, release, ev };
}

describe('resync debt: one failure, one debt', () => {
  it('a presence event from the bus whose step fails owes once', async () => {
    const t = setup();
    const p = t.events.queuedPresence(t.ev('c1'));
    t.release();
    await assert.rejects(p);
    assert.deepEqual(t.debt.owed, ['A']);
  });

  it('a shed presence event (it never ran) owes once; the one that ran and failed owes once', async () => {
    const t = setup({ presenceConcurrency: 1, presenceQueue: 0 });
    const running = t.events.queuedPresence(t.ev('c1'));
    await assert.rejects(t.events.queuedPresence(t.ev('c2')), /queue full/);
    assert.equal(t.events.presenceWork.stats.shed, 1);
    assert.deepEqual(t.debt.owed, ['A'], 'the shed event');
    t.release();
    await assert.rejects(running);
    assert.deepEqual(t.debt.owed, ['A', 'A'], 'plus the failed one: two failures, two debts');
  });

  it('a session start whose registration fails owes once', async () => {
    const t = setup();
    t.release();
    await assert.rejects(t.events.resume({ user: 'u1', device: 'd', gateway: 'A', conn: 'c1', session: undefined, lastSeq: undefined }));
    assert.deepEqual(t.debt.owed, ['A']);
  });
});
