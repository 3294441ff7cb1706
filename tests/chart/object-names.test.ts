/**
 * Every rendered object's name is unique within its kind, for release names
 * up to 52 characters and a fullnameOverride of 55: names are cut to 63
 * characters, and a suffix cut away names two objects alike (one overwrites
 * or refuses the other at install). The gateways' metrics Service was one:
 * for a release name of 45-53 characters its name, the gateway Service's
 * name plus "-metrics" cut to 63, was the gateway Service's own, so the
 * ClusterIP metrics Service could replace the public one. (From 53
 * characters, or a fullname of 62, the gateway's and the router's own names
 * meet: "-gateway" and "-router" are both cut away.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHART, helm } from './helm.js';
import { parseAllDocuments } from 'yaml';

const releases = [2, 30, 44, 45, 46, 47, 50, 52].map((n) => 'r'.repeat(n));

for (const [what, release, args] of [
  ...releases.map((r) => [`release name of ${r.length} characters`, r, []] as const),
  ['fullnameOverride of 55 characters', 'll', ['--set', `fullnameOverride=${'f'.repeat(55)}`]] as const,
]) {
  test(`${what}: no two objects of a kind share a name`, () => {
    const r = helm(['template', release, CHART, ...args]);
    assert.equal(r.status, 0, r.stderr);
    const seen = new Map<string, number>();
    for (const doc of parseAllDocuments(r.stdout)) {
      const o = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      if (!o?.kind || !o.metadata?.name) continue;
      assert.ok(o.metadata.name.length <= 63, `${o.kind} ${o.metadata.name}: longer than 63`);
      const key = `${o.kind}/${o.metadata.name}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    const dup = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
    assert.deepEqual(dup, [], `objects named alike: ${dup.join(', ')}`);
  });
}
