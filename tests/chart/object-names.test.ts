/**
 * Every rendered object's name is unique within its kind and at most 63
 * characters, for any release name (helm takes up to 53 characters) and any
 * fullnameOverride: a name that does not fit is cut and given a hash of its
 * whole form (longlink.objectName in _helpers.tpl). Plain cuts to 63 named
 * two objects alike once they took the differing end away: the gateways'
 * metrics Service and the gateway Service for release names of 45-53
 * characters, and from 53 characters (or a fullname of 62) the gateway's and
 * the router's own objects ("-gateway" and "-router" both cut away: one
 * Deployment, ConfigMap, Service... overwrote or refused the other).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHART, helm } from './helm.js';
import { parseAllDocuments } from 'yaml';

/** Every optional object on (ingress, HPAs, PDBs, network policies, monitoring), as the production values have them. */
const ALL = ['-f', `${CHART}/ci/production-values.yaml`, '--api-versions', 'monitoring.coreos.com/v1'];
const releases = [2, 30, 44, 45, 46, 47, 50, 52, 53].map((n) => 'r'.repeat(n));

/** Kind/name of every rendered object. */
function names(release: string, args: readonly string[]): Array<[string, string]> {
  const r = helm(['template', release, CHART, ...args]);
  assert.equal(r.status, 0, r.stderr);
  const out: Array<[string, string]> = [];
  for (const doc of parseAllDocuments(r.stdout)) {
    const o = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
    if (o?.kind && o.metadata?.name) out.push([o.kind, o.metadata.name]);
  }
  return out;
}

for (const [what, release, args] of [
  ...releases.flatMap((r) => [[`release name of ${r.length} characters`, r, []], [`release name of ${r.length} characters, every object`, r, ALL]] as const),
  ...[55, 60, 62, 63, 64, 70].map((n) => [`fullnameOverride of ${n} characters, every object`, 'll', ['--set', `fullnameOverride=${'f'.repeat(n)}`, ...ALL]] as const),
]) {
  test(`${what}: no two objects of a kind share a name, none is longer than 63`, () => {
    const all = names(release, args);
    assert.ok(all.length >= (args.length > 0 ? 20 : 10), `${all.length} objects rendered`);
    const long = all.filter(([, n]) => n.length > 63).map(([k, n]) => `${k} ${n} (${n.length})`);
    assert.deepEqual(long, [], 'longer than 63');
    const seen = new Map<string, number>();
    for (const [kind, name] of all) seen.set(`${kind}/${name}`, (seen.get(`${kind}/${name}`) ?? 0) + 1);
    const dup = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
    assert.deepEqual(dup, [], `objects named alike: ${dup.join(', ')}`);
    // A cut name keeps its suffix: the component's objects still say which they are.
    const deployments = all.filter(([k]) => k === 'Deployment').map(([, n]) => n).sort();
    assert.equal(deployments.length, 2);
    assert.ok(deployments[0]!.endsWith('-gateway') && deployments[1]!.endsWith('-router'), deployments.join(', '));
  });
}

test('names that fit are not changed by the cut (an upgrade renames nothing)', () => {
  assert.deepEqual(names('ll', ALL).filter(([k]) => k !== 'Secret' || true).map(([k, n]) => `${k}/${n}`).sort(), [
    'ConfigMap/ll-longlink-dashboards', 'ConfigMap/ll-longlink-gateway', 'ConfigMap/ll-longlink-router',
    'Deployment/ll-longlink-gateway', 'Deployment/ll-longlink-router',
    'HorizontalPodAutoscaler/ll-longlink-gateway', 'HorizontalPodAutoscaler/ll-longlink-router',
    'Ingress/ll-longlink-gateway',
    'NetworkPolicy/ll-longlink-gateway', 'NetworkPolicy/ll-longlink-router',
    'PodDisruptionBudget/ll-longlink-gateway', 'PodDisruptionBudget/ll-longlink-router',
    'PrometheusRule/ll-longlink',
    'Secret/ll-longlink',
    'Service/ll-longlink-gateway', 'Service/ll-longlink-gateway-metrics', 'Service/ll-longlink-router',
    'ServiceAccount/ll-longlink',
    'ServiceMonitor/ll-longlink-gateway', 'ServiceMonitor/ll-longlink-router',
  ]);
  const cut = names('r'.repeat(53), ALL).find(([k, n]) => k === 'Deployment' && n.endsWith('-gateway'))![1];
  assert.match(cut, /^r+-[0-9a-f]{8}-gateway$/, 'cut, then a hash of the whole name, then the suffix');
  assert.equal(cut.length, 63);
});

test('a fullnameOverride or nameOverride ending in "-" keeps the names earlier releases gave it (an upgrade renames nothing)', () => {
  const of = (args: string[]): string[] => names('prod', args).filter(([k]) => k === 'Deployment' || k === 'Service' || k === 'Secret').map(([k, n]) => `${k}/${n}`).sort();
  assert.deepEqual(of(['--set', 'fullnameOverride=foo-']), ['Deployment/foo-gateway', 'Deployment/foo-router', 'Secret/foo', 'Service/foo-gateway', 'Service/foo-gateway-metrics', 'Service/foo-router']);
  assert.deepEqual(of(['--set', 'nameOverride=ll-']), ['Deployment/prod-ll-gateway', 'Deployment/prod-ll-router', 'Secret/prod-ll', 'Service/prod-ll-gateway', 'Service/prod-ll-gateway-metrics', 'Service/prod-ll-router']);
});
