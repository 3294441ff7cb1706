/**
 * Structured logging (pino). Tokens, API keys and authorization headers are
 * redacted wherever they appear in a logged object; code must still never
 * pass a secret in a message string.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

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
