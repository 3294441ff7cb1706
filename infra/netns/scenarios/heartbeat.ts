/**
 * Scenarios 1, 2 and 5 of the real-network tests: the heartbeat against a
 * kernel carrier NAT (conntrack), on scaled time. `scale` = scaled seconds
 * per real second; conntrack counts whole seconds, so T is chosen first and
 * the SDK's settings are scaled around it.
 */
import type { ClientHost } from '../clients.js';
import { NetnsCluster } from '../cluster.js';
import { PushLoop, round, scrape, sleep, type Recipients } from './common.js';
import { heartbeatDeadlineMs } from '../../../protocol/index.js';

const FAST_BACKOFF = { baseMs: 100, capMs: 1000, healthyAfterMs: 500 };

async function addClient(c: NetnsCluster, host: ClientHost, user: string, url: string, heartbeat: Record<string, unknown>): Promise<void> {
  host.add({ id: user, url, token: await c.token(user, 'd1'), device: 'd1', heartbeat, backoff: FAST_BACKOFF });
  await host.waitEvent((e) => e.id === user && e.ev === 'connected', 20_000, `${user} connected`);
}

export interface SmartNatOptions {
  /** Carrier idle timeout (s, real). Default 3 (= 5 min at 1:100). */
  natTimeoutS?: number;
  scale?: number;
  /** Steady-state window after learning (ms, real). */
  steadyMs: number;
  learnTimeoutMs?: number;
}

/** 1. The smart heartbeat learns the real NAT's timeout and stays just below it; fixed 30 s heartbeat alongside for the rate. */
export async function smartHeartbeatThroughNat(o: SmartNatOptions): Promise<Record<string, unknown>> {
  const natS = o.natTimeoutS ?? 3;
  const scale = o.scale ?? 100;
  const hb = { minMs: 500, maxMs: 6000, stepMs: 500, marginMs: 250, successesToStep: 2, failuresToBackOff: 2, timeoutMs: 1000 };
  const c = await NetnsCluster.start({ natTimeoutS: natS, gateways: 1, clientHosts: 1 });
  try {
    const host = c.clients[0]!;
    const url = c.gateways[0]!.url;
    const t0 = Date.now();
    await addClient(c, host, 'smart', url, hb);
    await addClient(c, host, 'fixed', url, { smart: false, intervalMs: 30_000 / scale, timeoutMs: 1000 });
    const rec: Recipients = new Map([['smart', { host, id: 'smart' }], ['fixed', { host, id: 'fixed' }]]);
    const pushes = new PushLoop(c, ['smart', 'fixed'], 7000); // sparse: a push resets the idle time a probe needs
    const settled = await host.waitEvent((e) => e.id === 'smart' && e.ev === 'interval' && e.stable === true, o.learnTimeoutMs ?? 90_000, 'the smart interval to settle');
    const learnMs = settled.t - t0;
    // Pushes covered the learning (where connections die); the steady window is idle, so beats/hour mean what they say.
    await pushes.stop();
    // The stats reply comes after every event of the learning, the death that made it settle included (the SDK
    // reports that death in the same step as the settle): the window starts at this mark, not at a time.
    const s0 = await host.stats();
    const m0 = host.mark();
    const w0 = Date.now();
    await sleep(o.steadyMs);
    const s1 = await host.stats();
    const windowMs = Date.now() - w0;
    const lost = await pushes.settle(rec, 15_000);
    const beats = (id: string): number => s1.find((r) => r.id === id)!.heartbeatsSent - s0.find((r) => r.id === id)!.heartbeatsSent;
    const perScaledHour = (n: number): number => round((n / windowMs) * 3_600_000 / scale);
    const smartH = perScaledHour(beats('smart'));
    const fixedH = perScaledHour(beats('fixed'));
    return {
      scenario: 'smart heartbeat through a kernel NAT',
      natTimeoutMs: natS * 1000, scale,
      learnedMs: s1.find((r) => r.id === 'smart')!.intervalMs,
      stable: s1.find((r) => r.id === 'smart')!.stable,
      intervals: host.of('smart', 'interval').map((e) => `${String(e.reason)}:${String(e.toMs)}`),
      learnMs, deathsLearning: host.of('smart', 'disconnected').length - host.of('smart', 'disconnected', m0).length,
      steadyWindowMs: windowMs,
      steadyDisconnects: host.of('smart', 'disconnected', m0).length,
      // Every loss in full (window-relative time, close code, reason), so a failed run says why.
      disconnects: host.of('smart', 'disconnected').map((e) => ({ atMs: e.t - w0, inWindow: host.events.indexOf(e) >= m0, code: e.code, reason: e.reason, zombie: e.zombie })),
      heartbeatsPerScaledHour: { smart: smartH, fixed30s: fixedH, ratio: round(fixedH / smartH, 2) },
      fixedDisconnects: host.of('fixed', 'disconnected').length,
      pushes: { accepted: pushes.acceptedCount, lost },
    };
  } finally {
    await c.close();
  }
}

export interface ForgetOptions { intervalMs?: number; timeoutMs?: number }

/**
 * 2. The NAT forgets a mapping while the link is idle, (a) deleted from the
 * conntrack table, (b) expired (T lowered under the client's interval). The
 * client must find the zombie within interval + min(interval, timeout) and
 * resume; the gateway must close its half-open side within its deadline
 * (interval × 1.5 + grace) and presence must drop it; pushes sent into the
 * dead path must all arrive after the resume.
 */
export async function natForgetsMapping(o: ForgetOptions = {}): Promise<Record<string, unknown>> {
  const interval = o.intervalMs ?? 1500;
  const timeout = o.timeoutMs ?? 1000;
  const graceMs = 500;
  const c = await NetnsCluster.start({ natTimeoutS: 60, gateways: 1, clientHosts: 2, gatewayEnv: { LONGLINK_HB_GRACE_MS: String(graceMs) } });
  try {
    const [host, cutHost] = [c.clients[0]!, c.clients[1]!];
    const gw = c.gateways[0]!;
    const rec: Recipients = new Map([['u', { host, id: 'u' }]]);
    const heartbeat = { smart: false, intervalMs: interval, timeoutMs: timeout };
    await addClient(c, host, 'u', gw.url, heartbeat);
    const results: Record<string, unknown>[] = [];
    for (const how of ['deleted', 'expired'] as const) {
      // 'h' on its own host is cut off right after the NAT forgets it, so it cannot resume:
      // its gateway side stays half-open, and only the gateway's deadline can close it.
      const h = `h-${how}`;
      await addClient(c, cutHost, h, gw.url, heartbeat);
      const conn = host.of('u', 'connected').at(-1)!.conn as string;
      const hConn = cutHost.of(h, 'connected').at(-1)!.conn as string;
      const from = host.events.length;
      const timeouts0 = await scrape(gw.httpUrl, 'longlink_gateway_heartbeat_timeouts_total');
      await sleep(interval / 4);
      const tForget = Date.now();
      if (how === 'deleted') {
        if ((await c.forget(0)) === 0 || (await c.forget(1)) === 0) throw new Error('the NAT had no flow to forget');
      } else {
        // T drops to 1 s while the clients beat every 1.5 s: the mappings expire while idle.
        await c.setNatTimeout(1);
      }
      await c.links.get('c1')!.setCut(true);
      const pushes = new PushLoop(c, ['u'], 0);
      await pushes.stop();
      const lostEv = await host.waitEvent((e) => e.id === 'u' && e.ev === 'disconnected', 10_000, 'the zombie', from);
      if (how === 'expired') await c.setNatTimeout(60);
      const back = await host.waitEvent((e) => e.id === 'u' && e.ev === 'connected', 15_000, 'the resume', from);
      const lost = await pushes.settle(rec, 10_000);
      // A push to the cut-off user once its mapping is gone: the gateway's write reaches the NAT,
      // which must drop it (INVALID in INPUT), not answer with a reset that would close it early.
      await sleep(Math.max(0, tForget + 1200 - Date.now()));
      const toHalfOpen = await c.push([h], { n: -1, sentAt: Date.now() });
      let gone = Number.NaN;
      for (let i = 0; i < 100; i++) {
        if (!(await c.presence(h)).some((p) => p.conn === hConn)) { gone = Date.now() - tForget; break; }
        await sleep(50);
      }
      const timeouts1 = await scrape(gw.httpUrl, 'longlink_gateway_heartbeat_timeouts_total');
      await c.links.get('c1')!.setCut(false);
      cutHost.close(h);
      const lastSign = host.events.slice(0, host.events.indexOf(lostEv)).filter((e) => e.id === 'u' && (e.ev === 'ack' || e.ev === 'push' || e.ev === 'connected')).at(-1)!;
      results.push({
        how, detectMs: lostEv.t - tForget, sinceLastFrameMs: lostEv.t - lastSign.t, zombie: lostEv.zombie, resumed: back.resumed, resumeMs: back.t - tForget,
        oldConnReplacedByResume: !(await c.presence('u')).some((p) => p.conn === conn),
        halfOpenPushStatus: toHalfOpen.status,
        gatewayHeartbeatTimeouts: timeouts1 - timeouts0, halfOpenClosedAfterMs: gone, pushesIntoDeadPath: pushes.acceptedCount, lost,
      });
    }
    return {
      scenario: 'the NAT forgets a mapping', intervalMs: interval, clientTimeoutMs: timeout,
      clientBoundMs: interval + Math.min(interval, timeout), gatewayDeadlineMs: heartbeatDeadlineMs(interval, graceMs), cases: results,
    };
  } finally {
    await c.close();
  }
}

export interface BelowMinOptions { holdMs: number; learnTimeoutMs?: number }

/**
 * 5. A carrier NAT that forgets idle mappings after 2 minutes while the SDK's
 * minimum is Mars' 3.5 minutes, at 1:60 (T = 2 s, min 3.5 s, step 1 s, margin
 * 1/3 s, timeout 1 s; the gateway allows 0.5 s = 30 s). The SDK must descend
 * below its minimum and then stay connected.
 */
export async function natBelowMinimum(o: BelowMinOptions): Promise<Record<string, unknown>> {
  const hb = { minMs: 3500, maxMs: 10_000, stepMs: 1000, marginMs: 333, successesToStep: 5, failuresToBackOff: 2, timeoutMs: 1000 };
  const c = await NetnsCluster.start({ natTimeoutS: 2, gateways: 1, clientHosts: 1, gatewayEnv: { LONGLINK_HB_MIN_MS: '500' } });
  try {
    const host = c.clients[0]!;
    const rec: Recipients = new Map([['u', { host, id: 'u' }]]);
    const t0 = Date.now();
    await addClient(c, host, 'u', c.gateways[0]!.url, hb);
    const pushes = new PushLoop(c, ['u'], 7000); // sparse: a push resets the idle time a probe needs
    const settled = await host.waitEvent((e) => e.id === 'u' && e.ev === 'interval' && e.stable === true, o.learnTimeoutMs ?? 120_000, 'the interval to settle');
    // As in scenario 1: the hold starts after the death that made it settle, by the event stream's order.
    await host.stats();
    const m0 = host.mark();
    const w0 = Date.now();
    await sleep(o.holdMs);
    await pushes.stop();
    const lost = await pushes.settle(rec, 15_000);
    const st = (await host.stats())[0]!;
    return {
      scenario: 'NAT timeout below the SDK minimum', scale: 60, natTimeoutMs: 2000, sdkMinMs: hb.minMs, serverMinMs: 500,
      intervals: host.of('u', 'interval').map((e) => `${String(e.reason)}:${String(e.toMs)}`),
      learnedMs: st.intervalMs, stable: st.stable, convergeMs: settled.t - t0, deathsLearning: host.of('u', 'disconnected').length - host.of('u', 'disconnected', m0).length,
      holdMs: Date.now() - w0, disconnectsAfter: host.of('u', 'disconnected', m0).length, state: st.state,
      disconnects: host.of('u', 'disconnected').map((e) => ({ atMs: e.t - w0, inWindow: host.events.indexOf(e) >= m0, code: e.code, reason: e.reason, zombie: e.zombie })),
      pushes: { accepted: pushes.acceptedCount, lost },
    };
  } finally {
    await c.close();
  }
}
