/**
 * Every `npm run bench:*` answers `--help` with its flags and defaults, and
 * refuses an unknown flag with a readable message and exit 2 (no stack trace).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { usage } from '../../loadtest/lib/cli-args.js';
import { parseModes } from '../../loadtest/bench/storm-report.js';
import { retryPolicyFor } from '../../loadtest/lib/retry-policy.js';

const scripts = JSON.parse(readFileSync('package.json', 'utf8')).scripts as Record<string, string>;
/** `npm run <name>` → the compiled benchmark it runs (bench:wheel and bench:fuzz take no flags parser). */
const benches = Object.entries(scripts).flatMap(([name, cmd]) => {
  const m = /node (?:--\S+ )*(dist\/loadtest\/bench\/[\w-]+\.js)/.exec(cmd);
  return m && (name === 'bench' || name.startsWith('bench:')) && !['bench:wheel', 'bench:fuzz'].includes(name) ? [{ name, file: m[1]! }] : [];
});

describe('benchmark flags', () => {
  it('finds the benchmarks in package.json', () => {
    assert.ok(benches.length >= 9, JSON.stringify(benches));
  });

  for (const b of benches) {
    it(`${b.name}: --help lists the flags; an unknown flag exits 2 with the list`, () => {
      const help = spawnSync(process.execPath, [b.file, '--help'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`^usage: npm run ${b.name} -- \\[flags\\]\\n(  --[\\w-]+.*\\n)+$`));
      const bad = spawnSync(process.execPath, [b.file, '--no-such-flag'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, new RegExp(`^${b.name}: Unknown option '--no-such-flag'`));
      assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('bench:refusal-cost refuses malformed counts and tokens (exit 2) before it spawns anything', () => {
    for (const args of [['--attempts', 'abc'], ['--attempts', '0'], ['--concurrency', '1.5'], ['--token', 'foo']]) {
      const r = spawnSync(process.execPath, ['dist/loadtest/bench/refusal-cost.js', ...args], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^bench:refusal-cost: ${args[0]} must be`));
    }
  });

  it('bench:storm --modes: sdk, fixed and deaf (1 s ignoring Retry-After); anything else exits 2 before it spawns anything', () => {
    assert.deepEqual(parseModes('sdk,fixed'), ['sdk', 'fixed']);
    assert.deepEqual(parseModes('deaf, fixed'), ['deaf', 'fixed']);
    assert.equal(retryPolicyFor('deaf').ignoreServerWait, true);
    assert.equal(retryPolicyFor('fixed').ignoreServerWait, undefined, 'fixed still honours the server');
    for (const bad of ['sdk,nope', '', 'fixed,']) assert.throws(() => parseModes(bad), /--modes must be/);
    const r = spawnSync(process.execPath, ['dist/loadtest/bench/storm.js', '--modes', 'sdk,ignore'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^bench:storm: --modes must be a comma list of sdk, fixed, deaf/);
  });

  it('usage shows defaults, lists and booleans', () => {
    const text = usage('bench:x', { n: { type: 'string', default: '3' }, on: { type: 'boolean' }, l: { type: 'string', multiple: true, default: ['a', 'b'] } });
    assert.equal(text, 'usage: npm run bench:x -- [flags]\n  --n <value>  (default: 3)\n  --on\n  --l <value>  (default: a,b)\n');
  });
});
