/**
 * The k6 scripts (loadtest/k6/*.ts) cannot run here (no k6 binary), so CI
 * checks what it can: they type-check against @types/k6 with no Node or DOM
 * types (so the shared protocol module uses nothing k6 lacks), and they
 * bundle (every import resolves; only k6's own modules stay external).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
const scripts = readdirSync('loadtest/k6').filter((f) => f.endsWith('.ts') && f !== 'common.ts');

describe('k6 scripts', () => {
  it('are the three scenarios', () => {
    assert.deepEqual(scripts.sort(), ['c10k.ts', 'push-latency.ts', 'reconnect-storm.ts']);
  });

  it('type-check: tsc -p loadtest/k6/tsconfig.json --noEmit exits 0', () => {
    const tsc = require.resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', 'loadtest/k6/tsconfig.json', '--noEmit'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  });

  it('bundle with only k6 modules external, and define options plus thresholds', async () => {
    for (const f of scripts) {
      const res = await build({ entryPoints: [`loadtest/k6/${f}`], bundle: true, write: false, format: 'esm', platform: 'neutral', external: ['k6', 'k6/*'], logLevel: 'silent' });
      const js = res.outputFiles[0]!.text;
      const imports = [...js.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]!);
      assert.ok(imports.length > 0 && imports.every((i) => i === 'k6' || i.startsWith('k6/')), `${f} imports only k6 modules: ${imports.join(', ')}`);
      assert.match(js, /export\s*\{[^}]*options/, `${f} exports options`);
      const src = readFileSync(`loadtest/k6/${f}`, 'utf8');
      assert.match(src, /thresholds:/, `${f} has thresholds`);
      assert.match(src, /from '\.\/common\.ts'/, `${f} uses the shared k6 wiring`);
    }
  });

  it('use the stable k6/websockets API, not the experimental or legacy one', () => {
    const common = readFileSync('loadtest/k6/common.ts', 'utf8');
    assert.match(common, /from 'k6\/websockets'/);
    for (const f of [...scripts, 'common.ts']) assert.doesNotMatch(readFileSync(`loadtest/k6/${f}`, 'utf8'), /k6\/experimental\/websockets|from 'k6\/ws'/, f);
  });
});
