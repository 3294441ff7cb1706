/**
 * Credentials never land in a ConfigMap: extraEnv values go into the
 * components' ConfigMaps (plain text, readable by anyone with ConfigMap
 * access, printed by `kubectl describe`), so the chart refuses every
 * variable the services mark secret there; they reach the pods from the
 * Secret only. The list comes from the services' config specs, so a new
 * secret variable is covered without touching this test.
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

const SECRET_VARS = [...new Set(([gatewaySpec, routerSpec, routerProcessSpec, consoleSpec, webhookSpec, natsSpec, redisSpec] as ConfigSpec[])
  .flatMap((spec) => Object.values(spec).filter((s) => s.secret).map((s) => s.env)))].sort();

test('the services mark their credentials secret (the list this test checks)', () => {
  for (const n of ['LONGLINK_JWT_SECRET', 'LONGLINK_API_KEYS', 'LONGLINK_CONSOLE_TOKEN', 'LONGLINK_REDIS_URL', 'LONGLINK_WEBHOOKS']) assert.ok(SECRET_VARS.includes(n), `${n} is not marked secret`);
});

test('a credential variable in gateway.extraEnv or router.extraEnv fails the render instead of landing in a ConfigMap', () => {
  for (const where of ['gateway.extraEnv', 'router.extraEnv']) {
    for (const name of SECRET_VARS) {
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
