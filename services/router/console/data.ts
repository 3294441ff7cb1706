/**
 * What the operator console reads and does, over the router core and the
 * store contracts only (no HTTP here): the cluster overview with a sampled
 * history of the last minutes, one user's connections and inbox, a test push
 * with its receipt, kick and logout.
 *
 * History is sampled on a timer by this router (cluster-wide gateway
 * numbers from the directory; rates from this router's own counters), so a
 * freshly opened console already shows the last minutes.
 *
 * Extension point: `panels` are extra read-only cards (label/value rows).
 * Webhooks (offline and dead-letter counts) and channels (subscriber counts)
 * plug in here once they exist; the page renders any panel without changes.
 */
import type { Clock } from '../../shared/clock.js';
import { Errors, LonglinkError } from '../../shared/errors.js';
import type { InboxSummary } from '../core/inbox.js';
import type {
  ClusterView, ControlOutcome, ControlRequest, PresenceView, PushOutcome, PushRequest, RouterStats,
} from '../core/router-types.js';

/** The part of RouterCore the console uses. */
export interface ConsoleCore {
  readonly stats: Pick<RouterStats, 'pushRequests' | 'pushes' | 'acks' | 'storeErrors' | 'busErrors' | 'controls'>;
  cluster(): Promise<ClusterView>;
  presenceOf(user: string): Promise<PresenceView>;
  control(cmd: ControlRequest): Promise<ControlOutcome>;
  push(req: PushRequest): Promise<PushOutcome>;
}

export interface PanelRow {
  label: string;
  value: number | string;
}

/** A read-only card on the overview (see the module comment). */
export interface ConsolePanel {
  id: string;
  title: string;
  read(): Promise<PanelRow[]>;
}

export interface ConsoleSources {
  core: ConsoleCore;
  inbox: { summary(user: string): Promise<InboxSummary> };
  /** Push API responses answered so far, cumulative, by HTTP status code (e.g. from the router's metrics). */
  httpStatuses?: () => Promise<ReadonlyMap<number, number>>;
  panels?: readonly ConsolePanel[];
  clock: Clock;
  mode: 'standalone' | 'cluster';
  dev: boolean;
  version: string;
  /** Default 2000 ms. */
  sampleMs?: number;
  /** Samples kept (default 300: ten minutes at 2 s). */
  historyLength?: number;
}

interface Sample {
  /** Wall ms. */
  t: number;
  /** Sum of the gateways' own connection counts (their last beacons); undefined while the directory was unreadable. */
  total: number | undefined;
  gateways: Record<string, number>;
  pushes: number;
  acks: number;
  delivered: number;
}

/** How long a test push waits for its delivery receipt. */
export const TEST_PUSH_AWAIT_MS = 5000;

export class ConsoleData {
  private readonly history: Sample[] = [];
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly sampleMs: number;
  private readonly historyLength: number;
  private sampling: Promise<void> | undefined;

  constructor(private readonly s: ConsoleSources) {
    this.sampleMs = s.sampleMs ?? 2000;
    this.historyLength = s.historyLength ?? 300;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.sampleMs);
    this.timer.unref?.();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** Takes one sample (at most one at a time). */
  sample(): Promise<void> {
    this.sampling ??= this.takeSample().finally(() => { this.sampling = undefined; });
    return this.sampling;
  }

  private async takeSample(): Promise<void> {
    const cluster = await this.s.core.cluster().catch(() => undefined);
    const gateways: Record<string, number> = {};
    for (const g of cluster?.gateways ?? []) gateways[g.gateway] = g.connections;
    const st = this.s.core.stats;
    this.history.push({
      t: this.s.clock.wallNow(),
      total: cluster ? cluster.gateways.reduce((n, g) => n + g.connections, 0) : undefined,
      gateways, pushes: st.pushRequests, acks: st.acks, delivered: st.pushes.get('delivered') ?? 0,
    });
    if (this.history.length > this.historyLength) this.history.splice(0, this.history.length - this.historyLength);
  }

  private async httpCounts(): Promise<{ http4xx: number; http5xx: number; http503: number }> {
    const out = { http4xx: 0, http5xx: 0, http503: 0 };
    const m = await this.s.httpStatuses?.().catch(() => undefined);
    for (const [code, n] of m ?? []) {
      if (code >= 400 && code < 500) out.http4xx += n;
      else if (code >= 500) out.http5xx += n;
      if (code === 503) out.http503 += n;
    }
    return out;
  }

  /** Everything the overview page shows. The gateway list is read now; the chart comes from the samples. */
  async overview(): Promise<unknown> {
    const [cluster, http, panels] = await Promise.all([
      this.s.core.cluster().then((c) => c, () => undefined),
      this.httpCounts(),
      Promise.all((this.s.panels ?? []).map(async (p) => ({ id: p.id, title: p.title, rows: await p.read().catch(() => [{ label: 'error', value: 'unavailable' }]) }))),
    ]);
    const gws = cluster?.gateways ?? [];
    const st = this.s.core.stats;
    const last = this.history.at(-1);
    const prev = this.history.at(-Math.min(this.history.length, 6));
    const rate = (k: 'pushes' | 'acks' | 'delivered'): number => {
      if (!last || !prev || last.t <= prev.t) return 0;
      return Math.round(((last[k] - prev[k]) * 1000 / (last.t - prev.t)) * 10) / 10;
    };
    return {
      now: this.s.clock.wallNow(),
      mode: this.s.mode, dev: this.s.dev, version: this.s.version, sampleMs: this.sampleMs,
      directory: cluster ? 'ok' : 'unavailable',
      connections: {
        total: gws.reduce((n, g) => n + g.connections, 0),
        gateways: gws.filter((g) => !g.draining).length,
        draining: gws.filter((g) => g.draining).length,
      },
      gateways: gws.map((g) => ({
        gateway: g.gateway, connections: g.connections, entries: g.entries, leaseAgeMs: g.ageMs, draining: g.draining,
        version: g.version ?? null, boot: g.boot,
      })),
      history: this.history.map((h) => ({ t: h.t, total: h.total ?? null, gateways: h.gateways })),
      rates: { pushesPerSec: rate('pushes'), acksPerSec: rate('acks'), deliveredPerSec: rate('delivered') },
      counters: {
        pushRequests: st.pushRequests,
        pushes: Object.fromEntries(st.pushes),
        acks: st.acks, controls: st.controls, storeErrors: st.storeErrors, busErrors: st.busErrors,
        http: { '4xx': http.http4xx, '5xx': http.http5xx, '503': http.http503 },
      },
      panels,
    };
  }

  /** A user's live connections and inbox. */
  async user(user: string): Promise<unknown> {
    const summary = this.s.inbox.summary(user).catch(() => { throw new LonglinkError(Errors.STORE_UNAVAILABLE, 'inbox'); });
    const [presence, inbox] = await Promise.all([this.s.core.presenceOf(user), summary]);
    return { ...presence, inbox };
  }

  /** A test push that waits (up to TEST_PUSH_AWAIT_MS) for the gateway's delivery receipt. */
  async testPush(user: string, data: unknown): Promise<unknown> {
    const r = await this.s.core.push({ users: [user], data, awaitMs: TEST_PUSH_AWAIT_MS });
    const res = r.results[0]!;
    return { id: r.id, user: res.user, seq: res.seq, status: res.status, connections: res.connections };
  }

  control(cmd: ControlRequest): Promise<ControlOutcome> {
    return this.s.core.control(cmd);
  }
}
