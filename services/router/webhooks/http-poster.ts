/**
 * WebhookPoster over an undici Pool per receiver origin (keep-alive sockets
 * reused across attempts, no pipelining: a POST is not idempotent, and one
 * slow answer must not hold up the requests queued behind it). Why undici
 * and not node:http: about half the CPU per attempt (no ClientRequest /
 * IncomingMessage streams per request: 30–60 µs against 115–145 µs in the
 * bench's receiver setup), and delivering is the router's largest per-event
 * cost. Redirects are not followed (a 3xx is a failed attempt: a receiver
 * that moved gets a config change, not our signed bodies at a new address);
 * the response body is discarded unread; the time limit covers the whole
 * attempt, connect included.
 */
import { Pool, type Dispatcher } from 'undici';
import type { PostResult, WebhookPoster } from './core/dispatcher.js';

/** Sockets per receiver origin and thread: above any endpoint's concurrency (LONGLINK_WEBHOOK_CONCURRENCY ≤ 1024 is rarely near it). */
const CONNECTIONS = 256;

interface Target { pool: Pool; path: string }
const pools = new Map<string, Pool>();
const targets = new Map<string, Target>();

/** One Pool per origin (this thread's), the URL parsed once. */
function target(url: string): Target {
  let t = targets.get(url);
  if (t === undefined) {
    const u = new URL(url);
    let pool = pools.get(u.origin);
    if (pool === undefined) {
      pool = new Pool(u.origin, { connections: CONNECTIONS, pipelining: 1, keepAliveTimeout: 30_000 });
      pools.set(u.origin, pool);
    }
    t = { pool, path: u.pathname + u.search };
    targets.set(url, t);
  }
  return t;
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  // A refused or reset connection reads as the system's code (ECONNREFUSED…), as it did over node:http.
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : typeof e?.code === 'string' ? e.code : undefined;
  return code ?? String(e?.message ?? err);
}

export const httpPoster: WebhookPoster = {
  /**
   * Through undici's dispatch API with a handler of our own: no response
   * stream, promise chain or AbortController per attempt (each a visible
   * share of the dispatcher thread's CPU through `request`).
   */
  post(url, headers, body, timeoutMs, readBody): Promise<PostResult & { tooLong?: boolean }> {
    const { pool, path } = target(url);
    return new Promise((resolve) => {
      let done = false;
      let status: number | undefined;
      let size = 0;
      const chunks: Buffer[] = [];
      let ctl: Dispatcher.DispatchController | undefined;
      const finish = (r: PostResult & { tooLong?: boolean }): void => { if (!done) { done = true; clearTimeout(timer); resolve(r); } };
      const timer = setTimeout(() => { finish({ error: 'timeout' }); ctl?.abort(new Error('webhook attempt timed out')); }, timeoutMs);
      const handler: Dispatcher.DispatchHandler = {
        // An attempt that timed out while queued for a socket is dropped as soon as it starts.
        onRequestStart(c) { ctl = c; if (done) c.abort(new Error('webhook attempt timed out')); },
        onResponseStart(_c, statusCode) { status = statusCode; },
        onResponseData(c, chunk) {
          if (readBody === undefined) return;
          size += chunk.length;
          if (size > readBody) { finish({ status, tooLong: true }); c.abort(new Error('webhook response too long')); } else chunks.push(chunk);
        },
        onResponseEnd() { finish(readBody === undefined ? { status } : { status, body: Buffer.concat(chunks).toString('utf8') }); },
        // Broken after the status line: the status stands when the body was to be discarded anyway.
        onResponseError(_c, err) { finish(status !== undefined && readBody === undefined ? { status } : { error: errorCode(err) }); },
      };
      try {
        pool.dispatch({ path, method: 'POST', headers, body }, handler);
      } catch (err) {
        finish({ error: errorCode(err) });
      }
    });
  },
};
