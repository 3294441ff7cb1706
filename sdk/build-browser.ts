/**
 * Builds the browser bundle of the SDK with esbuild, from the TypeScript
 * sources (esbuild maps the `.js` import suffixes to the `.ts` files):
 *
 *   dist/sdk/browser/longlink.mjs   ES module
 *   dist/sdk/browser/longlink.js    IIFE, global `Longlink`
 *
 * `platform: 'browser'` is also the guard that the browser entry pulls in
 * nothing from Node: a `node:` or `ws` import would fail the build.
 *
 * CLI: `node dist/sdk/build-browser.js [outdir]` (after `npm run build`).
 * The browser test calls `buildBrowserBundle()` itself.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';

/** The repository root: the nearest directory above this file whose package.json is "longlink". */
export function repoRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'longlink') return dir;
    if (path.dirname(dir) === dir) throw new Error('repository root (package.json "longlink") not found');
  }
}

export interface BrowserBundle {
  esm: string;
  iife: string;
  bytes: { esm: number; iife: number };
}

export async function buildBrowserBundle(outdir?: string): Promise<BrowserBundle> {
  const root = repoRoot();
  const out = outdir ?? path.join(root, 'dist', 'sdk', 'browser');
  const common = {
    entryPoints: [path.join(root, 'sdk', 'src', 'browser.ts')],
    bundle: true,
    platform: 'browser' as const,
    target: 'es2020',
    sourcemap: true,
    metafile: true,
    logLevel: 'silent' as const,
  };
  const esm = path.join(out, 'longlink.mjs');
  const iife = path.join(out, 'longlink.js');
  const [a, b] = await Promise.all([
    build({ ...common, format: 'esm', outfile: esm }),
    build({ ...common, format: 'iife', globalName: 'Longlink', outfile: iife }),
  ]);
  const size = (r: { metafile?: Metafile }, file: string): number => r.metafile?.outputs[path.relative(process.cwd(), file)]?.bytes ?? 0;
  return { esm, iife, bytes: { esm: size(a, esm), iife: size(b, iife) } };
}

const invokedDirectly = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  buildBrowserBundle(process.argv[2]).then(
    (r) => console.log(`${r.esm} (${r.bytes.esm} B)\n${r.iife} (${r.bytes.iife} B)`),
    (err: unknown) => { console.error(err); process.exit(1); },
  );
}
