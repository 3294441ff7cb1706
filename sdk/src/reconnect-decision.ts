/**
 * What a client does after it loses a connection or an attempt: the pure
 * decision at the heart of the reconnect machine (reconnect-machine.ts), from
 * the close code's advice (protocol/close-codes.ts) or the refused upgrade's
 * HTTP status. No timers and no I/O, so the load tools (and their k6 bundle)
 * take their reconnect decisions from here too.
 */
import { Close, closeCodeInfo } from '../../protocol/index.js';
import { SERVER_WAIT_MIN_MS, backoffDelay, retryAfterDelay, trustedServerWait, type BackoffConfig } from './backoff.js';

export type TerminalState = 'replaced' | 'kicked' | 'logged-out' | 'failed' | 'closed';

/** Why a connection (or an attempt) ended. */
export interface LossInfo {
  /** WebSocket close code (1006: no close frame, connect failure, zombie). */
  code: number;
  reason: string;
  /** The client's heartbeat timeout fired (the link was a zombie). */
  zombie?: boolean;
  /** A refused upgrade, where the platform shows it. */
  httpStatus?: number;
  retryAfterMs?: number;
  /** retryAfterMs came from Retry-After-Ms: honoured exactly, without jitter (backoff.ts). */
  retryAfterExact?: boolean;
  errorCode?: string;
  /** Remaining wait from a `reconnect` frame received on this connection. */
  reconnectDelayMs?: number;
  /** This attempt used a token fetched with `refresh: true`. */
  usedFreshToken?: boolean;
  /** The app's token provider failed. */
  tokenError?: boolean;
}

export type Decision =
  | { kind: 'terminal'; state: TerminalState; why: string }
  | { kind: 'retry'; delayMs: number; refreshToken: boolean; serverWait: boolean; countsAsAttempt: boolean; why: string };

const TERMINAL_BY_CODE: ReadonlyMap<number, TerminalState> = new Map<number, TerminalState>([
  [Close.REPLACED, 'replaced'],
  [Close.KICKED, 'kicked'],
  [Close.LOGGED_OUT, 'logged-out'],
  [Close.NORMAL, 'closed'],
]);

/** Pure: what to do after a loss, given the backoff attempt number. */
export function decide(info: LossInfo, attempt: number, cfg: BackoffConfig, random: () => number): Decision {
  const backoff = (why: string, refreshToken = false): Decision =>
    ({ kind: 'retry', delayMs: backoffDelay(cfg, attempt, random), refreshToken, serverWait: false, countsAsAttempt: true, why });
  // A server wait below the floor (0 from a buggy or hostile gateway) is not a schedule: back off as for any
  // loss, counted as an attempt so the window grows, and never sooner than the floor (backoff.ts).
  const tooShort = (why: string): Decision =>
    ({ kind: 'retry', delayMs: Math.max(SERVER_WAIT_MIN_MS, backoffDelay(cfg, attempt, random)), refreshToken: false, serverWait: true, countsAsAttempt: true, why: `${why} (server wait below ${SERVER_WAIT_MIN_MS} ms: backoff)` });
  if (info.tokenError) return backoff('token provider failed', true);
  if (info.httpStatus !== undefined) {
    const s = info.httpStatus;
    if (s === 401) {
      // Expired or missing → fetch a fresh token. Rejected even with a fresh one → stop, or we would loop.
      if (info.usedFreshToken) return { kind: 'terminal', state: 'failed', why: `upgrade refused: 401 ${info.errorCode ?? ''} with a fresh token`.trim() };
      return { kind: 'retry', delayMs: 0, refreshToken: true, serverWait: false, countsAsAttempt: false, why: `upgrade refused: 401 ${info.errorCode ?? ''}`.trim() };
    }
    // 400/404: bad request or wrong URL; 426: the platform's WebSocket version is not 13. Retrying cannot help.
    if (s === 400 || s === 404 || s === 426) return { kind: 'terminal', state: 'failed', why: `upgrade refused: ${s} ${info.errorCode ?? ''} (client bug or wrong URL)`.trim() };
    // 503 (gateway busy or draining) and 429 (this address over its attempt budget) name their wait.
    if ((s === 503 || s === 429) && info.retryAfterMs !== undefined) {
      const why = `upgrade refused: ${s}, Retry-After ${info.retryAfterMs} ms`;
      const wait = trustedServerWait(info.retryAfterMs);
      if (wait === undefined) return tooShort(why);
      return { kind: 'retry', delayMs: retryAfterDelay(cfg, wait, random, info.retryAfterExact === true), refreshToken: false, serverWait: true, countsAsAttempt: true, why };
    }
    return backoff(`upgrade refused: ${s}`);
  }
  if (info.zombie) return backoff('heartbeat timeout (zombie link)');
  const advice = closeCodeInfo(info.code)?.reconnect ?? 'backoff';
  switch (advice) {
    case 'no':
      return { kind: 'terminal', state: TERMINAL_BY_CODE.get(info.code) ?? 'failed', why: `closed ${info.code} ${closeCodeInfo(info.code)?.name ?? ''}`.trim() };
    case 'refresh-token':
      // Straight to a token refresh; but if even a fresh token expired at once, slow down.
      return info.usedFreshToken ? backoff('token expired again', true)
        : { kind: 'retry', delayMs: 0, refreshToken: true, serverWait: false, countsAsAttempt: false, why: 'token expired' };
    case 'after-delay':
      if (info.reconnectDelayMs !== undefined) {
        const why = info.code === Close.DRAINING ? 'gateway draining' : `closed ${info.code} ${closeCodeInfo(info.code)?.name ?? ''}: retry after the server's delay`;
        const wait = trustedServerWait(info.reconnectDelayMs);
        // A drain spreads its clients from 0 ms up (LONGLINK_DRAIN_RECONNECT_JITTER_MS): a short draw is normal there,
        // not a loss. It waits the floor plus jitter, not counted, so rolling deploys never climb the backoff ladder;
        // a server that answers every attempt this way still gets at most ~3 attempts a second.
        if (wait === undefined && info.code === Close.DRAINING) {
          return { kind: 'retry', delayMs: Math.round(SERVER_WAIT_MIN_MS * (1 + random())), refreshToken: false, serverWait: true, countsAsAttempt: false, why: `${why} (server wait below ${SERVER_WAIT_MIN_MS} ms)` };
        }
        if (wait === undefined) return tooShort(why);
        return { kind: 'retry', delayMs: wait, refreshToken: false, serverWait: true, countsAsAttempt: false, why };
      }
      return backoff(`closed ${info.code} ${closeCodeInfo(info.code)?.name ?? ''} without a reconnect frame`);
    case 'backoff':
      return backoff(`closed ${info.code} ${closeCodeInfo(info.code)?.name ?? 'unknown code'}`);
  }
}

