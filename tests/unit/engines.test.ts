/**
 * Which Node versions the locked dependencies declare (`engines.node` in
 * package-lock.json), the source of npm's EBADENGINE warnings. Supported is
 * Node 24 and 22.15+ (docs/runtime.md): no locked package may exclude them.
 * Node 20 (end-of-life) is the legacy development runtime on glibc < 2.38:
 * docs/runtime.md names the packages that exclude it, and this test fails
 * when that list stops being true (a new dependency that drops Node 20, or
 * one that no longer does). The image replay (tests/chart/image-build.test.ts)
 * checks the real `npm ci` on Node 24 prints no EBADENGINE.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The checkout (this file runs as dist/tests/unit/engines.test.js). */
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

type V = [number, number, number];

/** "22", "22.x", "22.15", "v22.15.0" → [22, 15, 0] and whether minor/patch were given. */
function parse(v: string): { v: V; parts: number } {
  const m = /^v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(v.trim());
  if (!m) throw new Error(`unsupported version '${v}'`);
  const num = (s: string | undefined): number | undefined => (s === undefined || s === 'x' || s === '*' ? undefined : Number(s));
  const [maj, min, pat] = [Number(m[1]), num(m[2]), num(m[3])];
  return { v: [maj, min ?? 0, pat ?? 0], parts: min === undefined ? 1 : pat === undefined ? 2 : 3 };
}

const cmp = (a: V, b: V): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** One comparator ("^20.19.0", ">= 22.x", "18", "<25") against a version. */
function comparator(c: string, node: V): boolean {
  const m = /^(\^|~|>=|<=|>|<|=)?\s*(.+)$/.exec(c)!;
  const op = m[1] ?? '';
  const { v, parts } = parse(m[2]!);
  const upper = (): V => (parts === 1 ? [v[0] + 1, 0, 0] : parts === 2 ? [v[0], v[1] + 1, 0] : [v[0], v[1], v[2] + 1]);
  switch (op) {
    case '>=': return cmp(node, v) >= 0;
    case '>': return parts === 3 ? cmp(node, v) > 0 : cmp(node, upper()) >= 0;
    case '<': return cmp(node, v) < 0;
    case '<=': return parts === 3 ? cmp(node, v) <= 0 : cmp(node, upper()) < 0;
    case '^': return cmp(node, v) >= 0 && (v[0] > 0 ? node[0] === v[0] : cmp(node, [0, v[1] + 1, 0]) < 0);
    case '~': return cmp(node, v) >= 0 && cmp(node, parts === 1 ? [v[0] + 1, 0, 0] : [v[0], v[1] + 1, 0]) < 0;
    default: return cmp(node, v) >= 0 && cmp(node, upper()) < 0; // bare or "=": an x-range
  }
}

/** npm's `engines.node` ranges as the lock file has them: `||` of space-separated comparators. */
function satisfies(range: string, version: string): boolean {
  const node = parse(version).v;
  return range.split('||').some((alt) => {
    const cs = alt.trim().replace(/(\^|~|>=|<=|>|<|=)\s+/g, '$1').split(/\s+/).filter(Boolean);
    return cs.length === 0 || cs.every((c) => c === '*' || comparator(c, node));
  });
}

const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } }> };
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } };
const locked = Object.entries(lock.packages)
  .filter(([p, e]) => p.startsWith('node_modules/') && e.engines?.node !== undefined)
  .map(([p, e]) => ({ name: p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length), version: e.version, range: e.engines!.node! }));
const excluding = (version: string): string[] => [...new Set(locked.filter((l) => !satisfies(l.range, version)).map((l) => l.name))].sort();

/** The image's and CI's Node (tests/trixie/root.sh) and the lowest the project claims (package.json engines). */
const SUPPORTED = ['24.22.3', '24.0.0', '22.15.0'];
/** The dependency lines docs/runtime.md says need Node 22 or later. */
const DROPS_NODE_20 = [/^@opentelemetry\//, /^@nats-io\/nuid$/, /^kubernetes-models$/, /^@kubernetes-models\//];

describe('engines of the locked dependencies', () => {
  it('the range matcher reads npm\'s forms', () => {
    const cases: Array<[string, string, boolean]> = [
      ['>=22.15.0', '22.15.0', true], ['>=22.15.0', '22.14.9', false], ['>= 22.x', '22.0.0', true], ['>= 22.x', '20.20.2', false],
      ['>=22', '24.22.3', true], ['^20.19.0 || ^22.13.0 || >=24', '20.20.2', true], ['^20.19.0 || ^22.13.0 || >=24', '23.1.0', false],
      ['^20.19.0 || ^22.13.0 || >=24', '22.12.0', false], ['18 || 20 || >=22', '20.1.0', true], ['18 || 20 || >=22', '21.0.0', false],
      ['>=12.22.0', '24.22.3', true], ['^12.22.0 || ^14.17.0 || >=16.0.0', '15.0.0', false], ['>= 18.0.0', '20.20.2', true],
      ['>=14 <22', '22.0.0', false], ['>=14 <22', '21.9.9', true], ['~20.19', '20.20.0', false], ['*', '1.0.0', true],
    ];
    for (const [range, v, want] of cases) assert.equal(satisfies(range, v), want, `${range} vs ${v}`);
    assert.throws(() => satisfies('>=22.1.0-beta', '22.2.0'), /unsupported/);
  });

  it('every locked package admits the supported Node versions, so npm ci there prints no EBADENGINE', () => {
    assert.ok(locked.length > 20, 'the lock file lists engines for its packages');
    assert.equal(satisfies(pkg.engines.node, '22.15.0') && !satisfies(pkg.engines.node, '22.14.0'), true, 'package.json engines starts at 22.15.0 (docs/runtime.md)');
    for (const v of SUPPORTED) assert.deepEqual(excluding(v), [], `locked packages that exclude Node ${v}`);
  });

  it('on the legacy Node 20 only the lines docs/runtime.md names exclude it', () => {
    const drop = excluding('20.20.2');
    assert.deepEqual(drop.filter((n) => !DROPS_NODE_20.some((re) => re.test(n))), [], 'a dependency newly excludes Node 20: name it in docs/runtime.md ("Supported") and here');
    for (const re of DROPS_NODE_20) assert.ok(drop.some((n) => re.test(n)), `${String(re)} no longer excludes Node 20: update docs/runtime.md and this list`);
  });
});
