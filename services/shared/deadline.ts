/**
 * Deadlines that a stalled process does not miss by itself.
 *
 * Node runs a loop turn's expired timers before its poll phase reads the
 * sockets. When the process is stalled past a deadline (CPU starvation, a
 * long GC pause, SIGSTOP) while the awaited reply already sits in the
 * socket buffer, a plain setTimeout fires first and fails a call whose
 * answer is waiting. A setImmediate callback runs in the check phase, after
 * the poll phase of the same turn: the answer has been read by then.
 *
 * Contract of `deadlineTimer(fn, ms)`: `fn` runs no earlier than `ms` after
 * the call and not before pending I/O has been read once after the timer
 * fired. `fn` gets its timer and must re-check whether its call is still
 * pending: the I/O read in between may have settled it, and a timer cleared
 * after it fired (clearTimeout is then too late to stop `fn`) is stale, so
 * callers compare it with the timer they hold. The timer is unref'd (a
 * deadline never keeps a process alive); the setImmediate is made only when
 * a deadline is actually reached, so the common path costs one timer as
 * before.
 *
 * Used by the lean Redis connection's command timeouts and held-call and
 * barrier deadlines (router/stores/redis/lean-pipe.ts, lean-route.ts) and
 * by every NATS bus request (bus/nats-requests.ts: the bus's own reply
 * subscription, since the client's request() arms a plain timer; it keeps
 * the client's permission-error and no-responders handling) and by the
 * router's delivery and ack receipt waits (router/core/receipts.ts, re-ref'd
 * there: a push waiting for its receipt keeps the process up, as before).
 * The router's ioredis connection still uses the client's own
 * commandTimeout (a plain timer).
 *
 * Limit: "read once" is one poll phase, and libuv reads at most ~2 MiB from
 * one socket per poll phase (32 reads of 64 KiB). A reply queued behind more
 * than that (e.g. a gateway's fan-out traffic piled up during the stall) can
 * still be missed; so can one still queued on the server side.
 */
export function deadlineTimer(fn: (timer: NodeJS.Timeout) => void, ms: number): NodeJS.Timeout {
  const t: NodeJS.Timeout = setTimeout(() => setImmediate(fn, t), Math.max(1, ms));
  t.unref();
  return t;
}
