/**
 * What the store adapters share, so that no adapter imports another: the
 * session id format (memory and Redis sessions) and the Redis stores' common
 * options.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { RedisClient } from './redis/client.js';

/** 128 random bits, base64url (22 characters): unguessable, URL- and header-safe. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

/** A channel epoch: 12 random base64url characters, so a new epoch never equals an old one by chance. */
export function newEpoch(): string {
  return randomBytes(9).toString('base64url');
}

export interface RedisStoreOptions {
  /** Shared client (see redis/client.ts: createRedis); the store never quits it. */
  redis: RedisClient;
  /** First part of every key. Default "ll". */
  prefix?: string;
  /** Wall clock for expiry decisions; default: the Redis server's TIME (see redis/script.ts). */
  clock?: Clock;
}
