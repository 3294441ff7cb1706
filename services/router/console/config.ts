/**
 * Operator console settings. The console is off unless an admin credential
 * is configured, with one exception: standalone dev mode (LONGLINK_DEV, the
 * built-in dev secret) turns it on with a credential generated per run and
 * printed in the banner, marked as dev.
 *
 * The credential is the console's own: it must differ from every push API
 * key, so a leaked push key never opens the console (and the console token
 * never pushes through /v1).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { loadConfig, optionalString, v, type ConfigOf } from '../../shared/config.js';

export const MIN_CONSOLE_TOKEN_CHARS = 24;

export const consoleSpec = {
  consoleToken: v('LONGLINK_CONSOLE_TOKEN', optionalString,
    `Admin credential of the operator console (/console on the push API port), sent as "Authorization: Bearer <token>"; >= ${MIN_CONSOLE_TOKEN_CHARS} characters, different from every API key. Unset: the console is off, except in standalone dev mode, which generates one per run.`,
    undefined, true),
  consoleMode: v('LONGLINK_CONSOLE', z.enum(['auto', 'off']), 'off: never serve the operator console, even in dev mode or with a token.', 'auto'),
} as const;

export type ConsoleSettings = ConfigOf<typeof consoleSpec>;

export type ConsoleAccess =
  | { enabled: false }
  /** `generated`: made up for this dev run (printed once, never logged). */
  | { enabled: true; token: string; generated: boolean; dev: boolean };

/**
 * Reads the console variables and decides whether the console runs.
 * `dev`: standalone's dev mode. `apiKeys`: the push API keys in force.
 */
export function loadConsoleAccess(env: NodeJS.ProcessEnv, opts: { dev: boolean; apiKeys: readonly string[] }): ConsoleAccess {
  const s = loadConfig(consoleSpec, env, (c) => {
    const t = c.consoleToken;
    if (t === undefined) return [];
    const problems: string[] = [];
    if (t.length < MIN_CONSOLE_TOKEN_CHARS) problems.push(`LONGLINK_CONSOLE_TOKEN: must be at least ${MIN_CONSOLE_TOKEN_CHARS} characters`);
    if (opts.apiKeys.includes(t)) problems.push('LONGLINK_CONSOLE_TOKEN: must differ from every LONGLINK_API_KEYS key (the console has its own credential)');
    if (/\s/.test(t)) problems.push('LONGLINK_CONSOLE_TOKEN: must not contain whitespace');
    return problems;
  });
  if (s.consoleMode === 'off') return { enabled: false };
  if (s.consoleToken !== undefined) return { enabled: true, token: s.consoleToken, generated: false, dev: opts.dev };
  if (opts.dev) return { enabled: true, token: `dev-console-${randomBytes(18).toString('base64url')}`, generated: true, dev: true };
  return { enabled: false };
}
