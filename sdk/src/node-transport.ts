/**
 * Transport adapter over the `ws` package, for Node. Node-only: imported by
 * the node entry (node.ts), never by the browser entry.
 *
 * Unlike a browser, `ws` lets us see a refused upgrade: on 'unexpected-response'
 * we read the status, Retry-After and the JSON error code (body capped at
 * 4 KiB), then abort, and report them in `onClose`.
 */
import WebSocket from 'ws';
import type { IncomingMessage } from 'node:http';
import { refusalWait } from './backoff.js';
import type { CloseInfo, TransportFactory } from './transport.js';

export interface NodeTransportOptions {
  /** Passed to `ws`: extra request headers (e.g. a User-Agent). */
  headers?: Record<string, string>;
  /** Local address to bind (load tests spreading over 127.0.0.0/8). */
  localAddress?: string;
}

const MAX_BODY = 4096;

function readErrorCode(res: IncomingMessage, done: (code: string | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    let code: string | undefined;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code?: unknown } };
      if (typeof body.error?.code === 'string') code = body.error.code;
    } catch { /* not our JSON: no code */ }
    done(code);
  };
  // A server that never finishes the body must not hold the reconnect hostage.
  const timer = setTimeout(finish, 2000);
  res.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
    else finish();
  });
  res.on('end', finish);
  res.on('error', finish);
  res.on('close', finish);
}

export function nodeWsTransport(opts: NodeTransportOptions = {}): TransportFactory {
  return (url, protocols, h) => {
    const ws = new WebSocket(url, protocols, {
      perMessageDeflate: false,
      ...(opts.headers ? { headers: opts.headers } : {}),
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    let closed = false;
    let http: Pick<CloseInfo, 'httpStatus' | 'retryAfterMs' | 'retryAfterExact' | 'errorCode'> | undefined;
    const finish = (info: CloseInfo): void => {
      if (closed) return;
      closed = true;
      ws.removeAllListeners('open');
      ws.removeAllListeners('message');
      h.onClose(http ? { ...info, ...http } : info);
    };
    ws.on('open', () => { if (!closed) h.onOpen(ws.protocol); });
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (closed) return;
      const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      h.onMessage(bytes, isBinary);
    });
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      const first = (h: string | string[] | undefined): string | undefined => (Array.isArray(h) ? h[0] : h);
      const wait = refusalWait(first(res.headers['retry-after']), first(res.headers['retry-after-ms']), Date.now());
      readErrorCode(res, (errorCode) => {
        http = { httpStatus: status, ...(wait ?? {}), ...(errorCode !== undefined ? { errorCode } : {}) };
        ws.terminate();
      });
    });
    ws.on('close', (code: number, reason: Buffer) => finish({ code, reason: reason.toString('utf8') }));
    // 'error' is always followed by 'close'; the listener only keeps it from throwing.
    ws.on('error', () => {});
    return {
      send: (data) => { if (!closed && ws.readyState === WebSocket.OPEN) ws.send(data); },
      close: (code, reason) => { if (ws.readyState === WebSocket.CONNECTING) ws.terminate(); else ws.close(code, reason); },
      terminate: () => {
        ws.terminate();
        // terminate() emits 'close' asynchronously; report at once so the caller's state is not left waiting.
        finish({ code: 1006, reason: 'terminated' });
      },
    };
  };
}
