/**
 * Bundles the console page at build time (`npm run build` runs this after
 * tsc): ui/app.ts → app.js (esbuild, one same-origin script, no runtime
 * dependencies), ui/app.css → app.css, ui/index.html and icon.svg copied, all into
 * dist/services/router/console/assets/. The router serves these files and
 * nothing else; nothing is fetched from a CDN.
 *
 * CLI: `node dist/services/router/console/build-ui.js [outdir]`.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/services/router/console → the repository (or image build) root. */
const root = path.resolve(here, '..', '..', '..', '..');

export async function buildConsoleUi(outdir = path.join(here, 'assets')): Promise<string> {
  const src = path.join(root, 'services', 'router', 'console', 'ui');
  await mkdir(outdir, { recursive: true });
  await Promise.all([
    build({
      entryPoints: [path.join(src, 'app.ts')], bundle: true, platform: 'browser', format: 'iife', target: 'es2020',
      minify: true, legalComments: 'none', outfile: path.join(outdir, 'app.js'), logLevel: 'warning',
    }),
    build({ entryPoints: [path.join(src, 'app.css')], bundle: true, minify: true, outfile: path.join(outdir, 'app.css'), logLevel: 'warning' }),
    copyFile(path.join(src, 'index.html'), path.join(outdir, 'index.html')),
    copyFile(path.join(src, 'icon.svg'), path.join(outdir, 'icon.svg')),
  ]);
  return outdir;
}

const invokedDirectly = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  buildConsoleUi(process.argv[2]).catch((err: unknown) => { console.error(err); process.exit(1); });
}
