/**
 * What the router's HTTP API (http-api.ts) and its server adapters share:
 * the reply shape, the error replies, the narrow request interface the
 * request handling sees (one adapter per server library implements it:
 * http-node.ts, http-uws.ts), the JSON body step on top of it, and the
 * bounded node:http body reader that the node adapter and the console's
 * node:http server (console/node-http.ts) both use.
 */
import type { IncomingMessage } from 'node:http';
import { Errors, errorBody, type ErrorSpec } from '../shared/errors.js';
import { bulkBudget } from './core/turn-budget.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

export interface Reply {
  status: number;
  body: string;
  contentType?: string;
  headers?: Record<string, string>;
  /** Instead of `body`: the body in pieces, written one per event-loop turn (chunked, no content-length). */
  chunks?: AsyncIterable<string>;
}

export const json = (status: number, value: unknown): Reply => ({ status, body: JSON.stringify(value) });
export const fail = (which: ErrorSpec, detail?: string, headers?: Record<string, string>): Reply => ({
  status: which.status, body: errorBody(which, detail), ...(headers ? { headers } : {}),
});

export type Body = { ok: true; text: string } | { ok: false; reply: Reply };

/**
 * One API request as the request handling sees it, whatever server carries
 * it. Headers are read when the request arrives (uWS frees them when its
 * handler returns). `body` is called only once every check that comes
 * before the body has passed, and (for adapters that must start reading at
 * once) synchronously from the adapter's call into the handler.
 */
export interface ApiRequest {
  /** Upper case. */
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
  /** A request header by lower-case name. */
  header(name: string): string | undefined;
  /** The trace context headers (W3C traceparent, tracestate) for the SERVER span. */
  traceCarrier(): Record<string, string>;
  /** The body as text, at most `max` bytes; past that the 413 reply (answered at once, while reading). */
  body(max: number): Promise<Body>;
}

/**
 * How an adapter answers: writes `r` (its chunks, if any, as they come).
 * Returns undefined when the reply is written (or the client is gone)
 * already, in the call (no promise for the usual one-piece reply), else a
 * promise that resolves when it is.
 */
export type SendReply = (r: Reply) => Promise<void> | undefined;

/** The request handling an adapter drives (http-api.ts builds it). */
export interface ApiHandler {
  /** Answers one request through `send`: routes, checks, traces, observes. Resolves once answered (the value is the handling's own); never rejects. */
  serve(req: ApiRequest, send: SendReply, t0: number): Promise<unknown>;
  /** Logs and observes an answered request outside `serve` (the console's). */
  observed(route: string, method: string, status: number, t0: number): void;
}

/** A parsed JSON request body; the failure arm is the reply to send. */
export type JsonBody = { ok: true; value: unknown } | { ok: false; reply: Reply };

/** Bodies longer than this (characters) are parsed under the turn budget (parsedBody). */
const BULK_BODY_CHARS = 64 * 1024;

function parseJson(text: string): JsonBody {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, reply: fail(Errors.API_BAD_JSON, err instanceof Error ? err.message : undefined) };
  }
}

/**
 * A body once read, parsed as JSON: in the call unless a big body waits for
 * the turn budget first. A big body's one JSON.parse (a maximum batch:
 * 642 KB, 6-11 ms on a busy core) draws on the process's turn budget for
 * bulk work: parallel requests whose bodies complete in the same socket
 * read would otherwise parse one after another in one event-loop turn.
 */
export function parsedBody(b: Body): JsonBody | Promise<JsonBody> {
  if (!b.ok) return b;
  if (b.text.length > BULK_BODY_CHARS && bulkBudget.spent()) return bulkBudget.pace().then(() => parseJson(b.text));
  return parseJson(b.text);
}

/** Reads a request's body (at most `max` bytes) and parses it (parsedBody). */
export const readJsonBody = (req: ApiRequest, max: number): Promise<JsonBody> => req.body(max).then(parsedBody);

/** Past the limit, the rest of a body is read and thrown away (so the client can read the 413 instead of meeting a reset), up to this many times the limit; then the connection is cut. */
export const DISCARD_FACTOR = 8;

// Built only when needed: the error carries a stack trace, too costly for every request.
export const tooLarge = (max: number): Body => ({ ok: false, reply: fail(Errors.API_TOO_LARGE, `limit is ${max} bytes`) });

/**
 * The answer to a declared `Content-Length` over `max`, or undefined. Past
 * DISCARD_FACTOR × max the connection is closed after the answer.
 */
export function declaredTooLarge(contentLength: string | undefined, max: number): Body | undefined {
  const declared = Number(contentLength);
  if (contentLength === undefined || contentLength === '' || !Number.isFinite(declared) || declared <= max) return undefined;
  if (declared > DISCARD_FACTOR * max) return { ok: false, reply: { ...fail(Errors.API_TOO_LARGE, `limit is ${max} bytes`), headers: { connection: 'close' } } };
  return tooLarge(max);
}

export type NodeBody = { ok: true; text: string } | { ok: false; tooLarge: boolean };

/**
 * Reads at most `max` bytes of a node:http request. Past that it resolves
 * with `tooLarge` at once, and then, by `over`:
 *  - 'drain': discards the rest as it arrives, keeping the connection
 *    usable; past DISCARD_FACTOR × max the connection is cut (the API);
 *  - 'pause': stops reading (the console, which closes the connection).
 * A request error resolves with `tooLarge: false`.
 */
export function readNodeBody(req: IncomingMessage, max: number, over: 'drain' | 'pause'): Promise<NodeBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (b: NodeBody): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      resolve(b);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size <= max) { chunks.push(c); return; }
      done({ ok: false, tooLarge: true });
      if (over === 'pause') req.pause();
      else discardNodeBody(req, max, size);
    };
    const onEnd = (): void => done({ ok: true, text: Buffer.concat(chunks).toString('utf8') });
    const onError = (): void => done({ ok: false, tooLarge: false });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** Reads and throws away the rest of a body; past DISCARD_FACTOR × max (counting `seen` bytes already read) the connection is cut. */
export function discardNodeBody(req: IncomingMessage, max: number, seen = 0): void {
  req.on('data', (c: Buffer) => { seen += c.length; if (seen > DISCARD_FACTOR * max) req.socket.destroy(); });
  req.resume();
}
