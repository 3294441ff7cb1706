/**
 * A second, lean connection to a standalone Redis for the push path's hot
 * script calls (EVALSHA only), next to the ioredis client that serves
 * everything else.
 *
 * Why: through ioredis a call costs a Command object, its argument encoding
 * and bookkeeping, the auto-pipeline's promises and a socket write per
 * microtask checkpoint (a uWS request is one); the push path makes one such
 * call per recipient and it was the router's largest share of CPU after the
 * socket writes themselves (docs/benchmarks.md). Here a call is one string
 * appended to the turn's buffer (the script's command prefix is prebuilt),
 * one FIFO slot and one promise; the turn's calls leave in one write at the
 * end of the event-loop turn (setImmediate), and replies are read by a small
 * RESP reader (resp.ts).
 *
 * Contract (what callers may rely on; the same as the ioredis client's in
 * client.ts):
 *  - Calls on this connection are sent and applied in call order.
 *  - Fail fast: call() returns undefined while the connection is not ready
 *    (connecting, reconnecting, closed); the caller then uses the ioredis
 *    client, which rejects at once when Redis is down. A call whose
 *    connection drops before its answer rejects and is never re-sent (the
 *    scripts are not idempotent: the caller retries with an idempotency key).
 *  - A call unanswered after commandTimeoutMs rejects (its late answer, if
 *    any, is read and dropped, so later answers stay matched).
 *  - Scripts are loaded (SCRIPT LOAD) on every (re)connect before the
 *    connection counts as ready, so a restarted server's empty script cache
 *    costs no NOSCRIPT; a NOSCRIPT anyway (SCRIPT FLUSH) rejects the calls
 *    already sent and loads every script again before the next call is sent.
 *  - Reconnects forever with the ioredis client's retry strategy; closes for
 *    good when the ioredis client ends (quit/disconnect).
 *
 * Only for a standalone server without TLS (leanPipeFor returns undefined
 * otherwise): a Redis Cluster keeps every call on ioredis, which routes by
 * slot.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import type { RedisClient } from './client.js';
import { bulk, encodeCommand, RedisReplyError, RespReader, type RespValue } from './resp.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** When it was queued (performance.now()). */
  at: number;
  /** Timed out: its answer is read and dropped. */
  dropped: boolean;
  /** The script's SHA1; INTERNAL for a connect step. */
  sha: string;
}

/** Internal steps of a connect (AUTH, SELECT, SETNAME, SCRIPT LOAD): their answers are checked, not handed on. */
const INTERNAL = '';

export interface LeanTarget {
  host: string;
  port: number;
  path?: string;
  username?: string;
  password?: string;
  db: number;
  name?: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Delay before reconnect attempt n (from 1), like ioredis' retryStrategy. */
  retryDelay: (attempt: number) => number;
}

export class ConnectionClosedError extends Error {
  constructor(message = 'Connection is closed.') {
    super(message);
    this.name = 'ConnectionClosedError';
  }
}

export class LeanPipe {
  private sock: net.Socket | undefined;
  private state: 'connecting' | 'loading' | 'ready' | 'down' | 'closed' = 'down';
  private readonly reader = new RespReader();
  private readonly fifo: Pending[] = [];
  private head = 0;
  private out = '';
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private readonly scripts = new Map<string, string>();
  private readonly flushTurn = (): void => { this.scheduled = false; this.flush(); };
  /** A NOSCRIPT answer started loading every script again (until the PING after them answers). */
  private reloading = false;
  /** Calls route() sent to the fallback, not answered yet. */
  private viaFallback = 0;
  private readonly fallbackDone = (): void => { this.viaFallback--; };

  constructor(private readonly t: LeanTarget) {
    this.connect();
  }

  get ready(): boolean { return this.state === 'ready'; }

  /** Registers a script (loaded on every connect); returns its SHA1 for call(). */
  register(source: string): string {
    const sha = createHash('sha1').update(source).digest('hex');
    if (!this.scripts.has(sha)) {
      this.scripts.set(sha, source);
      // Loaded before any call of it can be sent on this connection.
      if (this.state === 'ready' || this.state === 'loading') this.internal(['SCRIPT', 'LOAD', source]);
    }
    return sha;
  }

  /**
   * EVALSHA of a registered script, sent at the end of this turn; undefined
   * (nothing sent) when the connection is not ready.
   */
  call(sha: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> | undefined {
    if (this.state !== 'ready') return undefined;
    let cmd = `*${3 + keys.length + args.length}\r\n$7\r\nEVALSHA\r\n$40\r\n${sha}\r\n${bulk(String(keys.length))}`;
    for (const k of keys) cmd += bulk(k);
    for (const a of args) cmd += bulk(typeof a === 'string' ? a : String(a));
    return new Promise<unknown>((resolve, reject) => {
      this.enqueue(cmd, { resolve, reject, at: performance.now(), dropped: false, sha });
    });
  }

  /**
   * call() when the connection is ready and no call routed to the fallback
   * (the ioredis client) is still waiting for its answer; the fallback
   * otherwise. So calls routed here are applied in call order whichever
   * way each went: a switch back to this connection waits until the
   * fallback's calls are answered (a switch away needs no wait: this
   * connection's calls in flight were rejected when it dropped).
   */
  route(sha: string, keys: readonly string[], args: readonly (string | number)[], fallback: () => Promise<unknown>): Promise<unknown> {
    if (this.viaFallback === 0) {
      const p = this.call(sha, keys, args);
      if (p !== undefined) return p;
    }
    this.viaFallback++;
    const p = fallback();
    p.then(this.fallbackDone, this.fallbackDone);
    return p;
  }

  /** For good: rejects what is in flight, never reconnects. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.sock?.destroy();
    this.failAll(new ConnectionClosedError());
  }

  // ---- sending ----------------------------------------------------------------------

  private enqueue(cmd: string, p: Pending): void {
    this.fifo.push(p);
    this.out += cmd;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushTurn);
    }
    this.timer ??= this.arm(this.t.commandTimeoutMs);
  }

  private internal(parts: string[]): void {
    this.enqueue(encodeCommand(parts), { resolve: noop, reject: noop, at: performance.now(), dropped: false, sha: INTERNAL });
  }

  private flush(): void {
    if (this.out === '' || this.sock === undefined) return;
    const data = this.out;
    this.out = '';
    this.sock.write(data);
  }

  // ---- connection -------------------------------------------------------------------

  private connect(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    const t = this.t;
    const sock = t.path !== undefined ? net.createConnection({ path: t.path }) : net.createConnection({ host: t.host, port: t.port });
    this.sock = sock;
    sock.setNoDelay(true);
    sock.setKeepAlive(true, 10_000);
    const connectTimer = setTimeout(() => sock.destroy(new Error('connect timeout')), t.connectTimeoutMs);
    connectTimer.unref();
    sock.on('connect', () => {
      clearTimeout(connectTimer);
      if (this.sock !== sock) return;
      this.state = 'loading';
      this.reader.reset();
      this.reloading = false;
      if (t.password !== undefined) this.internal(t.username !== undefined ? ['AUTH', t.username, t.password] : ['AUTH', t.password]);
      if (t.db !== 0) this.internal(['SELECT', String(t.db)]);
      if (t.name !== undefined) this.internal(['CLIENT', 'SETNAME', `${t.name}-lean`]);
      for (const source of this.scripts.values()) this.internal(['SCRIPT', 'LOAD', source]);
      // Ready once every step above answered OK (the ping's answer comes last).
      this.enqueue(encodeCommand(['PING']), {
        resolve: () => { if (this.sock === sock && this.state === 'loading') { this.state = 'ready'; this.attempts = 0; } },
        reject: noop, at: performance.now(), dropped: false, sha: INTERNAL,
      });
      this.flush();
    });
    sock.on('data', (chunk: Buffer) => { if (this.sock === sock) this.onData(chunk); });
    sock.on('error', noop); // 'close' follows
    sock.on('close', () => {
      clearTimeout(connectTimer);
      if (this.sock !== sock) return;
      this.sock = undefined;
      this.failAll(new ConnectionClosedError());
      if (this.state === 'closed') return;
      this.state = 'down';
      const delay = this.t.retryDelay(++this.attempts);
      setTimeout(() => this.connect(), delay).unref();
    });
    // The ioredis client keeps the process alive while it is open; this connection never does on its own.
    sock.unref();
  }

  private onData(chunk: Buffer): void {
    this.reader.feed(chunk);
    for (;;) {
      let r: { value: RespValue } | undefined;
      try {
        r = this.reader.next();
      } catch {
        this.sock?.destroy(); // out of step: every call in flight fails, as on a dropped connection
        return;
      }
      if (r === undefined) return;
      const p = this.fifo[this.head];
      if (p === undefined) { this.sock?.destroy(); return; }
      this.fifo[this.head++] = undefined as unknown as Pending;
      if (this.head > 1024 && this.head * 2 > this.fifo.length) { this.fifo.splice(0, this.head); this.head = 0; }
      this.settle(p, r.value);
    }
  }

  private settle(p: Pending, v: RespValue): void {
    if (v instanceof RedisReplyError) {
      // A connect step failed (auth, select, a server still loading its data): start over.
      if (p.sha === INTERNAL) { this.sock?.destroy(); return; }
      // The script cache was flushed (SCRIPT FLUSH drops every script): load them all again, once.
      if (v.message.startsWith('NOSCRIPT') && !this.reloading) {
        this.reloading = true;
        for (const source of this.scripts.values()) this.internal(['SCRIPT', 'LOAD', source]);
        this.enqueue(encodeCommand(['PING']), { resolve: () => { this.reloading = false; }, reject: noop, at: performance.now(), dropped: false, sha: INTERNAL });
      }
      if (!p.dropped) p.reject(v);
      return;
    }
    if (!p.dropped) p.resolve(v);
  }

  private failAll(err: Error): void {
    const list = this.fifo.splice(0);
    this.head = 0;
    this.out = '';
    for (const p of list) if (p !== undefined && !p.dropped) p.reject(err);
    this.reader.reset();
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; }
  }

  // ---- timeouts ---------------------------------------------------------------------

  private arm(ms: number): NodeJS.Timeout {
    const t = setTimeout(() => this.expire(), Math.max(1, ms));
    t.unref();
    return t;
  }

  /** Rejects the calls older than the command timeout; re-arms for the oldest still waiting. */
  private expire(): void {
    this.timer = undefined;
    const limit = this.t.commandTimeoutMs;
    const now = performance.now();
    for (let i = this.head; i < this.fifo.length; i++) {
      const p = this.fifo[i]!;
      if (p.dropped) continue;
      const left = p.at + limit - now;
      if (left > 0) { this.timer = this.arm(left); return; }
      p.dropped = true;
      if (p.sha === INTERNAL) { this.sock?.destroy(); return; }
      p.reject(new Error('Command timed out'));
    }
  }
}

function noop(): void {}

const pipes = new WeakMap<RedisClient, LeanPipe | null>();

/**
 * The lean connection of a standalone, non-TLS ioredis client (one per
 * client, shared by its stores), or undefined: a cluster, TLS, a sentinel
 * setup or a key prefix keep every call on ioredis.
 */
export function leanPipeFor(client: RedisClient): LeanPipe | undefined {
  const known = pipes.get(client);
  if (known !== undefined) return known ?? undefined;
  let pipe: LeanPipe | null = null;
  const o = client instanceof Redis ? client.options : undefined;
  if (o !== undefined && o.tls === undefined && (o.sentinels ?? null) === null
    && client.status !== 'end' && (o.keyPrefix ?? '') === '') {
    const retry = o.retryStrategy;
    pipe = new LeanPipe({
      host: o.host ?? '127.0.0.1', port: o.port ?? 6379, ...(o.path !== undefined && o.path !== null ? { path: o.path } : {}),
      ...(o.username !== undefined && o.username !== null && o.username !== '' ? { username: o.username } : {}),
      ...(o.password !== undefined && o.password !== null && o.password !== '' ? { password: o.password } : {}),
      db: o.db ?? 0, ...(o.connectionName !== undefined ? { name: o.connectionName } : {}),
      commandTimeoutMs: o.commandTimeout ?? 1000, connectTimeoutMs: o.connectTimeout ?? 1000,
      retryDelay: (n) => { const d = retry?.(n); return typeof d === 'number' ? d : 1000; },
    });
    const p = pipe;
    client.once('end', () => p.close());
  }
  pipes.set(client, pipe);
  return pipe ?? undefined;
}
