/**
 * Reaching services inside namespaces from the test's own namespace: one
 * bridge process per namespace (bridge.ts) listens on a Unix socket; here a
 * loopback TCP listener per forwarded target pipes each connection into it,
 * preceded by a line naming the target. Plain http://127.0.0.1:<port> URLs
 * then work for fetch, Prometheus-style scrapes, anything.
 */
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Netns, NsProcess } from './netns.js';

const BRIDGE = fileURLToPath(new URL('./bridge.js', import.meta.url));

export class Forwarder {
  private readonly bridges = new Map<string, { proc: NsProcess; sock: string }>();
  private readonly servers: net.Server[] = [];
  private readonly conns = new Set<net.Socket>();

  constructor(private readonly net0: Netns) {}

  private async bridge(host: string): Promise<string> {
    const b = this.bridges.get(host);
    if (b) return b.sock;
    const sock = path.join(tmpdir(), `${this.net0.run}-${host}.sock`);
    const proc = this.net0.spawnNode(host, BRIDGE, {}, [sock], `${host}:bridge`);
    this.bridges.set(host, { proc, sock });
    await proc.waitFor(/bridge ready/, 15_000);
    return sock;
  }

  /** A loopback port in the test's namespace that reaches `target` (host:port) as seen from inside `host`. */
  async forward(host: string, target: string): Promise<number> {
    const sock = await this.bridge(host);
    const server = net.createServer((c) => {
      const u = net.connect(sock);
      this.conns.add(c);
      c.on('close', () => this.conns.delete(c));
      u.write(`${target}\n`);
      c.pipe(u);
      u.pipe(c);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
      c.on('close', () => u.destroy());
      u.on('close', () => c.destroy());
    });
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', () => resolve()); });
    return (server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const b of this.bridges.values()) await b.proc.stop(3000).catch(() => undefined);
  }
}
