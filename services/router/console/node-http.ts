/**
 * Serves the console's routes (http.ts) from a node:http server: the router
 * HTTP API hands every /console request here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConsoleHttp, ConsoleRequest } from './http.js';
import { readNodeBody } from '../http-body.js';

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
      // Over `max` reading stops there (the request is paused).
      return readNodeBody(req, max, 'pause').then((b) => (b.ok ? b.text : undefined));
    },
  };
  const r = await c.handle(request);
  if (res.headersSent || res.destroyed) return r.status;
  const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
  res.writeHead(r.status, { ...r.headers, 'content-length': body.byteLength, ...(expects && !invited ? { connection: 'close' } : {}) });
  res.end(request.method === 'HEAD' ? undefined : body);
  return r.status;
}
