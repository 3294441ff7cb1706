/**
 * A Longlink cluster on a real network of namespaces:
 *
 *   c0 … cN ──(100.64.k.0/24)── nat ──(198.18.i.0/24)── gw0 … gwM ──(198.19.i.0/24)── be
 *   client hosts                carrier NAT              gateways                  NATS, Redis, router
 *
 * - Client hosts run SDK clients (clients.ts). Their default route is the NAT.
 * - The carrier NAT masquerades natted client hosts behind its address on each
 *   gateway link, with `nf_conntrack_tcp_timeout_established` = the carrier's
 *   idle timeout, `nf_conntrack_tcp_loose` = 0 (a mid-stream packet of a
 *   forgotten flow is never picked up again) and INVALID/UNTRACKED dropped in
 *   FORWARD *and* INPUT (a forgotten flow's packets addressed to the NAT itself
 *   would otherwise make its own stack answer with a RST, which no carrier NAT
 *   does). So an expired mapping blackholes, both ways. Client hosts created
 *   with `natted: false` are routed with their own addresses (a storm from many
 *   sources).
 * - The NAT namespace also holds the gateways' virtual IP (198.18.255.1:8080):
 *   DNAT spread at random over the live gateways, kube-proxy style, updated
 *   when a gateway is killed or started.
 * - Gateways reach NATS over their own link to the backend; cutting it is a
 *   partition of that gateway only.
 * - The test process stays in its own namespace and reaches the router API
 *   and the gateways' HTTP endpoints through forward.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '../../services/standalone/dev-token.js';
import { apiCall } from '../local/api-call.js';
import { natsServerBinary } from '../local/nats.js';
import { ClientHost } from './clients.js';
import { Forwarder } from './forward.js';
import { Netns, type NsProcess } from './netns.js';
import { ShapedLink, type Shape } from './shaping.js';

export const NETNS_SECRET = 'netns-test-secret-0123456789-0123456789';
export const NETNS_API_KEY = 'netns-api-key-0123456789';
export const VIP = '198.18.255.1';
const GW_PORT = 8080;
const API_PORT = 8081;
const dist = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));

export interface NetnsClusterOptions {
  gateways?: number;
  /** Client hosts behind the carrier NAT (c0…). */
  clientHosts?: number;
  /** false: client hosts keep their own addresses (routed, not masqueraded). Default true. */
  natted?: boolean;
  /** The carrier NAT's idle timeout for established TCP (whole seconds: conntrack's unit). */
  natTimeoutS: number;
  gatewayEnv?: Record<string, string>;
  routerEnv?: Record<string, string>;
}

export interface NetnsGateway {
  readonly index: number;
  readonly host: string;
  /** ws://198.18.i.2:8080/ws: straight to this gateway (through the NAT from a client host). */
  readonly url: string;
  /** http://127.0.0.1:<forwarded>: /readyz, /metrics from the test process. */
  httpUrl: string;
  proc: NsProcess;
}

export class NetnsCluster {
  readonly gateways: NetnsGateway[] = [];
  readonly clients: ClientHost[] = [];
  readonly links = new Map<string, ShapedLink>();
  private readonly fwd: Forwarder;
  private backend: NsProcess[] = [];
  private apiBase = '';
  private readonly dataDir = mkdtempSync(path.join(tmpdir(), 'llnet-'));

  private constructor(readonly net: Netns, readonly o: NetnsClusterOptions) {
    this.fwd = new Forwarder(net);
  }

  static async start(o: NetnsClusterOptions): Promise<NetnsCluster> {
    const net = await Netns.create();
    const c = new NetnsCluster(net, o);
    try {
      await c.build();
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  get apiUrl(): string { return this.apiBase; }
  /** Clients connect here to land on any live gateway. */
  get vipUrl(): string { return `ws://${VIP}:${GW_PORT}/ws`; }

  private async build(): Promise<void> {
    const { net } = this;
    const nGw = this.o.gateways ?? 1;
    const nC = this.o.clientHosts ?? 1;
    await net.addHost('be');
    await net.addHost('nat');
    await net.sysctl('nat', 'net.ipv4.ip_forward', 1);
    // Conntrack is per namespace: these apply to the NAT host only, never the machine's own namespace.
    await net.iptables('nat', '-A', 'FORWARD', '-m', 'conntrack', '--ctstate', 'INVALID,UNTRACKED', '-j', 'DROP');
    await net.iptables('nat', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'INVALID,UNTRACKED', '-j', 'DROP');
    await net.iptables('nat', '-t', 'nat', '-N', 'LL-VIP');
    await net.iptables('nat', '-t', 'nat', '-A', 'PREROUTING', '-d', VIP, '-p', 'tcp', '--dport', String(GW_PORT), '-j', 'LL-VIP');
    await net.sysctl('nat', 'net.netfilter.nf_conntrack_tcp_loose', 0);
    await this.setNatTimeout(this.o.natTimeoutS);
    for (let i = 0; i < nGw; i++) {
      const h = `gw${i}`;
      await net.addHost(h);
      await net.link({ host: 'nat', addr: `198.18.${i}.1` }, { host: h, addr: `198.18.${i}.2` });
      await net.link({ host: h, addr: `198.19.${i}.2` }, { host: 'be', addr: `198.19.${i}.1` });
      await net.ip(h, 'route', 'add', '100.64.0.0/16', 'via', `198.18.${i}.1`);
      await net.iptables(h, '-N', 'LL-CUT');
      await net.iptables(h, '-A', 'INPUT', '-j', 'LL-CUT');
      await net.iptables(h, '-A', 'OUTPUT', '-j', 'LL-CUT');
    }
    for (let k = 0; k < nC; k++) await this.addClientHost();
    await this.startBackend();
    for (let i = 0; i < nGw; i++) await this.startGateway(i);
  }

  /** The carrier's idle timeout, changed at run time (a network switch). Live mappings get it at their next packet. */
  async setNatTimeout(seconds: number): Promise<void> {
    if (!Number.isInteger(seconds) || seconds < 1) throw new RangeError('natTimeoutS: whole seconds >= 1 (conntrack counts seconds)');
    await this.net.sysctl('nat', 'net.netfilter.nf_conntrack_tcp_timeout_established', seconds);
    const got = await this.net.readSysctl('nat', 'net.netfilter.nf_conntrack_tcp_timeout_established');
    if (Number(got) !== seconds) throw new Error(`conntrack timeout did not apply inside the NAT namespace (reads ${got})`);
  }

  async addClientHost(): Promise<ClientHost> {
    const k = this.clients.length;
    const h = `c${k}`;
    await this.net.addHost(h);
    const { bIf } = await this.net.link({ host: h, addr: `100.64.${k}.2` }, { host: 'nat', addr: `100.64.${k}.1` });
    await this.net.ip(h, 'route', 'add', 'default', 'via', `100.64.${k}.1`);
    if (this.o.natted !== false) await this.net.iptables('nat', '-t', 'nat', '-A', 'POSTROUTING', '-s', `100.64.${k}.0/24`, '-j', 'MASQUERADE');
    const link = new ShapedLink(this.net, 'nat', bIf, 2 * k);
    await link.install();
    this.links.set(h, link);
    const ch = await ClientHost.start(this.net, h);
    this.clients.push(ch);
    return ch;
  }

  private async startBackend(): Promise<void> {
    const nats = this.net.spawn('be', [natsServerBinary(), '-a', '0.0.0.0', '-p', '4222'], {}, 'be:nats');
    this.backend.push(nats);
    await nats.waitFor(/Server is ready/, 20_000);
    const redis = this.net.spawn('be', ['redis-server', '--port', '6379', '--bind', '0.0.0.0', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', this.dataDir], {}, 'be:redis');
    this.backend.push(redis);
    await redis.waitFor(/Ready to accept connections/, 20_000);
    const router = this.net.spawnNode('be', dist('services/router/main.js'), {
      LONGLINK_API_HOST: '0.0.0.0', LONGLINK_API_PORT: String(API_PORT), LONGLINK_API_KEYS: NETNS_API_KEY,
      LONGLINK_NATS_URLS: 'nats://127.0.0.1:4222', LONGLINK_REDIS_URL: 'redis://127.0.0.1:6379', LONGLINK_LOG_LEVEL: 'warn',
      LONGLINK_GATEWAY_LEASE_MS: '3000', LONGLINK_NATS_PING_INTERVAL_MS: '1000',
      ...this.o.routerEnv,
    }, [], 'be:router');
    this.backend.push(router);
    await router.waitFor(/router listening on http:\/\/\S+ /, 30_000);
    this.apiBase = `http://127.0.0.1:${await this.fwd.forward('be', `127.0.0.1:${API_PORT}`)}`;
  }

  async startGateway(i: number): Promise<NetnsGateway> {
    const host = `gw${i}`;
    const proc = this.net.spawnNode(host, dist('services/gateway/main.js'), {
      LONGLINK_GATEWAY_HOST: '0.0.0.0', LONGLINK_GATEWAY_PORT: String(GW_PORT), LONGLINK_GATEWAY_ID: host,
      LONGLINK_NATS_URLS: `nats://198.19.${i}.1:4222`, LONGLINK_JWT_SECRET: NETNS_SECRET, LONGLINK_LOG_LEVEL: 'warn',
      LONGLINK_BEACON_INTERVAL_MS: '500', LONGLINK_WHEEL_TICK_MS: '50', LONGLINK_NATS_PING_INTERVAL_MS: '1000',
      LONGLINK_HB_MIN_MS: '200', LONGLINK_HB_MAX_MS: '3600000', LONGLINK_HB_DEFAULT_MS: '1000', LONGLINK_HB_GRACE_MS: '500',
      LONGLINK_DRAIN_WINDOW_MS: '0', LONGLINK_DRAIN_RECONNECT_JITTER_MS: '0', LONGLINK_SHUTDOWN_TIMEOUT_MS: '5000',
      ...this.o.gatewayEnv,
    }, [], `${host}:gateway`);
    await proc.waitFor(/listening on ws:\/\/\S+\/ws/, 30_000);
    const existing = this.gateways[i];
    const g: NetnsGateway = existing ?? { index: i, host, url: `ws://198.18.${i}.2:${GW_PORT}/ws`, httpUrl: '', proc };
    g.proc = proc;
    if (g.httpUrl === '') g.httpUrl = `http://127.0.0.1:${await this.fwd.forward(host, `127.0.0.1:${GW_PORT}`)}`;
    this.gateways[i] = g;
    await this.syncVip();
    return g;
  }

  /** SIGKILL (no drain): its clients' sockets are reset by the dying host's stack, the VIP stops choosing it. */
  async killGateway(i: number): Promise<void> {
    const g = this.gateways[i]!;
    g.proc.kill('SIGKILL');
    await g.proc.exited(10_000);
    await this.syncVip();
  }

  /** Rebuilds the VIP's DNAT over the live gateways: rule j of n matches with probability 1/(n−j) (uniform overall). */
  private async syncVip(): Promise<void> {
    const live = this.gateways.filter((g) => g.proc.running);
    await this.net.iptables('nat', '-t', 'nat', '-F', 'LL-VIP');
    for (const [j, g] of live.entries()) {
      const rest = live.length - j;
      const m = rest > 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', (1 / rest).toFixed(6)] : [];
      await this.net.iptables('nat', '-t', 'nat', '-A', 'LL-VIP', ...m, '-p', 'tcp', '-j', 'DNAT', '--to-destination', `198.18.${g.index}.2:${GW_PORT}`);
    }
  }

  /** Cuts (or heals) gateway i's link to the backend: NATS and everything else on it vanish silently. */
  async partitionGateway(i: number, cut: boolean): Promise<void> {
    const h = `gw${i}`;
    await this.net.iptables(h, '-F', 'LL-CUT');
    if (cut) {
      await this.net.iptables(h, '-A', 'LL-CUT', '-i', 'v-be', '-j', 'DROP');
      await this.net.iptables(h, '-A', 'LL-CUT', '-o', 'v-be', '-j', 'DROP');
    }
  }

  /** Delay, jitter and loss on client host k's link (applied at the NAT, both directions). */
  shape(k: number, s: Shape): Promise<void> { return this.links.get(`c${k}`)!.set(s); }

  /** The NAT's tracked TCP flows from client host k (conntrack -L). */
  async natFlows(k?: number): Promise<string[]> {
    const args = ['-L', '-p', 'tcp', ...(k !== undefined ? ['-s', `100.64.${k}.2`] : [])];
    const out = await this.net.exec('nat', 'conntrack', ...args).catch((err: Error) => (/0 flow entries/.test(err.message) ? '' : Promise.reject(err)));
    return out.split('\n').filter((l) => l.startsWith('tcp'));
  }

  /** Makes the NAT forget client host k's mappings now (as an expiry would), without telling either end. */
  async forget(k: number): Promise<number> {
    const before = (await this.natFlows(k)).length;
    await this.net.exec('nat', 'conntrack', '-D', '-p', 'tcp', '-s', `100.64.${k}.2`).catch(() => '');
    return before;
  }

  token(user: string, device?: string): Promise<string> {
    return mintToken(NETNS_SECRET, user, { ttlSeconds: 3600, ...(device !== undefined ? { device } : {}) });
  }

  api(method: string, p: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    return apiCall(this.apiBase, NETNS_API_KEY, method, p, body);
  }

  push(users: string[], data: unknown): Promise<{ status: number; body: unknown }> {
    return this.api('POST', '/v1/push', { users, data });
  }

  async presence(user: string): Promise<Array<{ conn: string; gateway: string }>> {
    const r = await this.api('GET', `/v1/presence/${encodeURIComponent(user)}`);
    return (r.body as { connections?: Array<{ conn: string; gateway: string }> }).connections ?? [];
  }

  async readyz(i: number): Promise<number> {
    const res = await fetch(`${this.gateways[i]!.httpUrl}/readyz`, { signal: AbortSignal.timeout(5000) });
    await res.text();
    return res.status;
  }

  async close(): Promise<void> {
    for (const c of this.clients) await c.stop().catch(() => undefined);
    for (const l of this.links.values()) await l.close();
    for (const g of this.gateways) await g?.proc.stop(8000).catch(() => undefined);
    for (const p of this.backend.reverse()) await p.stop(5000).catch(() => undefined);
    await this.fwd.close();
    await this.net.destroy();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
