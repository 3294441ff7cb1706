/**
 * Scenarios 3, 4 and 6 of the real-network tests: a lossy slow mobile link,
 * a gateway partitioned from the backend, a reconnect storm from separate
 * client hosts. Real time here: the network is not scaled, so neither are the
 * heartbeats that must survive it.
 */
import type { ClientHost } from '../clients.js';
import { NetnsCluster } from '../cluster.js';
import { PushLoop, percentile, round, scrapeLabels, sleep, type Recipients } from './common.js';

const BACKOFF = { baseMs: 200, capMs: 2000, healthyAfterMs: 2000 };

async function addMany(c: NetnsCluster, host: ClientHost, users: string[], url: string, heartbeat: Record<string, unknown>, rec: Recipients, backoff: Record<string, unknown> = BACKOFF): Promise<void> {
  for (const u of users) {
    host.add({ id: u, url, token: await c.token(u, 'd1'), device: 'd1', heartbeat, backoff });
    rec.set(u, { host, id: u });
  }
  const want = new Set(users);
  await host.waitUntil(() => { for (const e of host.events) if (e.ev === 'connected' && e.id !== undefined) want.delete(e.id); return want.size === 0; }, 60_000, `${users.length} clients connected`);
}

export interface LossyOptions { durationMs: number; clientsPerHost?: number; delayMs?: number; jitterMs?: number; lossPct?: number; heartbeatMs?: number }

/**
 * 3. A mobile link (default 150 ms RTT ± 50 ms, 3 % loss each way) between a
 * client host and the carrier NAT, a clean client host beside it as the
 * baseline in the same run. Heartbeat every `heartbeatMs` with an equal
 * zombie wait; a push round to everyone every heartbeat + 2 s (pushes reset
 * the idle clock, so denser pushes would leave no heartbeat to test).
 */
export async function lossySlowLink(o: LossyOptions): Promise<Record<string, unknown>> {
  const n = o.clientsPerHost ?? 10;
  const hbMs = o.heartbeatMs ?? 3000;
  const shape = { delayMs: o.delayMs ?? 75, jitterMs: o.jitterMs ?? 25, lossPct: o.lossPct ?? 3 };
  const c = await NetnsCluster.start({ natTimeoutS: 600, gateways: 1, clientHosts: 2 });
  try {
    await c.shape(0, shape);
    const [mobile, clean] = [c.clients[0]!, c.clients[1]!];
    const mUsers = Array.from({ length: n }, (_, i) => `m${i}`);
    const cUsers = Array.from({ length: n }, (_, i) => `w${i}`);
    const rec: Recipients = new Map();
    const heartbeat = { smart: false, intervalMs: hbMs, timeoutMs: hbMs };
    await addMany(c, mobile, mUsers, c.gateways[0]!.url, heartbeat, rec);
    await addMany(c, clean, cUsers, c.gateways[0]!.url, heartbeat, rec);
    const s0 = [...await mobile.stats(), ...await clean.stats()];
    // The window starts at each host's mark (its event stream's order), not at a time: see ClientHost.mark.
    const marks = new Map([[mobile, mobile.mark()], [clean, clean.mark()]]);
    const t0 = Date.now();
    // A push round every heartbeat + 2 s: each gap leaves one idle interval, so a heartbeat crosses the link too.
    const pushes = new PushLoop(c, [...mUsers, ...cUsers], hbMs + 2000);
    await sleep(o.durationMs);
    await pushes.stop();
    const lost = await pushes.settle(rec, 20_000);
    const s1 = [...await mobile.stats(), ...await clean.stats()];
    const acks = (prefix: string): number => s1.filter((r) => r.id.startsWith(prefix)).reduce((k, r) => k + r.heartbeatAcks - s0.find((x) => x.id === r.id)!.heartbeatAcks, 0);
    const lossOf = (host: ClientHost, users: string[]): Record<string, number> => ({
      disconnects: users.reduce((k, u) => k + host.of(u, 'disconnected', marks.get(host)).length, 0),
      zombies: users.reduce((k, u) => k + host.of(u, 'disconnected', marks.get(host)).filter((e) => e.zombie === true).length, 0),
    });
    // Each loss in full (who, when, the close code and reason), so a failed run says why.
    const lossDetail = (host: ClientHost, users: string[]): Array<Record<string, unknown>> => users.flatMap((u) =>
      host.of(u, 'disconnected', marks.get(host)).map((e) => ({ id: u, atMs: e.t - t0, code: e.code, reason: e.reason, zombie: e.zombie })));
    const lat = (users: string[]): { p50: number; p99: number; n: number } => {
      const xs = pushes.latencies(rec, users).filter((x) => x >= 0);
      return { p50: round(percentile(xs, 50)), p99: round(percentile(xs, 99)), n: xs.length };
    };
    const rtts = mobile.events.filter((e) => e.ev === 'ack' && e.t >= t0).map((e) => e.rttMs as number);
    return {
      scenario: 'lossy slow mobile link', durationMs: Date.now() - t0, shape, heartbeatMs: hbMs, clientsPerHost: n,
      mobile: { heartbeatAcks: acks('m'), ...lossOf(mobile, mUsers), lost: lossDetail(mobile, mUsers), heartbeatRttMs: { p50: percentile(rtts, 50), p99: percentile(rtts, 99), n: rtts.length }, push: lat(mUsers) },
      clean: { heartbeatAcks: acks('w'), ...lossOf(clean, cUsers), lost: lossDetail(clean, cUsers), push: lat(cUsers) },
      packetsDroppedByLossRule: await c.links.get('c0')!.dropped(),
      // The gateway's side of any loss: closes by close-code name over the whole run (connect phase included).
      gatewayCloses: await scrapeLabels(c.gateways[0]!.httpUrl, 'longlink_gateway_connections_closed_total'),
      pushes: { accepted: pushes.acceptedCount, lost },
    };
  } finally {
    await c.close();
  }
}

export interface PartitionOptions { partitionMs: number; clients?: number }

/**
 * 4. Gateway 0 loses its link to the backend (NATS) for longer than the
 * presence lease (3 s here); gateway 1 stays healthy. Clients come in through
 * the VIP, pushes go to everyone every 200 ms throughout.
 */
export async function gatewayPartition(o: PartitionOptions): Promise<Record<string, unknown>> {
  const n = o.clients ?? 10;
  const c = await NetnsCluster.start({ natTimeoutS: 600, gateways: 2, clientHosts: 1 });
  try {
    const host = c.clients[0]!;
    const users = Array.from({ length: n }, (_, i) => `p${i}`);
    const rec: Recipients = new Map();
    await addMany(c, host, users, c.vipUrl, { smart: false, intervalMs: 1000, timeoutMs: 1000 }, rec);
    const onGw0 = users.filter((u) => host.of(u, 'connected').at(-1)!.gateway === 'gw0');
    const pushes = new PushLoop(c, users, 200);
    await sleep(1000);
    const t0 = Date.now();
    await c.partitionGateway(0, true);
    let unreadyAfter = Number.NaN;
    const readyDuring: number[] = [];
    while (Date.now() - t0 < o.partitionMs) {
      const s = await c.readyz(0);
      readyDuring.push(s);
      if (s !== 200 && Number.isNaN(unreadyAfter)) unreadyAfter = Date.now() - t0;
      await sleep(250);
    }
    const otherReady = await c.readyz(1);
    const t1 = Date.now();
    await c.partitionGateway(0, false);
    let readyAfterHeal = Number.NaN;
    for (let i = 0; i < 200; i++) {
      if ((await c.readyz(0)) === 200) { readyAfterHeal = Date.now() - t1; break; }
      await sleep(100);
    }
    await sleep(2000);
    await pushes.stop();
    const lost = await pushes.settle(rec, 30_000);
    const moved = onGw0.filter((u) => host.of(u, 'connected').some((e) => e.t >= t0 && e.gateway !== 'gw0'));
    const stayed = onGw0.filter((u) => host.of(u, 'disconnected').every((e) => e.t < t0));
    return {
      scenario: 'gateway partitioned from the backend', partitionMs: t1 - t0, leaseMs: 3000, natsPingMs: 1000,
      clientsOnGw0: onGw0.length, clientsOnGw1: n - onGw0.length,
      gw0UnreadyAfterMs: unreadyAfter, gw0ReadyzDuring: [...new Set(readyDuring)], gw1ReadyzDuring: otherReady, gw0ReadyAfterHealMs: readyAfterHeal,
      gw0ClientsStayedConnected: stayed.length, gw0ClientsMoved: moved.length,
      pushes: { accepted: pushes.acceptedCount, refused: pushes.refused, lost },
    };
  } finally {
    await c.close();
  }
}

export interface StormOptions { hosts?: number; clientsPerHost?: number; recoverTimeoutMs?: number }

/**
 * 6. Separate client hosts, routed with their own addresses (no carrier NAT
 * in between, so the gateways see one source per host), connect through the
 * VIP to two gateways; gateway 0 is SIGKILLed; its clients come back through
 * the VIP onto gateway 1. Pushes to everyone every 250 ms throughout.
 */
export async function reconnectStorm(o: StormOptions): Promise<Record<string, unknown>> {
  const hosts = o.hosts ?? 4;
  const per = o.clientsPerHost ?? 50;
  const c = await NetnsCluster.start({ natTimeoutS: 600, gateways: 2, clientHosts: hosts, natted: false });
  try {
    const rec: Recipients = new Map();
    const users: string[] = [];
    for (const [k, host] of c.clients.entries()) {
      const us = Array.from({ length: per }, (_, i) => `s${k}-${i}`);
      users.push(...us);
      await addMany(c, host, us, c.vipUrl, { smart: false, intervalMs: 2000, timeoutMs: 2000 }, rec, { baseMs: 500, capMs: 5000, healthyAfterMs: 5000 });
    }
    const onGw0 = users.filter((u) => { const r = rec.get(u)!; return r.host.of(u, 'connected').at(-1)!.gateway === 'gw0'; });
    const adm0 = await scrapeLabels(c.gateways[1]!.httpUrl, 'longlink_gateway_admission_rejections_total');
    const pushes = new PushLoop(c, users, 250);
    await sleep(1000);
    const t0 = Date.now();
    await c.killGateway(0);
    const back = new Map<string, number>();
    const deadline = t0 + (o.recoverTimeoutMs ?? 60_000);
    while (back.size < onGw0.length && Date.now() < deadline) {
      for (const u of onGw0) {
        if (back.has(u)) continue;
        const r = rec.get(u)!;
        const e = r.host.of(u, 'connected').find((x) => x.t >= t0);
        if (e !== undefined) back.set(u, e.t - t0);
      }
      await sleep(100);
    }
    await sleep(1000);
    await pushes.stop();
    const lost = await pushes.settle(rec, 30_000);
    const adm1 = await scrapeLabels(c.gateways[1]!.httpUrl, 'longlink_gateway_admission_rejections_total');
    const perSource = c.clients.map((host, k) => {
      const refused: Record<string, number> = {};
      for (const e of host.events) {
        if (e.ev !== 'disconnected' || e.t < t0) continue;
        const m = /^HTTP (\d+)/.exec(String(e.reason ?? ''));
        if (m) refused[m[1]!] = (refused[m[1]!] ?? 0) + 1;
      }
      return { host: `100.64.${k}.2`, clientsMoved: onGw0.filter((u) => rec.get(u)!.host === host).length, refusedUpgrades: refused };
    });
    const times = [...back.values()];
    return {
      scenario: 'reconnect storm from separate client hosts', hosts, clients: users.length, onKilledGateway: onGw0.length,
      recovered: back.size, recoveryMs: { p50: percentile(times, 50), p99: percentile(times, 99), max: Math.max(...times) },
      admissionRejectionsOnSurvivor: Object.fromEntries(Object.entries(adm1).map(([k, v]) => [k, v - (adm0[k] ?? 0)])),
      perSource,
      pushes: { accepted: pushes.acceptedCount, refused: pushes.refused, lost },
    };
  } finally {
    await c.close();
  }
}
