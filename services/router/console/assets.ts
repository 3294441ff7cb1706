/**
 * The console page's files, bundled at build time by build-ui.ts into
 * dist/services/router/console/assets/ and read once at start.
 */
import { readFile } from 'node:fs/promises';
import type { ConsoleAssets } from './http.js';

export const ASSETS_DIR = new URL('./assets/', import.meta.url);

/** undefined when the bundle is missing (the sources were compiled without `npm run build`). */
export async function loadConsoleAssets(dir: URL = ASSETS_DIR): Promise<ConsoleAssets | undefined> {
  try {
    const [html, js, css, icon] = await Promise.all(['index.html', 'app.js', 'app.css', 'icon.svg'].map((f) => readFile(new URL(f, dir))));
    return { 'index.html': html!, 'app.js': js!, 'app.css': css!, 'icon.svg': icon! };
  } catch {
    return undefined;
  }
}
