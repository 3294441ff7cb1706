/**
 * Serves the console's routes (http.ts) from a node:http server: the router
 * HTTP API hands every /console request here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConsoleHttp, ConsoleRequest } from './http.js';

/** Reads at most `max` bytes; undefined (and reading stops) past that. */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (v: string | undefined): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      resolve(v);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > max) {
        req.pause();
        done(undefined);
      } else chunks.push(c);
    };
    const onEnd = (): void => done(Buffer.concat(chunks).toString('utf8'));
    const onError = (): void => done(undefined);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * Answers one request; resolves with the status sent. A client that sent
 * `Expect: 100-continue` is invited to send its body only when the routes ask
 * for it, i.e. after the credential and headers passed; refused earlier, the
 * connection is closed (the client may or may not send the body anyway).
 */
export async function serveConsoleNode(c: ConsoleHttp, req: IncomingMessage, res: ServerResponse): Promise<number> {
  const expects = (req.headers.expect ?? '').toLowerCase() === '100-continue';
  let invited = false;
  const request: ConsoleRequest = {
    method: req.method ?? 'GET',
    path: (req.url ?? '/').split('?', 1)[0]!,
    header: (name) => {
      const h = req.headers[name];
      return Array.isArray(h) ? h.join(', ') : h;
    },
    body: (max) => {
      if (expects && !invited && !res.headersSent) {
        invited = true;
        res.writeContinue();
      }
      return readBody(req, max);
    },
  };
  const r = await c.handle(request);
  if (res.headersSent || res.destroyed) return r.status;
  const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
  res.writeHead(r.status, { ...r.headers, 'content-length': body.byteLength, ...(expects && !invited ? { connection: 'close' } : {}) });
  res.end(request.method === 'HEAD' ? undefined : body);
  return r.status;
}
