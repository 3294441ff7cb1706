/**
 * The standalone process's V8 flags (services/standalone/node-flags.ts):
 * `npm start` passes the same ones the benches use, and this Node takes them
 * with their effect (a young generation of at least 16 MB from the start,
 * where V8's own minimum is 1 MB).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { STANDALONE_NODE_FLAGS } from '../../services/standalone/node-flags.js';

describe('standalone node flags', () => {
  it('npm start runs the standalone process with exactly these flags', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    const m = /\bnode((?:\s+--\S+)*)\s+dist\/services\/standalone\/main\.js/.exec(pkg.scripts.start!);
    assert.ok(m, `start script runs the standalone main: ${pkg.scripts.start}`);
    assert.deepEqual(m[1]!.trim().split(/\s+/).filter(Boolean), [...STANDALONE_NODE_FLAGS]);
  });

  it('this Node accepts them and starts with a young generation of at least 16 MB (1 MB without)', () => {
    const newSpace = (flags: readonly string[]): number => Number(execFileSync(process.execPath, [...flags, '-e',
      "process.stdout.write(String(require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size))"], { encoding: 'utf8' }));
    assert.ok(newSpace(STANDALONE_NODE_FLAGS) >= 16 * 2 ** 20, 'young generation with the flags');
    assert.ok(newSpace([]) < 16 * 2 ** 20, 'V8 starts smaller without them (else the flag would be pointless here)');
  });
});
