/** randomUuid (services/shared/uuid.ts): a reused pool and text buffer, never visible in an id handed out. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUuid } from '../../services/shared/uuid.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('version 4 UUIDs, all distinct, across several refills of the pool', () => {
  const ids = Array.from({ length: 2_000 }, () => randomUuid()); // the pool holds 256
  for (const id of ids) assert.match(id, V4);
  assert.equal(new Set(ids).size, ids.length);
  // Every random hex position varies (a slice of the pool read twice, or a constant, would show here).
  for (let pos = 0; pos < 36; pos++) {
    if ([8, 13, 14, 18, 23].includes(pos)) continue; // dashes and the version digit
    const seen = new Set(ids.map((id) => id[pos]));
    assert.ok(seen.size >= (pos === 19 ? 4 : 12), `position ${pos}: ${seen.size} distinct digits`);
  }
});

test('an id handed out is its own string: later ids (and refills) do not change it', () => {
  const first = randomUuid();
  const copy = Buffer.from(first, 'latin1').toString('latin1');
  const later = Array.from({ length: 600 }, () => randomUuid());
  assert.equal(first, copy);
  assert.ok(!later.includes(first));
});
