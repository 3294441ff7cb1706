/**
 * The router HTTP API on node:http: adapts IncomingMessage/ServerResponse to
 * the request interface of http-body.ts. `Expect: 100-continue` is answered
 * here, when the handling asks for the body (every check before it passed);
 * a request refused earlier gets `Connection: close` and no 100 Continue.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Errors, portTaken } from '../shared/errors.js';
import { consoleRoute } from './console/http.js';
import { serveConsoleNode } from './console/node-http.js';
import { declaredTooLarge, discardNodeBody, fail, JSON_TYPE, readNodeBody, tooLarge, type ApiHandler, type ApiRequest, type Body, type Reply } from './http-body.js';
import type { ListenOptions, RouterHttp } from './http-api.js';

const TRACE_HEADERS = ['traceparent', 'tracestate'] as const;

/** The listen errors that are LL_PORT_TAKEN, as on the uWS listeners (listenExclusive), with the cause node:http knows. */
const PORT_TAKEN_CAUSES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'another process holds the port (which one is unknown)',
  EADDRNOTAVAIL: 'the address is not this machine\'s',
};

function request(req: IncomingMessage, res: ServerResponse, state: { invited: boolean }, expects: boolean): ApiRequest {
  const header = (name: string): string | undefined => {
    const h = req.headers[name];
    return Array.isArray(h) ? h.join(', ') : h;
  };
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    header,
    traceCarrier() {
      const c: Record<string, string> = {};
      for (const k of TRACE_HEADERS) { const v = header(k); if (v !== undefined) c[k] = v; }
      return c;
    },
    async body(max): Promise<Body> {
      const declared = declaredTooLarge(req.headers['content-length'], max);
      if (declared) {
        // Never invited (no 100 Continue): a client that waits sends nothing; one that sends anyway is discarded up to the cap.
        if (!declared.ok && declared.reply.headers?.connection === undefined && !expects) discardNodeBody(req, max);
        return declared;
      }
      if (expects) {
        res.writeContinue();
        state.invited = true;
      }
      const b = await readNodeBody(req, max, 'drain');
      if (b.ok) return b;
      return b.tooLarge ? tooLarge(max) : { ok: false, reply: fail(Errors.API_BAD_JSON, 'the request body was cut off') };
    },
  };
}

async function send(req: IncomingMessage, res: ServerResponse, r: Reply, refusedUninvited: boolean): Promise<void> {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(r.status, {
    'content-type': r.contentType ?? JSON_TYPE,
    'cache-control': 'no-store',
    ...(r.chunks === undefined ? { 'content-length': Buffer.byteLength(r.body) } : {}),
    // Refused before its body was invited: the client may or may not send it now, so this connection cannot carry another request.
    ...(refusedUninvited ? { connection: 'close' } : {}),
    ...r.headers,
  });
  if (r.chunks === undefined) { res.end(r.body); return; }
  if (await writeChunks(res, r.chunks)) res.end();
}

/**
 * Writes an answer's chunks, waiting for the socket to drain when it is full.
 * Each wait removes both of its listeners once either fires: a multi-MB
 * answer waits hundreds of times, and leftover 'close' listeners piled up
 * (MaxListenersExceededWarning). False if the response was destroyed.
 */
export async function writeChunks(res: Pick<ServerResponse, 'write' | 'once' | 'off' | 'destroyed'>, chunks: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>): Promise<boolean> {
  for await (const chunk of chunks) {
    if (res.destroyed) return false;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => { res.off('drain', done); res.off('close', done); resolve(); };
        res.once('drain', done);
        res.once('close', done);
      });
    }
  }
  return !res.destroyed;
}

export async function listenNode(h: ApiHandler, o: ListenOptions): Promise<RouterHttp> {
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const t0 = performance.now();
    if (o.console) {
      const path = (req.url ?? '/').split('?', 1)[0]!;
      // The console does its own checks and invites a body (100-continue) only after them (console/node-http.ts).
      if (o.console.owns(path)) {
        const route = consoleRoute(path);
        serveConsoleNode(o.console, req, res).then((status) => h.observed(route, req.method ?? 'GET', status, t0), () => {
          if (!res.headersSent) res.writeHead(500).end();
          h.observed(route, req.method ?? 'GET', 500, t0);
        });
        return;
      }
    }
    const expects = (req.headers.expect ?? '').toLowerCase() === '100-continue';
    const state = { invited: false };
    // serve never rejects; if it ever did, an unhandled rejection must not take the router down.
    h.serve(request(req, res, state, expects), (r) => send(req, res, r, expects && !state.invited), t0).catch(() => {});
  };
  const server = createServer(onRequest);
  // Handled, Node sends no automatic 100 Continue: the request's body() sends it once every check before the body has passed.
  server.on('checkContinue', onRequest);
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;

  // node:http never shares a port (no SO_REUSEPORT); a taken one fails start-up with the catalogue error, not a raw errno.
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      const why = PORT_TAKEN_CAUSES[err.code ?? ''];
      reject(why === undefined ? err : portTaken(o.host, o.port, 'router HTTP API listener', why));
    };
    server.once('error', failed);
    server.listen(o.port, o.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  o.log.info({ host: o.host, port, server: 'node' }, 'router HTTP API listening');

  return {
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      // Requests still in flight get a moment to finish; after that, connections are cut.
      setTimeout(() => server.closeAllConnections(), 1000).unref();
    }),
  };
}
