/**
 * Environment-variable configuration: each service declares a table of
 * variables (name, schema, default, description); `loadConfig` validates them
 * all at once, reports every bad variable by name, and returns a frozen
 * object. `helpText` renders the same table for `--help`, so the docs can't
 * drift from what is parsed.
 */
import { z } from 'zod';
import { Errors, LonglinkError } from './errors.js';

export interface VarSpec<T> {
  readonly env: string;
  readonly schema: z.ZodType<T>;
  /** Raw string default; `undefined` means optional with no value. */
  readonly default?: string;
  readonly description: string;
  /** Never printed (help shows "(secret)"; errors don't echo the value). */
  readonly secret?: boolean;
}

export type ConfigSpec = Record<string, VarSpec<unknown>>;
export type ConfigOf<S extends ConfigSpec> = { readonly [K in keyof S]: S[K] extends VarSpec<infer T> ? T : never };

export function v<T>(env: string, schema: z.ZodType<T>, description: string, def?: string, secret = false): VarSpec<T> {
  return { env, schema, description, ...(def !== undefined ? { default: def } : {}), secret };
}

// ---- reusable schemas ----
/**
 * A decimal number (surrounding spaces allowed): not what Number() takes, which reads a blank value as 0 (and for
 * caps, rates and ports 0 means off, no limit or any port), and `0x1f`, `0b1`, `0o7` and `Infinity` as numbers.
 */
const DECIMAL = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
export const decimal = z.string({ error: 'must be a decimal number' }).regex(DECIMAL, 'must be a decimal number').transform(Number);
export const int = (min: number, max: number) => decimal.pipe(z.number().int().min(min).max(max));
export const num = (min: number, max: number) => decimal.pipe(z.number().min(min).max(max));
export const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']).transform((s) => ['true', '1', 'yes', 'on'].includes(s));
export const optionalString = z.string().min(1).optional();
export const csv = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));

export class ConfigError extends LonglinkError {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(Errors.CONFIG_INVALID, '\n  ' + problems.join('\n  '));
    this.problems = problems;
  }
}

/** Validates `env` against `spec`; throws ConfigError naming every bad variable. */
export function loadConfig<S extends ConfigSpec>(spec: S, env: NodeJS.ProcessEnv = process.env, check?: (c: ConfigOf<S>) => string[]): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, s] of Object.entries(spec)) {
    const raw = env[s.env] !== undefined && env[s.env] !== '' ? env[s.env] : s.default;
    const res = s.schema.safeParse(raw);
    if (res.success) out[key] = res.data;
    else {
      const why = res.error.issues.map((i) => i.message).join('; ');
      const shown = s.secret || raw === undefined ? '' : ` (got ${JSON.stringify(raw.length > 80 ? raw.slice(0, 80) + '…' : raw)})`;
      problems.push(`${s.env}: ${why}${shown}`);
    }
  }
  if (problems.length === 0 && check) problems.push(...check(out as ConfigOf<S>));
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as ConfigOf<S>;
}

/** `--help` text: one block per variable with its default. */
export function helpText(title: string, specs: ConfigSpec[]): string {
  const lines = [title, '', 'Configuration (environment variables):', ''];
  for (const spec of specs) {
    for (const s of Object.values(spec)) {
      const def = s.secret ? '(secret, no default)' : s.default !== undefined ? `default: ${s.default}` : 'default: unset';
      lines.push(`  ${s.env}`, `      ${s.description}`, `      ${def}`);
    }
  }
  return lines.join('\n');
}
