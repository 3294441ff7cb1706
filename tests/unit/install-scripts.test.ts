/**
 * Which locked dependencies may run install scripts. npm 11.16+ reads the
 * `allowScripts` field of package.json and lists every package whose install
 * script it does not cover; npm 12 skips those scripts. The field is the
 * project's review: each package the lock file marks `hasInstallScript` must
 * have an entry (true: its script runs; false: skipped on purpose), so a new
 * dependency with an install script fails here until someone decides, and a
 * stale entry fails too. The reasons are in docs/runtime.md.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The checkout (this file runs as dist/tests/unit/install-scripts.test.js). */
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; hasInstallScript?: boolean }>;
};
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };

const nameOf = (path: string): string => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
/** "esbuild" or "esbuild@0.28.2": npm's name-only and pinned keys. */
const keyName = (key: string): string => key.replace(/(?!^)@[^@]*$/, '');

const withScripts = [...new Set(Object.entries(lock.packages)
  .filter(([p, e]) => p.startsWith('node_modules/') && e.hasInstallScript === true)
  .map(([p]) => nameOf(p)))].sort();

describe('install scripts of the locked dependencies', () => {
  it('the lock file has packages with install scripts (the check below is not vacuous)', () => {
    assert.ok(withScripts.length > 0);
  });

  it('every package with an install script is approved or denied in allowScripts', () => {
    const entries = pkg.allowScripts ?? {};
    const covered = new Set(Object.keys(entries).map(keyName));
    assert.deepEqual(withScripts.filter((n) => !covered.has(n)), [], 'add them to allowScripts (npm install-scripts approve|deny) and say why in docs/runtime.md');
    for (const [k, v] of Object.entries(entries)) assert.equal(typeof v, 'boolean', `allowScripts["${k}"]`);
  });

  it('allowScripts names no package the lock file does not install with a script', () => {
    const stale = Object.keys(pkg.allowScripts ?? {}).filter((k) => !withScripts.includes(keyName(k)));
    assert.deepEqual(stale, []);
  });

  it('docs/runtime.md gives each decision', () => {
    const doc = readFileSync(join(REPO, 'docs/runtime.md'), 'utf8');
    for (const n of withScripts) assert.ok(doc.includes(`\`${n}\``), `docs/runtime.md does not name ${n}`);
  });
});
