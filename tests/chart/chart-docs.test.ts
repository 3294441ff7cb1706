/** The chart's documentation keeps up with its values: every value documented in values.yaml and listed in the README table. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHART } from './helm.js';
import { valueRows } from './values-doc.js';

const rows = valueRows(readFileSync(join(CHART, 'values.yaml'), 'utf8'));

test('every value in values.yaml has a "# --" description', () => {
  assert.ok(rows.length > 50, `only ${rows.length} values found`);
  assert.deepEqual(rows.filter((r) => r.description === '').map((r) => r.key), []);
});

test('the chart README lists every value (regenerate: node dist/tests/chart/values-doc.js)', () => {
  const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
  assert.deepEqual(rows.filter((r) => !readme.includes(`| \`${r.key}\` |`)).map((r) => r.key), []);
});
