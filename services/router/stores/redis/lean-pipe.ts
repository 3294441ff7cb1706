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
 *  - route() keeps call order across switches to and from the fallback (the
 *    ioredis client): back on this connection, new calls are held (in call
 *    order, within the bounds above and the command timeout) until every
 *    fallback call is done, then sent, so steady traffic switches back after
 *    one drain; a fallback call that timed out counts as done only once a
 *    PING on its connection answers (it may still run): one PING in flight
 *    covers every call timed out before it was sent, and that wait is capped
 *    at LEAN_LIMITS.barrierWaits command timeouts (see the known limits).
 *    Away from it (a drop this side made), new calls wait for the socket's
 *    close to fail the calls in flight. The lease-keeping step (the
 *    gateway's beacon, `reserved`) has a small reserve past the bounds that
 *    no other call uses. (The hold and fallback rules: RouteGate,
 *    lean-route.ts.)
 *  - Reconnects with the ioredis client's retry strategy; closes for good
 *    when the ioredis client ends (quit/disconnect). A connect step the
 *    server refuses (AUTH, SELECT or SCRIPT LOAD answered with an error)
 *    ends that connect and counts as a failed attempt (the backoff grows);
 *    CLIENT SETNAME is best effort, as on ioredis. After
 *    LEAN_LIMITS.maxRefusedConnects refused connects in a row every call
 *    goes on the ioredis client (one warning says so) and the lean
 *    connection only retries every LEAN_LIMITS.refusedRetryMs.
 *
 * Known limits: with several routers a script can be loaded by another
 * router between two calls of one pipeline, so a call that met NOSCRIPT
 * (re-sent after the reload) can run after a later call of this connection
 * that did not. A drop made on this side (a timed-out connect step, a reply
 * out of step) fails its calls in flight at the socket's close, but the
 * server may still run the bytes it had received; the calls then held go to
 * the fallback, so in that rare case order is not proven. A fallback call
 * that timed out and whose connection then answers no PING for
 * LEAN_LIMITS.barrierWaits command timeouts (a half-open or hung ioredis
 * socket) is given up on: the lean route reopens (a warning,
 * LL_REDIS_FALLBACK_SUSPECT, says so once) and, until that connection
 * answers again, its timeouts are final; if such a call still runs later,
 * a later call here may overtake it. The other way, every call of a healthy
 * lean connection would be held and fail until the OS closed that socket.
 *
 * Only for a standalone server without TLS (leanPipeFor, lean-pipe-for.ts,
 * returns undefined otherwise): a Redis Cluster keeps every call on
 * ioredis, which routes by slot.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { bulk, encodeCommand, RedisReplyError, RespReader, type RespValue } from './resp.js';
import { ConnectionClosedError, LEAN_LIMITS, LeanOverloadError, type LeanLimits, type LeanTarget } from './lean-target.js';
import { RouteGate, type Waiter } from './lean-route.js';
import { deadlineTimer } from '../../../shared/deadline.js';

export { ConnectionClosedError, LEAN_LIMITS, LeanOverloadError, type LeanLimits, type LeanTarget } from './lean-target.js';

interface Pending extends Waiter {
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
  /** 'dropping': this side ended the socket, its 'close' (which fails the calls in flight) is still due. */
  private state: 'connecting' | 'loading' | 'ready' | 'dropping' | 'down' | 'closed' = 'down';
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
   * Holds new calls while a reload, fallback calls in flight or a drop on
   * this side last, and counts the calls on the fallback (lean-route.ts).
   */
  private readonly gate: RouteGate<Pending>;

  constructor(private readonly t: LeanTarget) {
    this.limits = { ...LEAN_LIMITS, ...t.limits };
    this.gate = new RouteGate<Pending>(t, this.limits.barrierWaits, () => this.state === 'ready', (cmd, p) => this.enqueue(cmd, p));
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
  call(sha: string, keys: readonly string[], args: readonly (string | number)[], reserved = false): Promise<unknown> | undefined {
    if (this.state !== 'ready') return undefined;
    return this.send(sha, keys, args, reserved, undefined);
  }

  /**
   * The call on this connection when it is ready (or only briefly held, see
   * RouteGate, lean-route.ts), on the fallback (the ioredis client) otherwise. Calls routed
   * here are applied in call order whichever way each went:
   *  - a switch back to this connection, once it is ready again, holds new
   *    calls here until every call routed to the fallback is done (answered;
   *    one that timed out only once a barrier proves it ran, see
   *    lean-route.ts), then sends them in call order. Under steady traffic
   *    that is one drain, not a wait for an idle moment: new calls queue
   *    behind the held ones instead of going to the fallback;
   *  - a switch away waits until this connection's calls in flight have
   *    failed (a drop on this side holds new calls until the socket's close).
   * `reserved` (the lease-keeping beacon only): may exceed
   * LEAN_LIMITS.maxPendingCalls and maxPendingBytes by reservedCalls and
   * reservedBytes, so a push overload or a reconnect storm's presence steps
   * do not refuse the beacons that keep a gateway's lease.
   */
  route(sha: string, keys: readonly string[], args: readonly (string | number)[], fallback: () => Promise<unknown>,
    reserved = false): Promise<unknown> {
    if (this.state === 'ready' || this.state === 'dropping') return this.send(sha, keys, args, reserved, fallback);
    return this.gate.toFallback(fallback);
  }

  private send(sha: string, keys: readonly string[], args: readonly (string | number)[], reserved: boolean,
    fallback: (() => Promise<unknown>) | undefined): Promise<unknown> {
    const over = this.overload(reserved);
    if (over !== undefined) return Promise.reject(new LeanOverloadError(over));
    let cmd = `*${3 + keys.length + args.length}\r\n$7\r\nEVALSHA\r\n$40\r\n${sha}\r\n${bulk(String(keys.length))}`;
    for (const k of keys) cmd += bulk(k);
    for (const a of args) cmd += bulk(typeof a === 'string' ? a : String(a));
    return new Promise<unknown>((resolve, reject) => {
      const p: Pending = { resolve, reject, at: performance.now(), dropped: false, sha, cmd };
      if (!this.gate.hold(cmd, p, fallback, this.state === 'ready')) this.enqueue(cmd, p);
    });
  }

  /** For good: rejects what is in flight, never reconnects. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.sock?.destroy();
    this.failAll(new ConnectionClosedError());
  }

  // ---- sending ----------------------------------------------------------------------

  /** Why a new call is refused (LEAN_LIMITS; a reserved one gets the reserve on top), or undefined. */
  private overload(reserved: boolean): string | undefined {
    const l = this.limits;
    const waiting = this.fifo.length - this.head + this.gate.size;
    if (waiting >= l.maxPendingCalls + (reserved ? l.reservedCalls : 0)) return `${waiting} calls wait for an answer`;
    const bytes = this.out.length + (this.sock?.writableLength ?? 0);
    if (bytes >= l.maxPendingBytes + (reserved ? l.reservedBytes : 0)) return `${bytes} bytes wait to be sent`;
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
      if (this.state !== 'closed') this.state = 'down';
      this.failAll(new ConnectionClosedError());
      if (this.state === 'closed') return;
      let delay = this.t.retryDelay(++this.attempts);
      if (this.refused >= this.limits.maxRefusedConnects) {
        delay = Math.max(delay, this.limits.refusedRetryMs);
        if (!this.warned) {
          this.warned = true;
          (this.t.warn ?? noop)(`lean Redis connection: ${this.refused} connects in a row refused (${this.lastRefusal}); `
            + `calls go on the ioredis client, the lean connection retries every ${this.limits.refusedRetryMs} ms`, 'LL_REDIS_LEAN_OFF');
        }
      }
      setTimeout(() => this.connect(), delay).unref();
    });
    // The ioredis client keeps the process alive while it is open; this connection never does on its own.
    sock.unref();
  }

  private lastRefusal = '';

  /**
   * Ends the current socket: nothing more is read from it, and its 'close'
   * fails the calls in flight and schedules the reconnect. Until then new
   * routed calls are held ('dropping', lean-route.ts), not sent on the fallback.
   */
  private drop(sock: net.Socket): void {
    if (this.state !== 'closed') this.state = 'dropping';
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
        if (this.gate.startReload()) this.loadScripts(() => { if (this.sock === sock) this.gate.reloaded(); });
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

  /** The connection closed: the calls in flight fail; held routed calls go on the fallback, in call order (unless closed for good). */
  private failAll(err: Error): void {
    const list = this.fifo;
    const from = this.head;
    this.fifo = [];
    this.head = 0;
    this.scan = 0;
    this.out = '';
    for (let i = from; i < list.length; i++) { const p = list[i]!; if (!p.dropped) p.reject(err); }
    this.reader.reset();
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; }
    this.gate.failHeld(err, this.state === 'closed');
  }

  // ---- timeouts ---------------------------------------------------------------------

  /** Rule of shared/deadline.ts: a reply read in the turn the timer fires still counts. A cleared timer's run is stale. */
  private arm(ms: number): NodeJS.Timeout {
    return deadlineTimer((t) => { if (this.timer === t) this.expire(); }, ms);
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
