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
 * appended to the turn's buffer (formatted per call by template: the array
 * header, EVALSHA and the script's SHA1, then each key and argument as a
 * bulk string), one FIFO slot and one promise; the turn's calls leave in one write at the
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
 *  - Bounded: while more than LEAN_LIMITS.maxPendingCalls calls wait for an
 *    answer (timed-out ones included: their answers are still due) or more
 *    than LEAN_LIMITS.maxPendingBytes wait to be written (a stalled server
 *    stops reading), a call rejects at once with LeanOverloadError, which
 *    the stores' callers map to 503 like any store error.
 *  - Scripts are loaded (SCRIPT LOAD) on every (re)connect before the
 *    connection counts as ready, so a restarted server's empty script cache
 *    costs no NOSCRIPT. A NOSCRIPT anyway (SCRIPT FLUSH) loads every script
 *    again and re-sends, once, each call that met it (a NOSCRIPT call was not
 *    run); calls made meanwhile wait until the reload is done, so call order
 *    holds.
 *  - Reconnects with the ioredis client's retry strategy; closes for good
 *    when the ioredis client ends (quit/disconnect). A connect step the
 *    server refuses (AUTH, SELECT or SCRIPT LOAD answered with an error)
 *    ends that connect and counts as a failed attempt (the backoff grows);
 *    CLIENT SETNAME is best effort, as on ioredis. After
 *    LEAN_LIMITS.maxRefusedConnects refused connects in a row every call
 *    goes on the ioredis client (one warning says so) and the lean
 *    connection only retries every LEAN_LIMITS.refusedRetryMs.
 *
 * Only for a standalone server without TLS (leanPipeFor, lean-pipe-for.ts,
 * returns undefined otherwise): a Redis Cluster keeps every call on
 * ioredis, which routes by slot.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { bulk, encodeCommand, RedisReplyError, RespReader, type RespValue } from './resp.js';
import { ConnectionClosedError, LEAN_LIMITS, LeanOverloadError, type LeanLimits, type LeanTarget } from './lean-target.js';

export { ConnectionClosedError, LEAN_LIMITS, LeanOverloadError, type LeanLimits, type LeanTarget } from './lean-target.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** When it was queued (performance.now()). */
  at: number;
  /** Timed out: its answer is read and dropped. */
  dropped: boolean;
  /** The script's SHA1; INTERNAL or OPTIONAL for a connect step. */
  sha: string;
  /** A call's encoded command (re-sent once after a NOSCRIPT); '' once re-sent, and for connect steps. */
  cmd: string;
}

/** Internal steps of a connect (AUTH, SELECT, SCRIPT LOAD): an error answer ends the connect. */
const INTERNAL = '';
/** A best-effort step (CLIENT SETNAME, refused by some ACLs and proxies): its error answer is ignored. */
const OPTIONAL = '?';

export class LeanPipe {
  private sock: net.Socket | undefined;
  private state: 'connecting' | 'loading' | 'ready' | 'down' | 'closed' = 'down';
  private readonly reader = new RespReader();
  private fifo: Pending[] = [];
  private head = 0;
  /** Every entry from head to here timed out: expire() starts its scan here (`at` only grows along the FIFO). */
  private scan = 0;
  private out = '';
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  /** Connect attempts since the connection was last ready. */
  private attempts = 0;
  /** Connects in a row that ended on a refused step; and whether the warning was said (once per such run). */
  private refused = 0;
  private warned = false;
  private readonly limits: LeanLimits;
  private readonly scripts = new Map<string, string>();
  private readonly flushTurn = (): void => { this.scheduled = false; this.flush(); };
  /**
   * A NOSCRIPT answer started loading every script again: until the PING
   * after the loads answers, new calls are held here (sent after the
   * re-sent ones, so call order holds).
   */
  private held: Array<{ cmd: string; p: Pending }> | undefined;
  /** Calls route() sent to the fallback, not answered yet. */
  private viaFallback = 0;
  private readonly fallbackDone = (): void => { this.viaFallback--; };

  constructor(private readonly t: LeanTarget) {
    this.limits = { ...LEAN_LIMITS, ...t.limits };
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
   * (nothing sent) when the connection is not ready; rejected at once with
   * LeanOverloadError past LEAN_LIMITS.
   */
  call(sha: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> | undefined {
    if (this.state !== 'ready') return undefined;
    const over = this.overload();
    if (over !== undefined) return Promise.reject(new LeanOverloadError(over));
    let cmd = `*${3 + keys.length + args.length}\r\n$7\r\nEVALSHA\r\n$40\r\n${sha}\r\n${bulk(String(keys.length))}`;
    for (const k of keys) cmd += bulk(k);
    for (const a of args) cmd += bulk(typeof a === 'string' ? a : String(a));
    return new Promise<unknown>((resolve, reject) => {
      const p: Pending = { resolve, reject, at: performance.now(), dropped: false, sha, cmd };
      if (this.held !== undefined) this.held.push({ cmd, p });
      else this.enqueue(cmd, p);
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

  /** Why a new call is refused (LEAN_LIMITS), or undefined. */
  private overload(): string | undefined {
    const waiting = this.fifo.length - this.head + (this.held?.length ?? 0);
    if (waiting >= this.limits.maxPendingCalls) return `${waiting} calls wait for an answer`;
    const bytes = this.out.length + (this.sock?.writableLength ?? 0);
    if (bytes >= this.limits.maxPendingBytes) return `${bytes} bytes wait to be sent`;
    return undefined;
  }

  private enqueue(cmd: string, p: Pending): void {
    this.fifo.push(p);
    this.out += cmd;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushTurn);
    }
    this.timer ??= this.arm(this.t.commandTimeoutMs);
  }

  private internal(parts: string[], sha = INTERNAL, resolve: (v: unknown) => void = noop): void {
    this.enqueue(encodeCommand(parts), { resolve, reject: noop, at: performance.now(), dropped: false, sha, cmd: '' });
  }

  /** SCRIPT LOAD of every script, then a PING whose answer (after theirs, all OK) calls `done`. */
  private loadScripts(done: () => void): void {
    for (const source of this.scripts.values()) this.internal(['SCRIPT', 'LOAD', source]);
    this.internal(['PING'], INTERNAL, done);
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
      this.held = undefined;
      if (t.password !== undefined) this.internal(t.username !== undefined ? ['AUTH', t.username, t.password] : ['AUTH', t.password]);
      if (t.db !== 0) this.internal(['SELECT', String(t.db)]);
      if (t.name !== undefined) this.internal(['CLIENT', 'SETNAME', `${t.name}-lean`], OPTIONAL);
      // Ready once every step above answered OK (the ping's answer comes last).
      this.loadScripts(() => {
        if (this.sock === sock && this.state === 'loading') { this.state = 'ready'; this.attempts = 0; this.refused = 0; this.warned = false; }
      });
      this.flush();
    });
    sock.on('data', (chunk: Buffer) => { if (this.sock === sock) this.onData(sock, chunk); });
    sock.on('error', noop); // 'close' follows
    sock.on('close', () => {
      clearTimeout(connectTimer);
      if (this.sock !== sock) return;
      this.sock = undefined;
      this.failAll(new ConnectionClosedError());
      if (this.state === 'closed') return;
      this.state = 'down';
      let delay = this.t.retryDelay(++this.attempts);
      if (this.refused >= this.limits.maxRefusedConnects) {
        delay = Math.max(delay, this.limits.refusedRetryMs);
        if (!this.warned) {
          this.warned = true;
          (this.t.warn ?? noop)(`lean Redis connection: ${this.refused} connects in a row refused (${this.lastRefusal}); `
            + `calls go on the ioredis client, the lean connection retries every ${this.limits.refusedRetryMs} ms`);
        }
      }
      setTimeout(() => this.connect(), delay).unref();
    });
    // The ioredis client keeps the process alive while it is open; this connection never does on its own.
    sock.unref();
  }

  private lastRefusal = '';

  /** Ends the current socket: nothing more is read from it, and its 'close' schedules the reconnect. */
  private drop(sock: net.Socket): void {
    if (this.state !== 'closed') this.state = 'down';
    sock.destroy();
  }

  private onData(sock: net.Socket, chunk: Buffer): void {
    this.reader.feed(chunk);
    // A reply can end this socket (a refused connect step): stop reading it then.
    while (this.sock === sock && !sock.destroyed) {
      let r: { value: RespValue } | undefined;
      try {
        r = this.reader.next();
      } catch {
        this.drop(sock); // out of step: every call in flight fails, as on a dropped connection
        return;
      }
      if (r === undefined) return;
      const p = this.fifo[this.head];
      if (p === undefined) { this.drop(sock); return; }
      this.fifo[this.head++] = undefined as unknown as Pending;
      if (this.head > 1024 && this.head * 2 > this.fifo.length) {
        this.fifo = this.fifo.slice(this.head);
        this.scan = Math.max(0, this.scan - this.head);
        this.head = 0;
      }
      this.settle(sock, p, r.value);
    }
  }

  private settle(sock: net.Socket, p: Pending, v: RespValue): void {
    if (v instanceof RedisReplyError) {
      if (p.sha === OPTIONAL) return;
      // A connect step failed (auth, select, a script that does not load, a server still loading its data): start over.
      if (p.sha === INTERNAL) {
        // A server loading its data refuses for a while: that is not a refusal to count.
        if (this.state === 'loading' && !v.message.startsWith('LOADING')) { this.refused++; this.lastRefusal = v.message; }
        this.drop(sock);
        return;
      }
      // The script cache was flushed (SCRIPT FLUSH drops every script): load them all again, once, and
      // re-send the call (a NOSCRIPT call did not run). Calls made until the reload is done are held.
      if (v.message.startsWith('NOSCRIPT') && !p.dropped && p.cmd !== '') {
        if (this.held === undefined) {
          this.held = [];
          this.loadScripts(() => this.release(sock));
        }
        const cmd = p.cmd;
        p.cmd = '';
        this.enqueue(cmd, p);
        return;
      }
      if (!p.dropped) p.reject(v);
      return;
    }
    if (!p.dropped) p.resolve(v);
  }

  /** The reload after a NOSCRIPT is done: send the calls held meanwhile, in call order. */
  private release(sock: net.Socket): void {
    const held = this.held;
    this.held = undefined;
    if (held === undefined || this.sock !== sock) return;
    for (const h of held) this.enqueue(h.cmd, h.p);
  }

  private failAll(err: Error): void {
    const list = this.fifo;
    const from = this.head;
    const held = this.held ?? [];
    this.fifo = [];
    this.held = undefined;
    this.head = 0;
    this.scan = 0;
    this.out = '';
    for (let i = from; i < list.length; i++) { const p = list[i]!; if (!p.dropped) p.reject(err); }
    for (const h of held) h.p.reject(err);
    this.reader.reset();
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; }
  }

  // ---- timeouts ---------------------------------------------------------------------

  private arm(ms: number): NodeJS.Timeout {
    const t = setTimeout(() => this.expire(), Math.max(1, ms));
    t.unref();
    return t;
  }

  /**
   * Rejects the calls older than the command timeout; re-arms for the oldest
   * still waiting. Linear overall: entries are queued in `at` order, so the
   * timed-out ones form a prefix of the waiting ones and each scan starts
   * past it (this.scan).
   */
  private expire(): void {
    this.timer = undefined;
    const limit = this.t.commandTimeoutMs;
    const now = performance.now();
    let i = Math.max(this.scan, this.head);
    for (; i < this.fifo.length; i++) {
      const p = this.fifo[i]!;
      if (p.dropped) continue;
      const left = p.at + limit - now;
      if (left > 0) { this.timer = this.arm(left); break; }
      p.dropped = true;
      if (p.sha !== INTERNAL && p.sha !== OPTIONAL) { p.reject(new Error('Command timed out')); continue; }
      this.scan = i + 1;
      if (this.sock !== undefined) this.drop(this.sock);
      return;
    }
    this.scan = i;
  }
}

function noop(): void {}
