/**
 * A protocol-level WebSocket test client (real `ws` socket): connects with a
 * token, records every decoded frame, and lets a test wait for frames and
 * for the close.
 */
import WebSocket from 'ws';
import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, decodeServerFrame, type ServerFrame } from '../../protocol/index.js';

export interface Upgraded {
  ok: true;
  client: TestClient;
}
export interface Refused {
  ok: false;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export class TestClient {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  /** Client-side socket error (protocol violation seen by `ws`, reset…), if any. */
  error: Error | undefined;
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary) => {
      const d = decodeServerFrame(isBinary ? new Uint8Array(data) : data.toString('utf8'), isBinary);
      if (!d.ok) throw new Error(`undecodable server frame: ${d.reason}`);
      this.frames.push(d.frame);
      this.wake();
    });
    ws.on('error', (err) => { this.error = err; });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `pred` holds (checked after every frame/close), or rejects after timeoutMs. */
  until<T>(pred: () => T | undefined | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; frames: ${JSON.stringify(this.frames.map((f) => f.op))}, closed: ${JSON.stringify(this.closed)}, error: ${this.error?.message ?? 'none'}`)), timeoutMs);
      const check = (): void => {
        const v = pred();
        if (v !== undefined && v !== false) { clearTimeout(timer); resolve(v); }
        else this.waiters.push(check);
      };
      check();
    });
  }

  frame<K extends ServerFrame['op']>(op: K, index = 0, timeoutMs = 5000): Promise<Extract<ServerFrame, { op: K }>> {
    return this.until(() => this.frames.filter((f) => f.op === op)[index] as Extract<ServerFrame, { op: K }> | undefined, timeoutMs, `${op}[${index}]`);
  }

  closeEvent(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return this.until(() => this.closed, timeoutMs, 'close');
  }

  send(data: Uint8Array | string): void {
    this.ws.send(data, { binary: typeof data !== 'string' });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

/** Opens a connection; resolves with the client once open, or with the HTTP refusal. */
export function connect(url: string, opts: { token?: string; query?: Record<string, string>; protocols?: string[]; localAddress?: string } = {}): Promise<Upgraded | Refused> {
  const u = new URL(url);
  for (const [k, v] of Object.entries(opts.query ?? {})) u.searchParams.set(k, v);
  const protocols = opts.protocols ?? [SUBPROTOCOL, ...(opts.token !== undefined ? [TOKEN_SUBPROTOCOL_PREFIX + opts.token] : [])];
  const ws = new WebSocket(u, protocols, opts.localAddress ? { localAddress: opts.localAddress } : {});
  const client = new TestClient(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ok: true, client }));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        // With this listener ws leaves the socket open: release it, as a client that gave up would.
        req.destroy();
        resolve({ ok: false, status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    ws.once('error', (err) => reject(err));
  });
}

export async function mustConnect(url: string, opts: Parameters<typeof connect>[1] = {}): Promise<TestClient> {
  const r = await connect(url, opts);
  if (!r.ok) throw new Error(`upgrade refused: ${r.status} ${r.body}`);
  return r.client;
}
