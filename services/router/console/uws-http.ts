/**
 * Serves the console's routes (http.ts) from a uWebSockets.js app:
 * `mountConsoleUws(app, console)` adds `/console` and `/console/*`.
 *
 * uWS rules followed here: request headers are read before the handler
 * returns (the request object dies with it), an aborted response is never
 * written, and writes are corked. The body is buffered as it arrives (up to
 * a cap, the rest dropped) and handed over only after the routes checked the
 * credential.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { ConsoleHttp, ConsoleRequest } from './http.js';
import { statusLine } from '../../shared/errors.js';

const BUFFER_CAP = 64 * 1024;

/** Answers one console request (the router API's uWS adapter hands /console requests here); resolves with the status sent. */
export function serveConsoleUws(c: ConsoleHttp, res: HttpResponse, req: HttpRequest): Promise<number> {
  const chunks: Buffer[] = [];
  let size = 0;
  let ended = false;
  let waiter: (() => void) | undefined;
  let aborted = false;
  // Wakes a body wait too: a client that left mid-body would otherwise leave the request (and its buffer) pending forever.
  res.onAborted(() => { aborted = true; chunks.length = 0; waiter?.(); });
  const method = req.getMethod().toUpperCase();
  const path = req.getUrl();
  const headers = new Map<string, string>();
  req.forEach((k, v) => headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v));

  if (method !== 'GET' && method !== 'HEAD') {
    res.onData((ab, isLast) => {
      if (size <= BUFFER_CAP) {
        size += ab.byteLength;
        // uWS reuses the ArrayBuffer after this callback: copy.
        if (size <= BUFFER_CAP) chunks.push(Buffer.from(ab.slice(0)));
      }
      if (isLast) {
        ended = true;
        waiter?.();
      }
    });
  } else ended = true;

  // uWS answers `Expect: 100-continue` itself before any handler runs: a request refused before its body was asked for gets its connection closed (the body is not read).
  const expects = (headers.get('expect') ?? '').toLowerCase() === '100-continue';
  let claimed = false;
  const request: ConsoleRequest = {
    method, path,
    header: (name) => headers.get(name),
    body: async (max) => {
      claimed = true;
      if (!ended && !aborted) await new Promise<void>((resolve) => { waiter = resolve; });
      // Cut off before its last byte: handled as refused (no one reads the answer), never acted on in part.
      if (aborted && !ended) return undefined;
      return size > max ? undefined : Buffer.concat(chunks).toString('utf8');
    },
  };
  return c.handle(request).then((r) => {
    if (aborted) return r.status;
    res.cork(() => {
      res.writeStatus(statusLine(r.status));
      for (const [k, v] of Object.entries(r.headers)) res.writeHeader(k, v);
      const close = expects && !claimed;
      if (method === 'HEAD') res.endWithoutBody(typeof r.body === 'string' ? Buffer.byteLength(r.body) : r.body.byteLength, close);
      else res.end(r.body, close);
    });
    return r.status;
  }, () => {
    if (!aborted) res.cork(() => { res.writeStatus(statusLine(500)).end(); });
    return 500;
  });
}

export function mountConsoleUws(app: TemplatedApp, c: ConsoleHttp): void {
  app.any('/console', (res, req) => void serveConsoleUws(c, res, req));
  app.any('/console/*', (res, req) => void serveConsoleUws(c, res, req));
}
