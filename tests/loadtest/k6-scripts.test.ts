/**
 * The k6 scripts (loadtest/k6/*.ts) cannot run here (no k6 binary), so CI
 * checks what it can:
 *  - they type-check against @types/k6 with no Node or DOM types;
 *  - `npm run build:k6` bundles them with only k6's own modules left as
 *    imports, the protocol module included from protocol;
 *  - each bundle's init context (what k6 evaluates before any VU runs:
 *    options, metrics, environment) runs in a bare ECMAScript context, with
 *    stand-ins for the k6 modules and no Node or DOM globals, so nothing at
 *    import needs what k6 lacks;
 *  - every threshold names a metric the script defines (or a k6 built-in)
 *    with an aggregation valid for that metric's type, which k6 checks at
 *    start-up too.
 * The VU code (sockets, timers) is not run by these stand-ins; its protocol
 * logic is run against a live gateway in live-gateway.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { build, type Plugin } from 'esbuild';
import { bundleK6Scripts, k6BuildOptions, k6Scripts } from '../../loadtest/lib/k6-bundle.js';

const require = createRequire(import.meta.url);
const scripts = k6Scripts();

/** Stand-ins for k6's modules, enough for the init context; metrics record their name and type. */
const STUBS: Record<string, string> = {
  'k6': 'export function sleep() {} export function check() { return true; } export default {};',
  'k6/websockets': 'export class WebSocket { constructor() { throw new Error("no sockets in the init context"); } }',
  'k6/timers': 'const no = () => { throw new Error("no timers in the init context"); }; export const setTimeout = no, clearTimeout = no, setInterval = no, clearInterval = no;',
  'k6/crypto': 'export function hmac() { throw new Error("no crypto in the init context"); }',
  'k6/encoding': 'export function b64encode() { throw new Error("no encoding in the init context"); }',
  'k6/metrics': `const make = (type) => class { constructor(name, isTime) { (globalThis.__metrics ??= []).push({ name, type, isTime: !!isTime }); } add() {} };
    export const Trend = make('trend'), Counter = make('counter'), Rate = make('rate'), Gauge = make('gauge');`,
  'k6/http': 'export default { post() { throw new Error("no http in the init context"); }, get() { throw new Error("no http in the init context"); } };',
  'k6/execution': 'export default { get vu() { throw new Error("no VU in the init context"); } };',
};
const stubs: Plugin = {
  name: 'k6-stubs',
  setup(b) {
    b.onResolve({ filter: /^k6(\/|$)/ }, (a) => ({ path: a.path, namespace: 'k6-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'k6-stub' }, (a) => {
      const contents = STUBS[a.path];
      if (contents === undefined) throw new Error(`no stand-in for ${a.path}: add one (and check k6 has that module)`);
      return { contents, loader: 'js' };
    });
  },
};

/** k6's built-in metrics a threshold may name, with their types. */
const BUILTIN: Record<string, string> = { checks: 'rate', http_req_failed: 'rate', http_req_duration: 'trend', http_reqs: 'counter', iterations: 'counter', ws_sessions: 'counter', ws_connecting: 'trend' };
/** Aggregations k6 accepts per metric type. */
const AGG: Record<string, RegExp> = { trend: /^(p\(\d+(\.\d+)?\)|avg|min|max|med)$/, counter: /^(count|rate)$/, rate: /^rate$/, gauge: /^value$/ };

interface Init { options: { scenarios?: Record<string, { exec?: string }>; thresholds?: Record<string, string[]> }; functions: string[]; metrics: Array<{ name: string; type: string }> }

async function runInit(script: string, env: Record<string, string>): Promise<Init> {
  const res = await build({ ...k6BuildOptions(script), write: false, format: 'iife', globalName: '__script', external: [], plugins: [stubs] });
  const ctx: Record<string, unknown> = { __ENV: env };
  vm.createContext(ctx);
  vm.runInContext(`${res.outputFiles![0]!.text}\nglobalThis.__init = { options: __script.options, functions: Object.keys(__script).filter((k) => typeof __script[k] === 'function'), metrics: globalThis.__metrics ?? [] };`, ctx, { filename: script });
  return JSON.parse(JSON.stringify(ctx.__init)) as Init;
}

describe('k6 scripts', () => {
  it('are the four scenarios', () => {
    assert.deepEqual(scripts, ['c10k.ts', 'fanout.ts', 'push-latency.ts', 'reconnect-storm.ts']);
  });

  it('type-check: tsc -p loadtest/k6/tsconfig.json --noEmit exits 0', () => {
    const tsc = require.resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', 'loadtest/k6/tsconfig.json', '--noEmit'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  });

  it('build:k6 bundles each script with only k6 modules left as imports, using the shared protocol module', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'k6-bundle-'));
    try {
      const files = await bundleK6Scripts(dir);
      assert.deepEqual(files.map((f) => path.basename(f)), scripts.map((s) => s.replace(/\.ts$/, '.js')));
      for (const f of files) {
        const js = readFileSync(f, 'utf8');
        const imports = [...js.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]!);
        assert.ok(imports.length > 0 && imports.every((i) => i === 'k6' || i.startsWith('k6/')), `${f} imports only k6 modules: ${imports.join(', ')}`);
        assert.match(js, /export\s*\{[^}]*options/, `${f} exports options`);
        // The codec's own decoder, not a copy: its depth limit and close-code table come along.
        assert.match(js, /MAX_DATA_DEPTH/, `${f} bundles protocol/`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('init context runs without Node or DOM globals; thresholds name defined metrics with valid aggregations', async () => {
    for (const f of scripts) {
      const init = await runInit(f, { LONGLINK_JWT_SECRET: 'x'.repeat(32), CONNECTIONS: '100' });
      const scenarios = Object.entries(init.options.scenarios ?? {});
      assert.ok(scenarios.length > 0, `${f} defines scenarios`);
      for (const [name, sc] of scenarios) {
        const exec = sc.exec ?? 'default';
        assert.ok(init.functions.includes(exec), `${f}: scenario ${name} runs ${exec}(), which the script does not export`);
      }
      const thresholds = Object.entries(init.options.thresholds ?? {});
      assert.ok(thresholds.length >= 3, `${f} has thresholds`);
      const types = new Map(init.metrics.map((m) => [m.name, m.type]));
      assert.equal(types.size, init.metrics.length, `${f}: metric names are unique`);
      for (const [key, exprs] of thresholds) {
        const name = key.replace(/\{.*\}$/, '');
        const type = types.get(name) ?? BUILTIN[name];
        assert.ok(type, `${f}: threshold on ${name}, which the script does not define`);
        for (const e of exprs) {
          const m = /^([a-z]+(?:\(\d+(?:\.\d+)?\))?)\s*(<=|>=|==|!=|<|>)\s*-?\d+(\.\d+)?$/.exec(e);
          assert.ok(m, `${f}: threshold "${e}" on ${name} parses`);
          assert.match(m[1]!, AGG[type]!, `${f}: "${m[1]}" is not an aggregation of a ${type} (${name})`);
        }
      }
    }
  });

  it('use the stable k6/websockets API, not the experimental or legacy one', () => {
    const common = readFileSync('loadtest/k6/common.ts', 'utf8');
    assert.match(common, /from 'k6\/websockets'/);
    for (const f of [...scripts, 'common.ts']) assert.doesNotMatch(readFileSync(`loadtest/k6/${f}`, 'utf8'), /k6\/experimental\/websockets|from 'k6\/ws'/, f);
    for (const f of scripts) assert.match(readFileSync(`loadtest/k6/${f}`, 'utf8'), /from '\.\/common\.ts'/, `${f} uses the shared k6 wiring`);
  });
});
