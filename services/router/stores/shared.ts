/**
 * What the store adapters share, so that no adapter imports another: the
 * session id format (memory and Redis sessions) and the Redis stores' common
 * options.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { RedisClient } from './redis/client.js';

/**
 * Random ids on hot paths (a session id per session open, an epoch per
 * channel append) are cut from one CSPRNG draw of `perDraw` ids instead of
 * one randomBytes call each (~1.5 % of the router's CPU in a reconnect
 * storm, 2 % at 2,000 publishes/s). Each id's bytes are used once and zeroed
 * as they are taken, so the pool never holds an id already handed out (a
 * heap dump or a leaked buffer shows only ids not issued yet).
 */
function randomIdPool(bytes: number, perDraw: number): () => string {
  let pool = Buffer.alloc(0);
  let at = 0;
  return () => {
    if (at + bytes > pool.length) { pool = randomBytes(perDraw * bytes); at = 0; }
    const id = pool.toString('base64url', at, at + bytes);
    pool.fill(0, at, at + bytes);
    at += bytes;
    return id;
  };
}

/** 128 random bits, base64url (22 characters): unguessable, URL- and header-safe. */
export const newSessionId: () => string = randomIdPool(16, 256);

/**
 * A channel epoch: 12 random base64url characters, so a new epoch never
 * equals an old one by chance. The Redis history passes one with every
 * append (used only when the channel's epoch is gone), so it is on the
 * publish path.
 */
export const newEpoch: () => string = randomIdPool(9, 512);

export interface RedisStoreOptions {
  /** Shared client (see redis/client.ts: createRedis); the store never quits it. */
  redis: RedisClient;
  /** First part of every key. Default "ll". */
  prefix?: string;
  /** Wall clock for expiry decisions; default: the Redis server's TIME (see redis/script.ts). */
  clock?: Clock;
}
