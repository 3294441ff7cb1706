/**
 * `npm run build:k6`: bundles each k6 script (loadtest/k6/<name>.ts) into
 * dist/k6/<name>.js, the file to hand to `k6 run`. The scripts share the
 * protocol module with the gateway, router, SDK and Node load tools; its
 * imports follow Node's ESM rules (`./codec.js` names `codec.ts`), which
 * k6's own module loader does not resolve, so the scripts ship bundled. k6's
 * modules (`k6`, `k6/*`) stay imports; nothing from Node or the DOM may be
 * pulled in (platform 'neutral' fails the build on a Node built-in).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const K6_DIR = path.join(root, 'loadtest/k6');

/** The scenario scripts: every .ts in loadtest/k6 but the shared wiring and declarations. */
export function k6Scripts(): string[] {
  return readdirSync(K6_DIR).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== 'common.ts').sort();
}

/** esbuild options shared by the real bundle and the tests' init-context check. */
export function k6BuildOptions(script: string): BuildOptions {
  return {
    entryPoints: [path.join(K6_DIR, script)], bundle: true, format: 'esm', platform: 'neutral',
    // k6's JavaScript runtime (Sobek) covers ES2020 well; newer syntax is lowered.
    target: 'es2020', external: ['k6', 'k6/*'], logLevel: 'silent', legalComments: 'none',
  };
}

export async function bundleK6Scripts(outDir = path.join(root, 'dist/k6')): Promise<string[]> {
  const out: string[] = [];
  for (const f of k6Scripts()) {
    const outfile = path.join(outDir, f.replace(/\.ts$/, '.js'));
    await build({ ...k6BuildOptions(f), outfile });
    out.push(outfile);
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  bundleK6Scripts().then(
    (files) => { for (const f of files) console.log(`k6 script: ${path.relative(process.cwd(), f)}`); },
    (err: unknown) => { console.error(err instanceof Error ? err.message : err); process.exit(1); },
  );
}
