/**
 * What a lean connection (lean-pipe.ts) connects to and its bounds, and the
 * errors it rejects calls with. In their own file so lean-pipe.ts holds only
 * the connection's logic.
 */
export interface LeanLimits {
  maxPendingCalls: number;
  maxPendingBytes: number;
  maxRefusedConnects: number;
  refusedRetryMs: number;
  reservedCalls: number;
  reservedBytes: number;
}

/** Bounds of one lean connection (docs/deploy.md, the Redis section, says what they mean to an operator). */
export const LEAN_LIMITS: Readonly<LeanLimits> = Object.freeze({
  /** Calls sent or queued and not answered yet (timed-out ones included) before new calls are refused. */
  maxPendingCalls: 50_000,
  /** Bytes queued for the socket and not yet taken by the kernel before new calls are refused. */
  maxPendingBytes: 8 * 1024 * 1024,
  /** Connects in a row with a refused step before calls stay on the ioredis client. */
  maxRefusedConnects: 5,
  /** Retry interval of the lean connection once it gave up that way (ms). */
  refusedRetryMs: 60_000,
  /** Extra calls a reserved call (a gateway step: beacon, online, offline, sweep) may add past maxPendingCalls. */
  reservedCalls: 1_000,
  /** Extra bytes a reserved call may add past maxPendingBytes. */
  reservedBytes: 512 * 1024,
});

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
  /** Said once when refused connects send every call to the ioredis client. */
  warn?: (message: string) => void;
  /**
   * A call on the fallback's connection whose answer proves the calls sent
   * there before it have run (a PING): a fallback call that timed out counts
   * as done only once it answers (lean-route.ts, RouteGate).
   */
  fallbackBarrier?: () => Promise<unknown>;
  /** LEAN_LIMITS, overridable (tests). */
  limits?: Partial<LeanLimits>;
}

export class ConnectionClosedError extends Error {
  constructor(message = 'Connection is closed.') {
    super(message);
    this.name = 'ConnectionClosedError';
  }
}

/** Too many calls wait on the lean connection (a stalled server): refused at once, like a down store. */
export class LeanOverloadError extends Error {
  constructor(what: string) {
    super(`Redis connection overloaded: ${what}`);
    this.name = 'LeanOverloadError';
  }
}
