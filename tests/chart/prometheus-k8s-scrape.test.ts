/**
 * infra/prometheus/prometheus.kubernetes.yml (pod discovery, without the
 * Prometheus Operator) scrapes the pods the chart deploys: each job's keep
 * rules are applied to every container port of the chart's pods (the pod
 * role yields one target per container port), and the ports kept must be
 * the ones that serve /metrics. The chart gives the gateways a metrics port
 * of their own (LONGLINK_METRICS_PORT): their WebSocket port ("http")
 * answers /metrics with 404, so a job keeping "http" scrapes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { byKind, template } from './helm.js';
import type { K8sObject } from './k8s-models.js';
import { containers, deployments, type Deployment } from './objects.js';

type ConfigMap = K8sObject & { data?: Record<string, string> };
interface Relabel { source_labels?: string[]; regex?: string; action?: string; separator?: string }
interface ScrapeConfig { job_name: string; relabel_configs?: Relabel[] }

function env(objects: K8sObject[], d: Deployment): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of containers(d)) {
    for (const ref of c.envFrom ?? []) Object.assign(out, byKind<ConfigMap>(objects, 'ConfigMap').find((o) => o.metadata.name === ref.configMapRef?.name)?.data ?? {});
    for (const e of c.env ?? []) if (e.value !== undefined) out[e.name] = e.value;
  }
  return out;
}

/** The container ports of `d`'s pods that `job`'s keep / drop rules let through. */
function keptPorts(job: ScrapeConfig, d: Deployment): number[] {
  const labels = d.spec.template.metadata?.labels ?? {};
  const kept: number[] = [];
  for (const c of containers(d)) {
    for (const p of c.ports ?? []) {
      const meta: Record<string, string> = {
        __meta_kubernetes_pod_container_port_name: p.name ?? '',
        __meta_kubernetes_pod_container_port_number: String(p.containerPort),
        __meta_kubernetes_pod_container_name: c.name,
        __meta_kubernetes_pod_phase: 'Running',
      };
      for (const [k, v] of Object.entries(labels)) meta[`__meta_kubernetes_pod_label_${k.replace(/[^A-Za-z0-9_]/g, '_')}`] = v;
      const ok = (job.relabel_configs ?? []).every((r) => {
        if (r.action !== 'keep' && r.action !== 'drop') return true;
        const value = (r.source_labels ?? []).map((l) => meta[l] ?? '').join(r.separator ?? ';');
        const match = new RegExp(`^(?:${r.regex ?? '(.*)'})$`).test(value);
        return r.action === 'keep' ? match : !match;
      });
      if (ok) kept.push(p.containerPort);
    }
  }
  return kept;
}

test('prometheus.kubernetes.yml scrapes the chart\'s gateways and routers on the ports that serve /metrics', () => {
  const config = parseYaml(readFileSync('infra/prometheus/prometheus.kubernetes.yml', 'utf8')) as { scrape_configs: ScrapeConfig[] };
  const objects = template([]);
  const deploy = (component: string): Deployment => {
    const d = deployments(objects).find((x) => x.spec.template.metadata?.labels?.['app.kubernetes.io/component'] === component);
    assert.ok(d, `a ${component} Deployment`);
    return d;
  };
  const gw = deploy('gateway');
  const router = deploy('router');
  const gwEnv = env(objects, gw);
  const gwMetrics = Number(gwEnv.LONGLINK_METRICS_PORT ?? gwEnv.LONGLINK_GATEWAY_PORT);
  const routerMetrics = Number(env(objects, router).LONGLINK_API_PORT);
  const job = (name: string): ScrapeConfig => {
    const j = config.scrape_configs.find((s) => s.job_name === name);
    assert.ok(j, `job ${name}`);
    return j;
  };
  assert.deepEqual(keptPorts(job('longlink-gateway'), gw), [gwMetrics], `the gateway job scrapes the gateways' /metrics port ${gwMetrics} only`);
  assert.deepEqual(keptPorts(job('longlink-gateway'), router), [], 'the gateway job keeps no router port');
  assert.deepEqual(keptPorts(job('longlink-router'), router), [routerMetrics], `the router job scrapes the routers' API port ${routerMetrics}`);
  assert.deepEqual(keptPorts(job('longlink-router'), gw), [], 'the router job keeps no gateway port');
});
