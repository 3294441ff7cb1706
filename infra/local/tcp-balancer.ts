/**
 * A round-robin TCP load balancer for local clusters and tests: what a
 * Kubernetes Service does in front of the gateway pods. Each new client
 * connection goes to the next backend; a backend that refuses the connection
 * is skipped (tried in turn) so clients reach a live gateway after one dies.
 * Backends can be added and removed at run time.
 */
import net from 'node:net';

export interface Backend {
  host: string;
  port: number;
}

export interface TcpBalancer {
  readonly port: number;
  readonly host: string;
  setBackends(backends: Backend[]): void;
  /** Connections currently proxied, per backend "host:port". */
  active(): Map<string, number>;
  close(): Promise<void>;
}

export async function startTcpBalancer(backends: Backend[], opts: { host?: string; port?: number } = {}): Promise<TcpBalancer> {
  let list = [...backends];
  let next = 0;
  const active = new Map<string, number>();
  const sockets = new Set<net.Socket>();

  const connect = (client: net.Socket, attempt: number): void => {
    if (list.length === 0 || attempt >= list.length) { client.destroy(); return; }
    const b = list[next++ % list.length]!;
    const key = `${b.host}:${b.port}`;
    const upstream = net.connect({ host: b.host, port: b.port });
    sockets.add(upstream);
    let established = false;
    upstream.once('connect', () => {
      established = true;
      active.set(key, (active.get(key) ?? 0) + 1);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', () => {
      if (!established) { sockets.delete(upstream); connect(client, attempt + 1); return; }
      client.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      if (established) { active.set(key, (active.get(key) ?? 1) - 1); client.destroy(); }
    });
    client.on('close', () => upstream.destroy());
    client.on('error', () => upstream.destroy());
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    connect(client, 0);
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    host,
    setBackends(b) { list = [...b]; },
    active: () => new Map(active),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
