/**
 * Structured logging (pino). Tokens, API keys and authorization headers are
 * redacted wherever they appear in a logged object; code must still never
 * pass a secret in a message string.
 */
import { pino } from 'pino';

/**
 * The one logging interface every module takes: structured fields first,
 * then a constant message. pino's logger satisfies it.
 */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const REDACT = [
  'token', '*.token', 'accessToken', '*.accessToken', 'access_token', '*.access_token',
  'apiKey', '*.apiKey', 'authorization', '*.authorization', 'headers.authorization',
  'secret', '*.secret', 'password', '*.password',
];

export function createLogger(name: string, level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ name, level, base: { pid: process.pid, ...bindings }, redact: { paths: REDACT, censor: '[redacted]' } });
}

/** Strips credentials from a request URL before it is logged. */
export function safeUrl(url: string): string {
  return url.replace(/([?&](?:access_token|token)=)[^&]*/gi, '$1[redacted]');
}
