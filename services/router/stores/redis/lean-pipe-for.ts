/**
 * Which ioredis clients get a lean connection (lean-pipe.ts), and with which
 * settings: the client's own (address, credentials, db, timeouts, retry
 * strategy), so both connections reach the same server the same way.
 */
import { Redis } from 'ioredis';
import type { RedisClient } from './client.js';
import { LeanPipe } from './lean-pipe.js';

const pipes = new WeakMap<RedisClient, LeanPipe | null>();

/**
 * The lean connection of a standalone, non-TLS ioredis client (one per
 * client, shared by its stores), or undefined: a cluster, TLS, a sentinel
 * setup or a key prefix keep every call on ioredis.
 */
export function leanPipeFor(client: RedisClient): LeanPipe | undefined {
  const known = pipes.get(client);
  if (known !== undefined) return known ?? undefined;
  let pipe: LeanPipe | null = null;
  const o = client instanceof Redis ? client.options : undefined;
  if (o !== undefined && o.tls === undefined && (o.sentinels ?? null) === null
    && client.status !== 'end' && (o.keyPrefix ?? '') === '') {
    const retry = o.retryStrategy;
    pipe = new LeanPipe({
      host: o.host ?? '127.0.0.1', port: o.port ?? 6379, ...(o.path !== undefined && o.path !== null ? { path: o.path } : {}),
      ...(o.username !== undefined && o.username !== null && o.username !== '' ? { username: o.username } : {}),
      ...(o.password !== undefined && o.password !== null && o.password !== '' ? { password: o.password } : {}),
      db: o.db ?? 0, ...(o.connectionName !== undefined ? { name: o.connectionName } : {}),
      commandTimeoutMs: o.commandTimeout ?? 1000, connectTimeoutMs: o.connectTimeout ?? 1000,
      retryDelay: (n) => { const d = retry?.(n); return typeof d === 'number' ? d : 1000; },
      // A process warning (stderr, and 'warning' listeners): the stores have no logger of their own.
      warn: (message, code) => process.emitWarning(message, { code }),
      // Answered after every command sent before it on the ioredis connection (one connection, in order).
      fallbackBarrier: () => client.ping(),
    });
    const p = pipe;
    client.once('end', () => p.close());
  }
  pipes.set(client, pipe);
  return pipe ?? undefined;
}
