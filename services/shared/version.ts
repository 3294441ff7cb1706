/**
 * The running software's version, from the package.json shipped beside
 * dist/ (the image copies it). Gateways put it in their beacons so operators
 * see mixed versions during a rollout.
 */
import { readFileSync } from 'node:fs';

function read(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const VERSION: string = read();
