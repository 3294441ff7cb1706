/**
 * Settings every cluster-mode process shares: where NATS and Redis are, and
 * the subject/key prefix. Standalone mode needs none of them.
 */
import { z } from 'zod';
import { csv, int, v, type ConfigOf } from './config.js';

export const natsSpec = {
  natsUrls: v('LONGLINK_NATS_URLS', csv.refine((a) => a.length > 0, 'at least one URL'), 'NATS servers, comma-separated (nats://host:4222,...). Give several for failover.', 'nats://127.0.0.1:4222'),
  natsPingIntervalMs: v('LONGLINK_NATS_PING_INTERVAL_MS', int(100, 600_000), 'NATS client PING interval (ms); two missed PONGs mark the link stale (a silent partition is noticed within about 2-3 intervals, then /readyz turns unready).', '20000'),
  prefix: v('LONGLINK_SUBJECT_PREFIX', z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'dot-separated tokens of [A-Za-z0-9_-]'), 'Prefix of every NATS subject and Redis key.', 'longlink'),
} as const;

export const redisSpec = {
  redisUrl: v('LONGLINK_REDIS_URL', z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://'), 'Redis URL (router only): redis://[:password@]host:port[/db].', 'redis://127.0.0.1:6379', true),
  redisClusterNodes: v('LONGLINK_REDIS_CLUSTER_NODES', csv.refine((a) => a.every((u) => /^rediss?:\/\//.test(u)), 'each must start with redis:// or rediss://'), 'Redis Cluster seed nodes (comma-separated redis://[:password@]host:port; the first one\'s user and password authenticate every node); when set, used instead of LONGLINK_REDIS_URL. Keys are hash-tagged per user, so every script stays on one slot.', '', true),
} as const;

export type NatsSettings = ConfigOf<typeof natsSpec>;
export type RedisSettings = ConfigOf<typeof redisSpec>;
