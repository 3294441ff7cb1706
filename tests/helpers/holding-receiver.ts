/**
 * A plain node:http webhook receiver for upstream-request tests: answers
 * `{"ok":true}` at once unless the body contains "hold"; held requests stay
 * open (counted in `open`) until the client side gives up on them.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export class HoldingReceiver {
  open = 0;
  received = 0;
  private readonly held = new Set<ServerResponse>();
  private server: Server | undefined;
  url = '';
  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => { body += d.toString(); });
      req.on('end', () => {
        this.received++;
        if (!body.includes('"hold"')) { res.end('{"ok":true}'); return; }
        this.open++;
        this.held.add(res);
        res.on('close', () => { this.open--; this.held.delete(res); });
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }
  async stop(): Promise<void> {
    for (const r of this.held) r.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

