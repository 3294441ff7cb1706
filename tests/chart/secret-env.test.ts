/**
 * Credentials never land in a ConfigMap: extraEnv values go into the
 * components' ConfigMaps (plain text, readable by anyone with ConfigMap
 * access, printed by `kubectl describe`), so the chart refuses every
 * variable the services mark secret there; they reach the pods from the
 * Secret only. The list comes from the services' config specs, so a new
 * secret variable is covered without touching this test; so are the
 * OpenTelemetry SDK's header variables (a collector's auth token rides in
 * them), which no service spec lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gatewaySpec } from '../../services/gateway/config.js';
import { routerProcessSpec, routerSpec } from '../../services/router/config.js';
import { consoleSpec } from '../../services/router/console/config.js';
import { webhookSpec } from '../../services/router/webhooks/config.js';
import { natsSpec, redisSpec } from '../../services/shared/cluster-config.js';
import type { ConfigSpec } from '../../services/shared/config.js';
import { CHART, byKind, helm, renderCases, template } from './helm.js';
import type { K8sObject } from './k8s-models.js';
import { containers, deployments, type EnvVar } from './objects.js';

const OTEL_SECRET_VARS = ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'];
const SECRET_VARS = [...new Set(([gatewaySpec, routerSpec, routerProcessSpec, consoleSpec, webhookSpec, natsSpec, redisSpec] as ConfigSpec[])
  .flatMap((spec) => Object.values(spec).filter((s) => s.secret).map((s) => s.env)).concat(OTEL_SECRET_VARS))].sort();

test('the services mark their credentials secret (the list this test checks)', () => {
  // LONGLINK_REDIS_CLUSTER_NODES: the first node's URL carries the cluster's user and password (redis/client.ts clusterOptions).
  for (const n of ['LONGLINK_JWT_SECRET', 'LONGLINK_API_KEYS', 'LONGLINK_CONSOLE_TOKEN', 'LONGLINK_REDIS_URL', 'LONGLINK_REDIS_CLUSTER_NODES', 'LONGLINK_WEBHOOKS']) assert.ok(SECRET_VARS.includes(n), `${n} is not marked secret`);
});

test('a credential variable in gateway.extraEnv, router.extraEnv or tracing.extraEnv fails the render instead of landing in a ConfigMap', () => {
  for (const where of ['gateway.extraEnv', 'router.extraEnv', 'tracing.extraEnv']) {
    // tracing.extraEnv takes OTEL_* names only, the others LONGLINK_* (values.schema.json).
    for (const name of SECRET_VARS.filter((n) => n.startsWith(where === 'tracing.extraEnv' ? 'OTEL_' : 'LONGLINK_'))) {
      const args = ['--set-string', `${where}.${name}=redis://:hunter2-hunter2-hunter2-hunter2@redis:6379`];
      const r = helm(['template', 'll', CHART, ...args]);
      assert.notEqual(r.status, 0, `${where}.${name} rendered into a ConfigMap:\n${r.stdout.split('\n').filter((l) => l.includes(name)).join('\n')}`);
      assert.match(r.stderr, new RegExp(`${where.replace('.', '\\.')}\\.${name}: a credential would land in a ConfigMap`), r.stderr);
    }
  }
});

test('no render case puts a credential variable in a ConfigMap', () => {
  for (const rc of renderCases()) {
    for (const cm of byKind<K8sObject & { data?: Record<string, string> }>(template(rc.args), 'ConfigMap')) {
      const leaked = Object.keys(cm.data ?? {}).filter((k) => SECRET_VARS.includes(k));
      assert.deepEqual(leaked, [], `${rc.name}: ConfigMap ${cm.metadata.name} holds ${leaked.join(', ')}`);
    }
  }
});

/** The env entries of every container of the gateway and router Deployments, by Deployment name suffix. */
function envOf(objects: K8sObject[]): Record<'gateway' | 'router', EnvVar[]> {
  const out = { gateway: [] as EnvVar[], router: [] as EnvVar[] };
  for (const d of deployments(objects)) out[d.metadata.name.endsWith('-gateway') ? 'gateway' : 'router'].push(...containers(d).flatMap((c) => c.env ?? []));
  return out;
}

test('redis.clusterNodes and tracing.otlpHeaders go into the Secret and reach the pods from it, never a ConfigMap', () => {
  const nodes = 'redis://:hunter2-cluster@redis-0:6379,redis://:hunter2-cluster@redis-1:6379';
  const headers = 'authorization=Bearer hunter2-otlp-token';
  const objects = template(['--set-string', `redis.clusterNodes={${nodes}}`, '--set-string', `tracing.otlpHeaders=${headers}`, '--set', 'tracing.otlpEndpoint=http://otel:4318']);
  const cms = byKind<K8sObject & { data?: Record<string, string> }>(objects, 'ConfigMap');
  assert.ok(cms.length >= 2);
  for (const cm of cms) assert.ok(!/hunter2/.test(JSON.stringify(cm.data)), `ConfigMap ${cm.metadata.name} holds a credential`);
  const [secret] = byKind<K8sObject & { data: Record<string, string> }>(objects, 'Secret');
  const decoded = (k: string): string => Buffer.from(secret!.data[k] ?? '', 'base64').toString();
  assert.equal(decoded('redis-cluster-nodes'), nodes);
  assert.equal(decoded('otlp-headers'), headers);
  const env = envOf(objects);
  const ref = (list: EnvVar[], name: string) => list.find((e) => e.name === name)?.valueFrom?.secretKeyRef;
  assert.deepEqual(ref(env.router, 'LONGLINK_REDIS_CLUSTER_NODES'), { name: secret!.metadata.name, key: 'redis-cluster-nodes' });
  assert.deepEqual(ref(env.router, 'OTEL_EXPORTER_OTLP_HEADERS'), { name: secret!.metadata.name, key: 'otlp-headers' });
  assert.deepEqual(ref(env.gateway, 'OTEL_EXPORTER_OTLP_HEADERS'), { name: secret!.metadata.name, key: 'otlp-headers' });
  assert.equal(ref(env.gateway, 'LONGLINK_REDIS_CLUSTER_NODES'), undefined, 'gateways use no Redis');

  // Unset: neither key nor variable (the router then uses redis.url).
  const plain = template([]);
  const [s2] = byKind<K8sObject & { data: Record<string, string> }>(plain, 'Secret');
  assert.deepEqual(Object.keys(s2!.data).filter((k) => k === 'redis-cluster-nodes' || k === 'otlp-headers'), []);
  const env2 = envOf(plain);
  assert.deepEqual([...env2.gateway, ...env2.router].map((e) => e.name).filter((n) => n === 'LONGLINK_REDIS_CLUSTER_NODES' || n === 'OTEL_EXPORTER_OTLP_HEADERS'), []);
});

test('with auth.existingSecret the cluster nodes and OTLP headers are read from it when it has them (optional keys)', () => {
  const env = envOf(template(['--set', 'auth.existingSecret=mine']));
  const refs = [...env.gateway, ...env.router].filter((e) => e.name === 'LONGLINK_REDIS_CLUSTER_NODES' || e.name === 'OTEL_EXPORTER_OTLP_HEADERS').map((e) => [e.name, e.valueFrom?.secretKeyRef]);
  assert.deepEqual(refs.sort(), [
    ['LONGLINK_REDIS_CLUSTER_NODES', { name: 'mine', key: 'redis-cluster-nodes', optional: true }],
    ['OTEL_EXPORTER_OTLP_HEADERS', { name: 'mine', key: 'otlp-headers', optional: true }],
    ['OTEL_EXPORTER_OTLP_HEADERS', { name: 'mine', key: 'otlp-headers', optional: true }],
  ].sort());
});
