/**
 * Lua plumbing shared by the Redis stores: script registration, the common
 * Lua prelude, the time argument, and typed reading of script replies.
 *
 * Time: every script takes `now` as its first ARGV. Empty means "use the
 * server's TIME", the default and the right choice with several routers: one
 * clock for every router, and the same clock Redis uses to expire keys. A
 * store built with a `clock` passes `clock.wallNow()` instead (epoch ms, never
 * the per-process monotonic `now()`: values are stored and compared across
 * processes and restarts). Per-item expiries (inbox entries, sessions,
 * leases, tombstones) are compared with that `now`; whole keys are expired by
 * Redis at the same absolute times (PEXPIREAT/PXAT), so an injected clock
 * must track the server's wall clock.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../../shared/clock.js';
import type { RedisClient } from './client.js';
import { leanPipeFor } from './lean-pipe-for.js';

export type ScriptArg = string | number;
export type RunScript = (keys: readonly string[], args: readonly ScriptArg[]) => Promise<unknown>;

/**
 * Helpers every script starts with (after its shebang line, see defineScript).
 *  - now_ms: ARGV[1] or the server's TIME, in integer ms. Redis 7 replicates
 *    script effects, so reading TIME before writing is allowed and the AOF
 *    records the resulting values, not the call.
 *  - fmt: integers as plain digits (Lua would print 1e+17 for big numbers).
 *  - extend_to: moves a key's expiry out to `at`, never in, so a key holding
 *    items with their own expiry lives as long as its longest-lived item.
 */
export const LUA_PRELUDE = `
local function now_ms(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function fmt(n) return string.format('%.0f', n) end
local function extend_to(key, at)
  local cur = redis.call('PEXPIRETIME', key)
  if cur == -1 or (cur >= 0 and cur < at) then redis.call('PEXPIREAT', key, fmt(at)) end
end
`;

/**
 * Registers `lua` (prelude prepended) on the client with defineCommand and
 * returns a caller taking keys and args. The command name carries a hash of
 * the source, so two versions of a script never collide on a shared client,
 * and registering the same script twice is a no-op.
 *
 * Every script starts with a Redis 7 shebang (`#!lua`), which opts it out of
 * the legacy compatibility mode: the server then refuses any key access
 * outside the slot of the declared keys (even keys a script derives itself,
 * which legacy mode lets through on a node that happens to own both slots),
 * so a cross-slot mistake fails in every test instead of only on a real
 * multi-node cluster. Read-only scripts are flagged `no-writes`, so they may
 * run on replicas and are not refused when the server is out of memory.
 */
export function defineScript(client: RedisClient, name: string, lua: string, opts: { readOnly?: boolean } = {}): RunScript {
  return defineSource(client, name, scriptSource(lua, opts), opts);
}

/** A script's full text: shebang line, prelude, body. Built in one place, so both connections run (and hash) the same text. */
function scriptSource(lua: string, opts: { readOnly?: boolean }): string {
  return (opts.readOnly === true ? '#!lua flags=no-writes\n' : '#!lua\n') + LUA_PRELUDE + lua;
}

function defineSource(client: RedisClient, name: string, source: string, opts: { readOnly?: boolean }): RunScript {
  const command = `longlink_${name}_${createHash('sha1').update(source).digest('hex').slice(0, 10)}`;
  const host = client as unknown as Record<string, unknown>;
  if (typeof host[command] !== 'function') client.defineCommand(command, { lua: source, readOnly: opts.readOnly === true });
  return (keys, args) => {
    const fn = host[command] as (...a: ScriptArg[]) => Promise<unknown>;
    return fn.call(client, keys.length, ...keys, ...args);
  };
}

/**
 * defineScript for the push path's hot scripts: calls go on the client's
 * lean connection (lean-pipe.ts: one write per event-loop turn, no ioredis
 * command objects) while it is ready, and on the ioredis client otherwise
 * (a cluster, TLS, or the lean connection reconnecting), so availability and
 * fail-fast behaviour are the ioredis client's. Same source, same replies.
 * Call order across the two holds (LeanPipe.route): a store whose calls all
 * go through hot scripts keeps its calls applied in call order.
 */
export function defineHotScript(client: RedisClient, name: string, lua: string, opts: HotScriptOptions = {}): RunScript {
  const source = scriptSource(lua, opts);
  const viaClient = defineSource(client, name, source, opts);
  const pipe = leanPipeFor(client);
  if (pipe === undefined) return viaClient;
  const sha = pipe.register(source);
  const reserved = opts.reserved === true;
  return (keys, args) => pipe.route(sha, keys, args, () => viaClient(keys, args), reserved);
}

export interface HotScriptOptions {
  readOnly?: boolean;
  /**
   * A lease-keeping step (the gateway's beacon): may use the lean
   * connection's reserve past its overload bounds (LeanPipe.route), so a
   * push overload does not refuse the calls that keep gateways' leases.
   * Not for per-connection steps: a reconnect storm's would fill it.
   */
  reserved?: boolean;
}

/** HGET as a script, so it takes the same route as a store's other calls (call order). */
export const HGET_ONE = `return redis.call('HGET', KEYS[1], ARGV[1])`;

/** ARGV[1] of every script: the injected wall clock in ms, or '' for the server's TIME. */
export function nowArg(clock: Clock | undefined): string {
  return clock ? String(Math.floor(clock.wallNow())) : '';
}

// ---- replies ------------------------------------------------------------------------

export class ReplyShapeError extends Error {
  constructor(what: string, got: unknown) {
    super(`unexpected redis reply: expected ${what}, got ${JSON.stringify(got)}`);
    this.name = 'ReplyShapeError';
  }
}

export function asArray(v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new ReplyShapeError('an array', v);
  return v;
}

export function asString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw new ReplyShapeError('a string', v);
}

export function asNumber(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new ReplyShapeError('a number', v);
  return n;
}
