/**
 * One rule for store failures, shared by the push path and the gateway
 * events: any error from a store becomes STORE_UNAVAILABLE (HTTP 503, or an
 * error reply on the bus), counted and logged once with the operation's name.
 */
import { Errors, LonglinkError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { RouterStats } from './router-types.js';

export type StoreCall = <T>(op: string, p: Promise<T>) => Promise<T>;

/** Whether the last store call failed (readiness: a hung server keeps its socket open, so its connection status misses it). */
export interface StoreHealth { failing: boolean }

export function storeCall(stats: RouterStats, log: Pick<Logger, 'warn'>, health: StoreHealth = { failing: false }): StoreCall {
  const failed = (op: string, err: unknown): never => {
    if (err instanceof LonglinkError) throw err;
    health.failing = true;
    stats.storeErrors++;
    log.warn({ op, err: err instanceof Error ? err.message : String(err) }, 'store operation failed');
    throw new LonglinkError(Errors.STORE_UNAVAILABLE, op);
  };
  // One then() per call rather than an async wrapper: every push makes one or more of these.
  return <T>(op: string, p: Promise<T>): Promise<T> => p.then((v) => { health.failing = false; return v; }, (err: unknown) => failed(op, err));
}
