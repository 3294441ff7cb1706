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

function serve(c: ConsoleHttp, res: HttpResponse, req: HttpRequest): void {
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  const method = req.getMethod().toUpperCase();
  const path = req.getUrl();
  const headers = new Map<string, string>();
  req.forEach((k, v) => headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v));

  const chunks: Buffer[] = [];
  let size = 0;
  let ended = false;
  let waiter: (() => void) | undefined;
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

  const request: ConsoleRequest = {
    method, path,
    header: (name) => headers.get(name),
    body: async (max) => {
      if (!ended) await new Promise<void>((resolve) => { waiter = resolve; });
      return size > max ? undefined : Buffer.concat(chunks).toString('utf8');
    },
  };
  void c.handle(request).then((r) => {
    if (aborted) return;
    res.cork(() => {
      res.writeStatus(statusLine(r.status));
      for (const [k, v] of Object.entries(r.headers)) res.writeHeader(k, v);
      if (method === 'HEAD') res.endWithoutBody(typeof r.body === 'string' ? Buffer.byteLength(r.body) : r.body.byteLength);
      else res.end(r.body);
    });
  });
}

export function mountConsoleUws(app: TemplatedApp, c: ConsoleHttp): void {
  app.any('/console', (res, req) => serve(c, res, req));
  app.any('/console/*', (res, req) => serve(c, res, req));
}
