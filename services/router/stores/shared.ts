/**
 * What the store adapters share, so that no adapter imports another: the
 * session id format (memory and Redis sessions) and the Redis stores' common
 * options.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { RedisClient } from './redis/client.js';

/**
 * Session ids are cut from one 4 KiB draw of the CSPRNG, 256 at a time:
 * a session open (every session start, resumed or not, draws a candidate)
 * cost one randomBytes call each, ~1.5 % of the router's CPU in a reconnect
 * storm (bench:storm --cpu-prof). Each id's 16 bytes are used once and
 * zeroed as they are taken, so the pool never holds an id already handed
 * out (a heap dump or a leaked buffer shows only ids not issued yet).
 */
const ID_BYTES = 16;
let idPool = Buffer.alloc(0);
let idAt = 0;

/** 128 random bits, base64url (22 characters): unguessable, URL- and header-safe. */
export function newSessionId(): string {
  if (idAt + ID_BYTES > idPool.length) { idPool = randomBytes(256 * ID_BYTES); idAt = 0; }
  const id = idPool.toString('base64url', idAt, idAt + ID_BYTES);
  idPool.fill(0, idAt, idAt + ID_BYTES);
  idAt += ID_BYTES;
  return id;
}

/** Random bytes for epochs, drawn 9 at a time; each byte is used once. */
const EPOCH_BYTES = 9, EPOCH_POOL = 9 * 512;
let epochPool = Buffer.alloc(0), epochAt = 0;

/**
 * A channel epoch: 12 random base64url characters, so a new epoch never
 * equals an old one by chance. The Redis history passes one with every
 * append (used only when the channel's epoch is gone), so this is on the
 * publish path: the bytes come from a pool refilled 512 epochs at a time
 * (one randomBytes call was 2 % of the router's CPU at 2,000 publishes/s).
 */
export function newEpoch(): string {
  if (epochAt + EPOCH_BYTES > epochPool.length) { epochPool = randomBytes(EPOCH_POOL); epochAt = 0; }
  epochAt += EPOCH_BYTES;
  return epochPool.toString('base64url', epochAt - EPOCH_BYTES, epochAt);
}

export interface RedisStoreOptions {
  /** Shared client (see redis/client.ts: createRedis); the store never quits it. */
  redis: RedisClient;
  /** First part of every key. Default "ll". */
  prefix?: string;
  /** Wall clock for expiry decisions; default: the Redis server's TIME (see redis/script.ts). */
  clock?: Clock;
}
