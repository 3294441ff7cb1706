/**
 * The folder rules the README's layout section states, checked on the
 * sources (relative imports resolved, package imports by name):
 *  - protocol/ imports only itself (gateway, router, SDK, load tools and k6
 *    all bundle it);
 *  - the SDK imports only protocol/ and itself;
 *  - nothing outside tests/ imports from tests/;
 *  - nothing under a core/ folder imports an I/O library;
 *  - store adapters do not import each other (memory vs Redis).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const ROOTS = ['protocol', 'services', 'sdk', 'loadtest', 'infra', 'tests'];
const IO_PACKAGES = /^(ioredis|@nats-io\/|nats$|uWebSockets\.js|ws$|node:(net|http|https|dgram|tls|child_process)$)/;

interface Import { readonly from: string; readonly spec: string; readonly target?: string }

function walk(dir: string): string[] {
  return readdirSync(join(REPO, dir)).flatMap((name) => {
    const rel = posix.join(dir, name);
    if (name === 'node_modules') return [];
    return statSync(join(REPO, rel)).isDirectory() ? walk(rel) : /\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts') ? [rel] : [];
  });
}

function importsOf(file: string): Import[] {
  const src = readFileSync(join(REPO, file), 'utf8');
  const out: Import[] = [];
  for (const m of src.matchAll(/(?:^|[\n;])\s*(?:import|export)\b[^'"`;]*?from\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = (m[1] ?? m[2])!;
    const target = spec.startsWith('.') ? posix.normalize(posix.join(posix.dirname(file), spec)) : undefined;
    out.push({ from: file, spec, ...(target !== undefined ? { target } : {}) });
  }
  return out;
}

const files = ROOTS.flatMap(walk);
const imports = files.flatMap(importsOf);
const under = (p: string, dir: string): boolean => p === dir || p.startsWith(dir + '/');
const show = (list: Import[]): string[] => list.map((i) => `${i.from} -> ${i.spec}`);

describe('source layout', () => {
  it('finds the sources (the scan itself works)', () => {
    assert.ok(files.length > 150, `only ${files.length} files found under ${ROOTS.join(', ')}`);
    assert.ok(imports.some((i) => i.from.startsWith('sdk/') && i.target !== undefined && under(i.target, 'protocol')), 'the SDK imports protocol/');
  });

  it('protocol/ imports nothing but itself', () => {
    const bad = imports.filter((i) => under(i.from, 'protocol') && (i.target === undefined || !under(i.target, 'protocol')));
    assert.deepEqual(show(bad), []);
  });

  it('the SDK imports only protocol/ and itself (and packages for its Node entry)', () => {
    const bad = imports.filter((i) => under(i.from, 'sdk') && i.target !== undefined && !under(i.target, 'sdk') && !under(i.target, 'protocol'));
    assert.deepEqual(show(bad), []);
  });

  it('nothing outside tests/ imports from tests/', () => {
    const bad = imports.filter((i) => !under(i.from, 'tests') && i.target !== undefined && under(i.target, 'tests'));
    assert.deepEqual(show(bad), []);
  });

  it('nothing under a core/ folder imports an I/O library', () => {
    const bad = imports.filter((i) => i.from.split('/').includes('core') && i.target === undefined && IO_PACKAGES.test(i.spec));
    assert.deepEqual(show(bad), []);
  });

  it('every folder the README\'s layout section names exists', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const block = /## Layout\n\n```\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'README has a layout block');
    const named = block.split('\n').map((l) => l.split(/\s{2,}/)[0]!.trim()).filter((p) => p.endsWith('/'));
    assert.ok(named.length >= 10, `layout names ${named.length} folders`);
    for (const entry of named) {
      for (const p of entry.split(/,\s*/)) {
        const path = p.includes('/') && !p.startsWith('infra/') && entry.startsWith('infra/') ? `infra/${p}` : p;
        assert.ok(statSync(join(REPO, path)).isDirectory(), `README layout names ${path}`);
      }
    }
  });

  it('router store adapters do not import each other', () => {
    const stores = 'services/router/stores';
    const kind = (p: string): string | undefined => (under(p, `${stores}/memory`) ? 'memory' : under(p, `${stores}/redis`) ? 'redis' : undefined);
    const bad = imports.filter((i) => i.target !== undefined && kind(i.from) !== undefined && kind(i.target) !== undefined && kind(i.from) !== kind(i.target));
    assert.deepEqual(show(bad), []);
    const memFiles = files.filter((f) => under(f, `${stores}/memory`));
    assert.ok(memFiles.length >= 3, 'memory stores found');
    const memToRedis = imports.filter((i) => memFiles.includes(i.from) && i.spec === 'ioredis');
    assert.deepEqual(show(memToRedis), []);
  });
});
