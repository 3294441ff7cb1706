/**
 * Which way a routed call takes (LeanPipe.route, lean-pipe.ts) and when it
 * leaves: straight onto the lean connection, held there first, or on the
 * fallback (the ioredis client). In its own file so lean-pipe.ts holds the
 * connection's mechanics (socket, RESP, pipeline, timeouts of sent calls)
 * and this one the rules that keep call order across the two connections.
 *
 * Contract (LeanPipe relies on it; lean-pipe.ts's header states it to the
 * callers):
 *  - hold(): a new call is held, in call order, while one of these lasts,
 *    then sent (release()), or re-routed to the fallback if the connection
 *    closes first (failHeld()):
 *     - a NOSCRIPT answer started loading every script again (startReload()):
 *       until the PING after the loads (sent after the re-sent calls)
 *       answers (reloaded());
 *     - the connection is ready but calls routed to the fallback are still
 *       not known to be done: until the last of them is, so no call on the
 *       lean connection overtakes one there;
 *     - the connection is not ready (LeanPipe: this side ended the socket,
 *       state 'dropping'): until its 'close' has failed the calls in flight,
 *       so no call on the fallback is sent while they may still be answered.
 *    Held calls count against LEAN_LIMITS (size) and reject after
 *    commandTimeoutMs (never sent: they did not run).
 *  - toFallback(): a call sent on the fallback counts as in flight until it
 *    is done: answered, or rejected other than by a timeout (a reply error,
 *    a closed connection: final). One that timed out was sent and may still
 *    run: it counts as done only once a barrier (LeanTarget.fallbackBarrier,
 *    a PING on the fallback's connection) sent after it timed out answers,
 *    or fails other than by timing out (that connection is gone). One
 *    barrier at most is in flight and covers every call timed out before it
 *    was sent; one that times out is followed by the next, covering those
 *    too (so one PING per command timeout, however many calls timed out).
 *    Without a barrier a timeout is final too.
 *  - The cap: a timed-out call waits at most barrierWaits command timeouts
 *    (LEAN_LIMITS) for its barrier. Then every call still waiting counts as
 *    done (held calls are released), the fallback's connection is suspect
 *    (warned once, LL_REDIS_FALLBACK_SUSPECT) and its timeouts are final
 *    until a call or barrier there answers again.
 *  - release() sends nothing while the connection is not ready, a reload is
 *    on, or a fallback call is in flight; under steady traffic that is one
 *    drain, not a wait for an idle moment (new calls queue behind the held
 *    ones instead of going to the fallback).
 *
 * Known limits (lean-pipe.ts's header): after a drop made on the lean side the
 * server may still run bytes it had received, while the held calls go to the
 * fallback; order is then not proven. Past the cap, a given-up fallback call
 * that still runs later may be overtaken (the price of not failing every
 * call of a healthy lean connection while the fallback's socket hangs).
 */

import type { LeanTarget } from './lean-target.js';
import { deadlineTimer } from '../../../shared/deadline.js';

/** What the gate needs of a call: LeanPipe's pending entry is one. */
export interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** When it was queued (performance.now()). */
  at: number;
}

/** A call held before it is sent; `fallback` when route() made it: where it goes if the connection closes first. */
interface Held<P extends Waiter> {
  cmd: string;
  p: P;
  fallback?: (() => Promise<unknown>) | undefined;
}

export class RouteGate<P extends Waiter> {
  private held: Held<P>[] | undefined;
  private reloading = false;
  private holdTimer: NodeJS.Timeout | undefined;
  /** Calls sent to the fallback and not known to be done (answered, or proven run by a barrier, or given up on). */
  private viaFallback = 0;
  /** Timed-out fallback calls no barrier was sent for yet; and when the oldest of them timed out. */
  private unproven = 0;
  private unprovenSince = 0;
  /** Timed-out fallback calls the barrier in flight covers (sent after they timed out); when the oldest timed out. */
  private covered = 0;
  private coveredSince = 0;
  /** The barrier in flight (one at most), by number: a settle of an older one (given up on) counts nothing. */
  private barrierSeq = 0;
  private barrierInFlight = false;
  private giveUpTimer: NodeJS.Timeout | undefined;
  /** The fallback's connection left a barrier unanswered past the cap: its timeouts are final until it answers again. */
  private suspect = false;
  private readonly fallbackDone = (): void => {
    this.suspect = false;
    this.done(1);
  };
  /** A fallback call failed: done, unless it timed out and a barrier must first prove it ran (see the header). */
  private readonly fallbackFailed = (e: unknown): void => {
    if (!isTimeout(e)) { this.fallbackDone(); return; }
    if (this.t.fallbackBarrier === undefined || this.suspect) { this.done(1); return; }
    if (this.unproven === 0) this.unprovenSince = performance.now();
    this.unproven++;
    if (!this.barrierInFlight) this.sendBarrier();
    this.giveUpTimer ??= this.armGiveUp();
  };

  /**
   * @param t the connection's target: commandTimeoutMs (how long a call may stay held) and fallbackBarrier
   * @param isReady whether the lean connection is ready (held calls are sent only then)
   * @param sendNow queues a call on the lean connection (in call order)
   */
  constructor(
    private readonly t: Pick<LeanTarget, 'commandTimeoutMs' | 'fallbackBarrier' | 'warn'>,
    /** Command timeouts a timed-out fallback call may wait for its barrier before ordering gives up (LEAN_LIMITS). */
    private readonly barrierWaits: number,
    private readonly isReady: () => boolean,
    private readonly sendNow: (cmd: string, p: P) => void,
  ) {}

  /** Held calls (they count against LEAN_LIMITS). */
  get size(): number { return this.held?.length ?? 0; }

  /** Holds the call if it must wait (see the header) and says so; false: the caller sends it now. */
  hold(cmd: string, p: P, fallback: (() => Promise<unknown>) | undefined, ready: boolean): boolean {
    if (this.held === undefined) {
      if (ready && this.viaFallback === 0) return false;
      this.held = [];
    }
    this.held.push({ cmd, p, fallback });
    this.holdTimer ??= this.armHold(this.t.commandTimeoutMs);
    return true;
  }

  /** The call on the fallback, counted in flight until it is done (see the header). */
  toFallback(fallback: () => Promise<unknown>): Promise<unknown> {
    this.viaFallback++;
    const p = fallback();
    p.then(this.fallbackDone, this.fallbackFailed);
    return p;
  }

  /** A NOSCRIPT started a reload: new calls are held until reloaded(). False when one is already on. */
  startReload(): boolean {
    if (this.reloading) return false;
    this.reloading = true;
    this.held ??= [];
    return true;
  }

  /** The reload's PING answered on the same socket. */
  reloaded(): void {
    this.reloading = false;
    this.release();
  }

  /** Sends the held calls, in call order, once nothing holds them any more. */
  release(): void {
    const held = this.held;
    if (held === undefined || !this.isReady() || this.reloading || this.viaFallback > 0) return;
    this.held = undefined;
    if (this.holdTimer !== undefined) { clearTimeout(this.holdTimer); this.holdTimer = undefined; }
    for (const h of held) this.sendNow(h.cmd, h.p);
  }

  /**
   * The connection closed (after its calls in flight failed): held routed
   * calls go on the fallback, in call order; the others, and every one when
   * closed for good, reject with `err`.
   */
  failHeld(err: Error, closedForGood: boolean): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.reloading = false;
    if (this.holdTimer !== undefined) { clearTimeout(this.holdTimer); this.holdTimer = undefined; }
    for (const h of held) {
      if (h.fallback === undefined || closedForGood) h.p.reject(err);
      else this.toFallback(h.fallback).then(h.p.resolve, h.p.reject);
    }
  }

  private done(n: number): void {
    this.viaFallback -= n;
    if (this.viaFallback === 0) this.release();
  }

  /**
   * One PING on the fallback's connection for every call timed out so far
   * (a PING sent after a call timed out is answered after it ran): at most
   * one in flight, so N timeouts cost one PING per command timeout, not N.
   */
  private sendBarrier(): void {
    const seq = ++this.barrierSeq;
    if (this.covered === 0) this.coveredSince = this.unprovenSince;
    this.covered += this.unproven;
    this.unproven = 0;
    this.barrierInFlight = true;
    const settled = (proven: boolean): void => {
      if (seq !== this.barrierSeq) { if (proven) this.suspect = false; return; }
      this.barrierInFlight = false;
      if (proven) {
        // Answered, or its connection is gone (nothing sent on it runs any more): the covered calls are done.
        const n = this.covered;
        this.covered = 0;
        this.suspect = false;
        if (this.unproven === 0 && this.giveUpTimer !== undefined) { clearTimeout(this.giveUpTimer); this.giveUpTimer = undefined; }
        if (this.unproven > 0) this.sendBarrier();
        this.done(n);
      } else {
        this.sendBarrier(); // timed out itself: the next one covers its calls too
      }
    };
    this.t.fallbackBarrier!().then(() => settled(true), (e: unknown) => settled(!isTimeout(e)));
  }

  /** Deadlines here follow shared/deadline.ts (a barrier answer read in the turn the timer fires still counts). */
  private armGiveUp(ms = this.barrierWaits * this.t.commandTimeoutMs): NodeJS.Timeout {
    return deadlineTimer((t) => { if (this.giveUpTimer === t) this.giveUp(); }, ms);
  }

  /**
   * The cap: no barrier answered within barrierWaits command timeouts of the
   * oldest timed-out call still waiting for one. Those calls count as done
   * (ordering not proven, the header's known limit), the fallback's
   * connection is suspect (its timeouts are final until a call or barrier
   * there answers again), and held calls are released.
   */
  private giveUp(): void {
    this.giveUpTimer = undefined;
    const oldest = this.covered > 0 ? this.coveredSince : this.unprovenSince;
    const left = oldest + this.barrierWaits * this.t.commandTimeoutMs - performance.now();
    if (this.covered + this.unproven === 0) return;
    if (left > 1) { this.giveUpTimer = this.armGiveUp(left); return; }
    const n = this.covered + this.unproven;
    this.covered = 0;
    this.unproven = 0;
    this.barrierSeq++; // the barrier in flight, if it settles, counts nothing now
    this.barrierInFlight = false;
    if (!this.suspect) {
      this.suspect = true;
      this.t.warn?.(`lean Redis connection: ${n} timed-out calls on the ioredis client were not followed by an answered PING `
        + `within ${this.barrierWaits} command timeouts; call order across the two connections is no longer waited for `
        + `(the ioredis connection is taken as suspect until it answers again)`, 'LL_REDIS_FALLBACK_SUSPECT');
    }
    this.done(n);
  }

  private armHold(ms: number): NodeJS.Timeout {
    return deadlineTimer((t) => { if (this.holdTimer === t) this.expireHeld(); }, ms);
  }

  /** Rejects the held calls older than the command timeout (never sent: they did not run); re-arms for the oldest left. */
  private expireHeld(): void {
    this.holdTimer = undefined;
    const held = this.held;
    if (held === undefined) return;
    const now = performance.now();
    let n = 0;
    while (n < held.length && held[n]!.p.at + this.t.commandTimeoutMs <= now) n++;
    for (const h of held.splice(0, n)) h.p.reject(new Error('Command timed out'));
    if (held.length > 0) this.holdTimer = this.armHold(held[0]!.p.at + this.t.commandTimeoutMs - now);
  }
}

function isTimeout(e: unknown): boolean {
  return e instanceof Error && /timed out/i.test(e.message);
}
