/**
 * `parseArgs` for the benchmarks: `--help` lists every flag with its default,
 * and an unknown or malformed flag prints the error and that list (exit 2)
 * instead of a stack trace. What each flag means is in the header comment of
 * the benchmark's source and in docs/benchmarks.md.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Config = ParseArgsConfig & { options: NonNullable<ParseArgsConfig['options']> };

export function benchArgs<T extends Config>(command: string, config: T): ReturnType<typeof parseArgs<T>> {
  const argv = config.args ?? process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage(command, config.options));
    process.exit(0);
  }
  try {
    return parseArgs(config);
  } catch (e) {
    process.stderr.write(`${command}: ${(e as Error).message}\n\n${usage(command, config.options)}`);
    process.exit(2);
  }
}

export function usage(command: string, options: Config['options']): string {
  const flags = Object.entries(options).map(([name, o]) => {
    const value = o.type === 'string' ? ' <value>' : '';
    const def = o.default === undefined ? '' : `  (default: ${Array.isArray(o.default) ? o.default.join(',') : String(o.default)})`;
    return `  --${name}${value}${def}`;
  });
  return `usage: npm run ${command} -- [flags]\n${flags.join('\n')}\n`;
}
