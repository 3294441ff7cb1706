/**
 * /metrics never reaches the internet through the chart: the gateway Service
 * is public by default (LoadBalancer), so the port it targets must not serve
 * /metrics. For every render case, the ports any non-ClusterIP Service
 * targets are resolved to container port numbers and checked against the
 * port the gateway serves /metrics on (LONGLINK_METRICS_PORT, else the
 * WebSocket port). Then a real gateway started with the chart's port layout
 * answers /metrics with 404 on the WebSocket port and serves it on the
 * metrics port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byKind, renderCases, template } from './helm.js';
import type { K8sObject } from './k8s-models.js';
import { containers, deployments, type Deployment } from './objects.js';
import { start } from '../helpers/standalone.js';

type Service = K8sObject & { spec: { type?: string; selector?: Record<string, string>; ports: Array<{ name?: string; port: number; targetPort?: number | string }> } };
type ConfigMap = K8sObject & { data?: Record<string, string> };

const selects = (sel: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean =>
  sel !== undefined && Object.entries(sel).every(([k, v]) => labels?.[k] === v);

/** The gateway container's env from its ConfigMap(s). */
function gatewayEnv(objects: K8sObject[], d: Deployment): Record<string, string> {
  const env: Record<string, string> = {};
  for (const c of containers(d)) {
    for (const ref of c.envFrom ?? []) {
      const cm = byKind<ConfigMap>(objects, 'ConfigMap').find((o) => o.metadata.name === ref.configMapRef?.name);
      Object.assign(env, cm?.data ?? {});
    }
    for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  }
  return env;
}

for (const rc of renderCases()) {
  test(`${rc.name}: no Service reachable from outside the cluster targets the gateway's /metrics port`, () => {
    const objects = template(rc.args);
    const gw = deployments(objects).find((d) => containers(d).some((c) => c.args?.includes('gateway')));
    assert.ok(gw, 'a gateway Deployment');
    const env = gatewayEnv(objects, gw);
    const metricsPort = Number(env.LONGLINK_METRICS_PORT ?? env.LONGLINK_GATEWAY_PORT);
    const podLabels = gw.spec.template.metadata?.labels;
    const publicServices = byKind<Service>(objects, 'Service').filter((s) => (s.spec.type ?? 'ClusterIP') !== 'ClusterIP' && selects(s.spec.selector, podLabels));
    for (const s of publicServices) {
      for (const p of s.spec.ports) {
        const target = p.targetPort ?? p.port;
        const num = typeof target === 'number' ? target : containers(gw).flatMap((c) => c.ports ?? []).find((cp) => cp.name === target)?.containerPort;
        assert.ok(num !== undefined, `Service ${s.metadata.name}: target port ${String(target)} resolves to a container port`);
        assert.notEqual(num, metricsPort, `Service ${s.metadata.name} (${s.spec.type}) exposes the gateway's /metrics port ${metricsPort}`);
      }
    }
    assert.ok(env.LONGLINK_METRICS_PORT !== undefined, 'the chart gives the gateways a metrics port of their own (LONGLINK_METRICS_PORT)');
    assert.notEqual(metricsPort, Number(env.LONGLINK_GATEWAY_PORT), '/metrics is not on the WebSocket port');
  });
}

test('a real gateway with the chart\'s layout: /metrics is 404 on the WebSocket port, served on the metrics port', async () => {
  const objects = template([]);
  const env = gatewayEnv(objects, deployments(objects).find((d) => containers(d).some((c) => c.args?.includes('gateway')))!);
  // Free ports instead of the chart's fixed numbers; the layout (a separate metrics listener) is the chart's.
  const s = await start({ LONGLINK_METRICS_PORT: '0' });
  try {
    const onWs = await fetch(`${s.gatewayHttpUrl}/metrics`);
    assert.equal(onWs.status, 404, 'the public WebSocket port does not serve /metrics');
    assert.equal((await onWs.json() as { error: { code: string } }).error.code, 'LL_NOT_FOUND');
    const port = s.gateway.metricsPort;
    assert.ok(port !== undefined && port !== s.gateway.port, `a separate metrics listener (got ${String(port)})`);
    const scraped = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(scraped.status, 200);
    assert.match(await scraped.text(), /^longlink_gateway_connections /m);
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200, 'the metrics listener answers the probes too');
    assert.equal((await fetch(`${s.gatewayHttpUrl}/healthz`)).status, 200, 'the WebSocket port keeps the probes');
    assert.ok(env.LONGLINK_METRICS_PORT !== undefined, 'the chart sets LONGLINK_METRICS_PORT');
  } finally {
    await s.close();
  }
});
