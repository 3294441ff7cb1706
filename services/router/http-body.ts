/**
 * Reading and answering requests of the router's HTTP API (http-api.ts):
 * the reply shape, the error replies, and the bounded body reader with its
 * `Expect: 100-continue` handling.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Errors, errorBody, type ErrorSpec } from '../shared/errors.js';

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

export const expectsContinue = (req: IncomingMessage): boolean => (req.headers.expect ?? '').toLowerCase() === '100-continue';
/** Responses whose request was sent `100 Continue`. */
const invited = new WeakSet<ServerResponse>();

/** Whether this response's request was sent `100 Continue` (its body may follow). */
export const wasInvited = (res: ServerResponse): boolean => invited.has(res);

/** Past the limit, the rest of a body is read and thrown away (so the client can read the 413 instead of meeting a reset), up to this many times the limit; then the connection is cut. */
const DISCARD_FACTOR = 8;

/**
 * Reads at most `max` bytes. Past that it answers 413 at once and discards
 * the rest as it arrives, keeping the connection usable; a body larger than
 * DISCARD_FACTOR × max (or still arriving at the request timeout) gets the
 * connection closed. `Expect: 100-continue` is answered here, so only a
 * request that passed every check before the body is invited to send it.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, max: number): Promise<Body> {
  // Built only when needed: the error carries a stack trace, too costly for every request.
  const tooLarge = (): Body => ({ ok: false, reply: fail(Errors.API_TOO_LARGE, `limit is ${max} bytes`) });
  const declared = Number(req.headers['content-length']);
  const discard = (): void => {
    let seen = 0;
    req.on('data', (c: Buffer) => { seen += c.length; if (seen > DISCARD_FACTOR * max) req.socket.destroy(); });
    req.resume();
  };
  if (Number.isFinite(declared) && declared > max) {
    // Never invited (no 100 Continue): a client that waits sends nothing; one that sends anyway is discarded up to the cap.
    if (declared > DISCARD_FACTOR * max) return Promise.resolve({ ok: false, reply: { ...fail(Errors.API_TOO_LARGE, `limit is ${max} bytes`), headers: { connection: 'close' } } });
    if (!expectsContinue(req)) discard();
    return Promise.resolve(tooLarge());
  }
  if (expectsContinue(req)) {
    res.writeContinue();
    invited.add(res);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (b: Body): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onEnd);
      resolve(b);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > max) {
        done(tooLarge());
        discard();
      } else chunks.push(c);
    };
    const onEnd = (): void => done({ ok: true, text: Buffer.concat(chunks).toString('utf8') });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onEnd);
  });
}
