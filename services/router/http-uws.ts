/**
 * The router HTTP API on uWebSockets.js: adapts uWS's HttpRequest and
 * HttpResponse to the request interface of http-body.ts.
 *
 * uWS rules kept here: onAborted is registered before anything async and an
 * aborted response is never touched; the headers the handling needs are read
 * before the uWS handler returns (the request object dies with it); every
 * write after the handler returned is corked; the body is taken with onData
 * (registered in the handler, or its first bytes would be dropped), buffered
 * up to the limit and no further.
 *
 * A body over the limit sent chunked (no Content-Length bounds it): the 413
 * is written at once (status, headers and its JSON, as a chunked answer) and
 * the rest of the body is read and thrown away; the answer ends when the
 * body does (the connection stays usable) or, past DISCARD_FACTOR × the
 * limit, the connection is cut, as on node:http. The answer cannot be ended
 * first: once it is, uWS keeps draining the body with no way to stop it (a
 * finished response cannot be closed).
 *
 * Differences from node:http that uWS imposes (docs/api.md): uWS writes
 * `100 Continue` for `Expect: 100-continue` before any handler runs. The
 * checks before the body are synchronous, so a refusal leaves in the same
 * write as that 100 (the client never sees an invitation alone), with
 * `Connection: close`, and the body is never read. Pipelined requests
 * behind an unanswered one close the connection (HTTP clients do not
 * pipeline).
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { Errors, statusLine } from '../shared/errors.js';
import { legacyWarning, listenExclusive, loadNativeUws } from '../shared/uws-native.js';
import { consoleRoute } from './console/http.js';
import { serveConsoleUws } from './console/uws-http.js';
import { declaredTooLarge, DISCARD_FACTOR, fail, JSON_TYPE, tooLarge, type ApiHandler, type ApiRequest, type Body, type Reply } from './http-body.js';
import type { ListenOptions, RouterHttp } from './http-api.js';

/**
 * The idle time a kept-alive connection may be reused for, announced on every answer that keeps it open
 * (`Keep-Alive: timeout=5`, what node:http says and does). uWS closes a connection idle for 10 s, give or take
 * its 4 s timer sweep: as early as 8 s. Unannounced, a client's pool kept such a connection and reused it after
 * the close had arrived but before it had read it (its event loop busy at that moment): the request went into a
 * closed socket and failed with ECONNRESET. Pools that read the hint (Node's http.Agent and undici, one second
 * early) now drop the connection at 4 s, well before the server can close it.
 */
export const KEEP_ALIVE_HINT = 'timeout=5';

/** A header as uWS reads it ('' when absent), or undefined when absent. */
const present = (v: string): string | undefined => (v === '' ? undefined : v);

/** Status line and headers of a reply (inside a cork). `connection` is uWS's to write: it follows the end() call's close flag. */
function writeHead(res: HttpResponse, r: Reply, close: boolean): void {
  res.writeStatus(statusLine(r.status));
  res.writeHeader('content-type', r.contentType ?? JSON_TYPE);
  res.writeHeader('cache-control', 'no-store');
  if (!close) res.writeHeader('keep-alive', KEEP_ALIVE_HINT);
  if (r.headers) for (const k in r.headers) if (k !== 'connection') res.writeHeader(k, r.headers[k]!);
}

/** One request's state: its headers, its body as it arrives, whether its response is gone. */
class UwsExchange implements ApiRequest {
  readonly method: string;
  readonly url: string;
  // The request headers the handling reads (http-api.ts) and the trace context, in fields: undefined if absent.
  private readonly authorization: string | undefined;
  private readonly contentType: string | undefined;
  private readonly contentLength: string | undefined;
  private readonly traceparent: string | undefined;
  private readonly tracestate: string | undefined;
  /** The client sent `Expect: 100-continue` (uWS already answered it). */
  private readonly expects: boolean;
  aborted = false;
  replied = false;
  /** body() was asked for: every check before the body passed. */
  private claimed = false;
  private chunks: Buffer[] = [];
  private text: string | undefined;
  private size = 0;
  private ended = false;
  private over = false;
  /** The 413 is written but not ended: the rest of the body is counted and thrown away (see the file comment). */
  private discarding = false;
  private waiter: (() => void) | undefined;
  private writable: (() => void) | undefined;

  /** `path`: req.getUrl(), read once by the caller. */
  constructor(private readonly res: HttpResponse, req: HttpRequest, path: string, private readonly cap: number) {
    this.method = req.getMethod().toUpperCase();
    const q = req.getQuery();
    this.url = q ? `${path}?${q}` : path;
    this.authorization = present(req.getHeader('authorization'));
    this.contentType = present(req.getHeader('content-type'));
    this.contentLength = present(req.getHeader('content-length'));
    this.traceparent = present(req.getHeader('traceparent'));
    this.tracestate = present(req.getHeader('tracestate'));
    this.expects = req.getHeader('expect').toLowerCase() === '100-continue';
    res.onAborted(() => {
      this.aborted = true;
      this.waiter?.();
      this.writable?.();
    });
    if (this.method === 'GET' || this.method === 'HEAD') this.ended = true;
    else res.onData((ab, isLast) => this.data(ab, isLast));
  }

  private data(ab: ArrayBuffer, isLast: boolean): void {
    this.size += ab.byteLength;
    if (isLast) this.ended = true;
    if (this.discarding) {
      if (this.aborted) return;
      if (isLast) { this.discarding = false; this.res.cork(() => { this.res.end(); }); }
      else if (this.size > DISCARD_FACTOR * this.cap) { this.discarding = false; this.res.close(); }
      return;
    }
    if (this.replied || this.over) return; // answered (or over the limit): the rest is dropped
    if (this.size > this.cap) {
      this.over = true;
      this.chunks = [];
      this.waiter?.();
      return;
    }
    // uWS neuters the ArrayBuffer after this callback: decode (one chunk, the usual case) or copy now.
    if (isLast && this.chunks.length === 0) this.text = Buffer.from(ab).toString('utf8');
    else if (ab.byteLength > 0) this.chunks.push(Buffer.from(ab.slice(0)));
    if (isLast) this.waiter?.();
  }

  header(name: string): string | undefined {
    switch (name) {
      case 'authorization': return this.authorization;
      case 'content-type': return this.contentType;
      case 'content-length': return this.contentLength;
      case 'traceparent': return this.traceparent;
      case 'tracestate': return this.tracestate;
      default: return undefined;
    }
  }

  traceCarrier(): Record<string, string> {
    const c: Record<string, string> = {};
    if (this.traceparent !== undefined) c.traceparent = this.traceparent;
    if (this.tracestate !== undefined) c.tracestate = this.tracestate;
    return c;
  }

  body(max: number): Promise<Body> {
    this.claimed = true;
    const declared = declaredTooLarge(this.contentLength, max);
    if (declared) return Promise.resolve(declared);
    // One promise per request, settled by data() (the last chunk, or over the limit) or an abort.
    if (!this.ended && !this.over && !this.aborted) return new Promise<Body>((resolve) => { this.waiter = () => { this.waiter = undefined; resolve(this.taken(max)); }; });
    return Promise.resolve(this.taken(max));
  }

  /** The body as read, once complete (or over the limit, or aborted). */
  private taken(max: number): Body {
    if (this.over || this.size > max) return tooLarge(max);
    // Cut off before its last byte: never handled (a push stored from a partial body the client got no answer
    // for would be stored again by its retry). No one reads the answer; node:http's adapter says the same.
    if (this.aborted && !this.ended) { this.chunks = []; return { ok: false, reply: fail(Errors.API_BAD_JSON, 'the request body was cut off') }; }
    const text = this.text ?? Buffer.concat(this.chunks).toString('utf8');
    this.chunks = [];
    return { ok: true, text };
  }

  /**
   * Writes the reply (corked), in the call; a chunked one a piece at a time,
   * waiting out backpressure (the promise). SendReply's contract.
   */
  send(r: Reply): Promise<void> | undefined {
    if (this.aborted || this.replied) return undefined;
    this.replied = true;
    this.chunks = [];
    // Refused before its body was asked for, after uWS invited it: the body is not read, the connection closes.
    const close = r.headers?.connection === 'close' || (this.expects && !this.claimed) || this.size > DISCARD_FACTOR * this.cap;
    const res = this.res;
    if (this.over && !this.ended && !close && r.chunks === undefined) {
      // A chunked body over the limit, still arriving: answer now, end the answer with the body (data()).
      this.discarding = true;
      res.cork(() => {
        writeHead(res, r, false);
        res.write(r.body);
      });
      return undefined;
    }
    if (r.chunks === undefined) {
      res.cork(() => {
        writeHead(res, r, close);
        if (this.method === 'HEAD') res.endWithoutBody(Buffer.byteLength(r.body), close);
        else res.end(r.body, close);
      });
      return undefined;
    }
    res.cork(() => { writeHead(res, r, close); });
    return this.sendChunks(r.chunks, close);
  }

  private async sendChunks(chunks: AsyncIterable<string>, close: boolean): Promise<void> {
    const res = this.res;
    for await (const chunk of chunks) {
      if (this.aborted) return;
      let ok = true;
      res.cork(() => { ok = res.write(chunk); });
      if (!ok && !this.aborted) {
        // Written, but buffered: wait until uWS drained it (or the client left).
        await new Promise<void>((resolve) => {
          this.writable = resolve;
          res.onWritable(() => { resolve(); return true; });
        });
        this.writable = undefined;
      }
    }
    if (!this.aborted) res.cork(() => { res.end(undefined, close); });
  }
}

export async function listenUws(h: ApiHandler, o: ListenOptions): Promise<RouterHttp> {
  const native = loadNativeUws();
  const { uws, build } = native;
  const legacy = legacyWarning(native);
  if (legacy !== undefined) o.log.warn({ uws: build }, legacy);
  const app = uws.App();
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const settled = (): void => { if (--inFlight === 0) idle?.(); };

  app.any('/*', (res, req) => {
    const t0 = performance.now();
    const path = req.getUrl();
    if (o.console?.owns(path)) {
      // The console does its own checks (console/uws-http.ts).
      const method = req.getMethod().toUpperCase();
      inFlight++;
      void serveConsoleUws(o.console, res, req).then((status) => { h.observed(consoleRoute(path), method, status, t0); settled(); });
      return;
    }
    const x = new UwsExchange(res, req, path, o.maxBodyBytes);
    inFlight++;
    void h.serve(x, (r) => x.send(r), t0).then(settled, settled); // serve never rejects; if it ever did, the count must still drop
  });

  // Exclusive (uws-native.ts): a second router (or standalone process) on this port fails instead of sharing it.
  const listenSocket = await listenExclusive(app, o.host, o.port, 'router HTTP API listener');
  const port = uws.us_socket_local_port(listenSocket);
  o.log.info({ host: o.host, port, server: 'uws', build }, 'router HTTP API listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    close: () => (closing ??= new Promise<void>((resolve) => {
      uws.us_listen_socket_close(listenSocket);
      // Requests still in flight get a moment to finish; after that, connections are cut.
      const cut = (): void => { clearTimeout(timer); idle = undefined; app.close(); resolve(); };
      const timer = setTimeout(cut, 1000);
      if (inFlight === 0) cut();
      else idle = cut;
    })),
  };
}
