/**
 * A real webhook receiver for tests: a node:http server that verifies every
 * delivery with the `standardwebhooks` library (the reference implementation
 * receivers use, not Longlink's signer) and records it. Its answer is
 * programmable (status per delivery), and it can stop listening to play a
 * receiver that is down.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  id: string;
  timestamp: number;
  type: string;
  body: { type: string; timestamp: string; data: Record<string, unknown> };
  /** Receiver wall time, ms. */
  at: number;
  /** What the receiver answered. */
  status: number;
}

export class WebhookReceiver {
  readonly received: Received[] = [];
  /** Deliveries that failed verification (never expected). */
  readonly rejected: string[] = [];
  /** The status (and optionally a body) to answer for a verified delivery; 200 by default. `nth`: earlier deliveries of this webhook-id. */
  answer: (r: Omit<Received, 'status'>, nth: number) => number | { status: number; body: string } = () => 200;
  private server: Server | undefined;
  private readonly verifiers: Webhook[];

  constructor(secrets: string[], private port = 0) {
    this.verifiers = secrets.map((s) => new Webhook(s));
  }

  get url(): string { return `http://127.0.0.1:${this.port}/hooks`; }

  /** Distinct webhook-ids received with a 2xx answer. */
  acceptedIds(): Set<string> {
    return new Set(this.received.filter((r) => r.status >= 200 && r.status < 300).map((r) => r.id));
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      void this.read(req).then((raw) => {
        const headers = { 'webhook-id': String(req.headers['webhook-id']), 'webhook-timestamp': String(req.headers['webhook-timestamp']), 'webhook-signature': String(req.headers['webhook-signature']) };
        let ok = false;
        for (const v of this.verifiers) {
          try { v.verify(raw, headers); ok = true; break; } catch { /* try the next secret */ }
        }
        if (!ok) {
          this.rejected.push(raw.slice(0, 200));
          res.writeHead(400).end();
          return;
        }
        const body = JSON.parse(raw) as Received['body'];
        const r = { id: headers['webhook-id'], timestamp: Number(headers['webhook-timestamp']), type: body.type, body, at: Date.now() };
        const a = this.answer(r, this.received.filter((x) => x.id === r.id).length);
        const status = typeof a === 'number' ? a : a.status;
        this.received.push({ ...r, status });
        if (typeof a === 'number') res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
        else res.writeHead(status, { 'content-type': 'application/json' }).end(a.body);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Stops listening (the port stays reserved for start() to reuse). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private read(req: IncomingMessage): Promise<string> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  }
}

/** A fresh `whsec_` secret. */
export function newSecret(): string {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return 'whsec_' + Buffer.from(b).toString('base64');
}
