/**
 * The console's data layer on a router over the in-memory bus and stores:
 * sampled history (bounded, gaps while the directory is unreadable), rates
 * from the router's counters, push API status counts, panels (a failing
 * panel shows "unavailable" instead of failing the overview), user lookup
 * with the inbox summary, and a test push to an offline user (the delivered/acked path runs in the browser test).
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConsoleData, type ConsoleCore } from '../../services/router/console/data.js';
import { setup, stopRouters } from '../helpers/router-harness.js';

interface Overview {
  directory: string;
  connections: { total: number; gateways: number; draining: number };
  gateways: Array<{ gateway: string; connections: number; draining: boolean; version: string | null }>;
  history: Array<{ t: number; total: number | null; gateways: Record<string, number> }>;
  rates: { pushesPerSec: number };
  counters: { pushRequests: number; http: Record<string, number> };
  panels: Array<{ id: string; rows: Array<{ label: string; value: number | string }> }>;
}

const opened: ConsoleData[] = [];
afterEach(() => {
  for (const d of opened.splice(0)) d.close();
  stopRouters();
});

function make(core: ConsoleCore, t: ReturnType<typeof setup>, extra: Partial<ConstructorParameters<typeof ConsoleData>[0]> = {}): ConsoleData {
  const d = new ConsoleData({ core, inbox: t.inbox, clock: t.clock, mode: 'cluster', dev: false, version: '1.0.0', sampleMs: 60_000, ...extra });
  opened.push(d);
  return d;
}

describe('console data', () => {
  it('samples connections per gateway into a bounded history and reads rates from the counters', async () => {
    const t = setup();
    const d = make(t.core, t, { historyLength: 3 });
    await d.sample();
    const a = t.gw('gwA');
    a.beacon('b', 4);
    t.gw('gwB').beacon('b', 2);
    await t.settle();
    t.clock.advance(1000);
    await d.sample();
    for (let i = 0; i < 5; i++) await t.core.push({ users: [`u${i}`], data: i });
    t.clock.advance(1000);
    await d.sample();
    t.clock.advance(1000);
    await d.sample();
    const o = (await d.overview()) as Overview;
    assert.equal(o.history.length, 3, 'bounded');
    assert.deepEqual(o.history.at(-1)!.gateways, { gwA: 4, gwB: 2 });
    assert.equal(o.history.at(-1)!.total, 6);
    assert.deepEqual(o.connections, { total: 6, gateways: 2, draining: 0 });
    assert.equal(o.counters.pushRequests, 5);
    assert.equal(o.rates.pushesPerSec, 2.5, '5 pushes over the 2 s between the oldest and newest sample kept');
  });

  it('an unreadable directory leaves a gap in the history and says so', async () => {
    const t = setup();
    let down = false;
    const core: ConsoleCore = {
      stats: t.core.stats, presenceOf: (u) => t.core.presenceOf(u), control: (c) => t.core.control(c), push: (r) => t.core.push(r),
      cluster: () => (down ? Promise.reject(new Error('redis down')) : t.core.cluster()),
    };
    const d = make(core, t);
    await d.sample();
    down = true;
    t.clock.advance(1000);
    await d.sample();
    const o = (await d.overview()) as Overview;
    assert.deepEqual(o.history.map((h) => h.total), [0, null]);
    assert.equal(o.directory, 'unavailable');
  });

  it('counts push API responses by class from the HTTP counter, and renders panels (a failing one as unavailable)', async () => {
    const t = setup();
    const d = make(t.core, t, {
      httpStatuses: async () => new Map([[200, 10], [401, 2], [413, 1], [503, 3], [500, 1]]),
      panels: [
        { id: 'webhooks', title: 'Webhooks', read: async () => [{ label: 'dead letters', value: 7 }] },
        { id: 'broken', title: 'Broken', read: () => Promise.reject(new Error('no')) },
      ],
    });
    const o = (await d.overview()) as Overview;
    assert.deepEqual(o.counters.http, { '4xx': 3, '5xx': 4, '503': 3 });
    assert.deepEqual(o.panels.map((p) => [p.id, p.rows]), [['webhooks', [{ label: 'dead letters', value: 7 }]], ['broken', [{ label: 'error', value: 'unavailable' }]]]);
  });

  it('user lookup: connections and the inbox summary; a test push to an offline user is stored', async () => {
    const t = setup();
    const d = make(t.core, t);
    const a = t.gw('gwA');
    a.beacon('b', 1);
    a.presence('online', 'alice', 'phone', 'c1');
    await t.settle();
    await t.inbox.append('alice', { id: 'm0', ts: 1, data: '0' });
    await t.inbox.ack('alice', 'phone', 1);
    const u = (await d.user('alice')) as { online: boolean; connections: Array<{ device: string }>; inbox: unknown };
    assert.equal(u.online, true);
    assert.deepEqual(u.connections.map((c) => c.device), ['phone']);
    assert.deepEqual(u.inbox, { latestSeq: 1, depth: 0, cursors: { phone: 1 } });

    // Offline: stored in the inbox, nothing to wait for.
    const r = (await d.testPush('nobody', { hi: 1 })) as Record<string, unknown>;
    assert.deepEqual({ ...r, id: typeof r.id }, { id: 'string', user: 'nobody', seq: 1, status: 'offline', connections: 0 });
    assert.deepEqual(((await d.user('nobody')) as { inbox: unknown }).inbox, { latestSeq: 1, depth: 1, cursors: {} });
  });
});
