/**
 * The chart against the services it deploys:
 *  - every environment variable the chart sets is one the service reads
 *    (gatewaySpec/natsSpec for the gateway; routerSpec/natsSpec/redisSpec and
 *    the router's process variables, taken from its --help; OTEL_* for the
 *    OpenTelemetry SDK), and the rendered values pass the services' own
 *    config validation;
 *  - every metric the HPA, the alert rules and the dashboards name is one a
 *    running gateway or router exports (scraped from real cluster-mode
 *    processes on real NATS and Redis);
 *  - the chart's copies of infra/ monitoring files match their originals.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { gatewaySpec, loadGatewayConfig } from '../../services/gateway/config.js';
import { loadRouterSettings, routerProcessSpec, routerSpec } from '../../services/router/config.js';
import { loadConsoleAccess } from '../../services/router/console/config.js';
import { natsSpec, redisSpec } from '../../services/shared/cluster-config.js';
import { loadConfig, type ConfigSpec } from '../../services/shared/config.js';
import { tracingConfigured } from '../../services/shared/tracing.js';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { CHART, byKind, renderCases, template } from './helm.js';
import { REPO, type K8sObject } from './k8s-models.js';
import { containers, deployments, type Container } from './objects.js';

const names = (...specs: ConfigSpec[]): Set<string> => new Set(specs.flatMap((s) => Object.values(s).map((v) => v.env)));

/** Every variable the router process reads, from its own --help (includes its process-level variables). */
function routerHelpNames(): Set<string> {
  const r = spawnSync(process.execPath, [join(REPO, 'dist/services/router/main.js'), '--help'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `router --help failed: ${r.stderr}`);
  const found = new Set([...r.stdout.matchAll(/^ {2}(LONGLINK_[A-Z0-9_]+)$/gm)].map((m) => m[1]!));
  assert.ok(found.size > 5, `router --help listed no variables:\n${r.stdout}`);
  return found;
}

/** Stand-ins for values an existing Secret would hold (the chart cannot see them). */
const EXTERNAL_SECRET_VALUES: Record<string, string> = {
  LONGLINK_JWT_SECRET: 'external-secret-0123456789-0123456789',
  LONGLINK_JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAbRnfpEIsNqDdWjKkUIe2j2AP3ZwEHmgItdNrWLRoLnU=\n-----END PUBLIC KEY-----\n',
  LONGLINK_API_KEYS: 'external-api-key-0123456789',
  LONGLINK_REDIS_URL: 'redis://:pw@redis:6379',
};

/** The environment a container would see: envFrom ConfigMaps, then env (Secrets decoded, downward API faked). */
function containerEnv(objects: K8sObject[], c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ref of c.envFrom ?? []) {
    assert.equal(ref.secretRef, undefined, `${c.name}: envFrom secretRef would inject unlisted variables`);
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ref.configMapRef?.name) as (K8sObject & { data?: Record<string, string> }) | undefined;
    assert.ok(cm, `${c.name}: envFrom names a ConfigMap that is not rendered`);
    Object.assign(env, cm.data);
  }
  for (const e of c.env ?? []) {
    const sk = e.valueFrom?.secretKeyRef;
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = 'longlink-gateway-7d9f8-abcde';
    else if (sk) {
      const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === sk.name) as (K8sObject & { data: Record<string, string> }) | undefined;
      const raw = secret?.data[sk.key];
      // An optional key an existing Secret may lack: the variable stays unset, as the kubelet leaves it.
      if (raw === undefined && sk.optional && EXTERNAL_SECRET_VALUES[e.name] === undefined) continue;
      env[e.name] = raw !== undefined ? Buffer.from(raw, 'base64').toString('utf8') : (EXTERNAL_SECRET_VALUES[e.name] ?? '');
      assert.ok(env[e.name], `${c.name}: no value for ${e.name}`);
    }
  }
  return env;
}

test('every env var the chart sets exists in the services\' config specs, and the values pass their validation', () => {
  const gatewayNames = names(gatewaySpec, natsSpec);
  const routerNames = routerHelpNames();
  for (const n of names(routerSpec, natsSpec, redisSpec)) assert.ok(routerNames.has(n), `router --help does not list ${n}`);
  for (const { name, args } of renderCases()) {
    const objects = template(args);
    for (const d of deployments(objects)) {
      const role = d.metadata.labels?.['app.kubernetes.io/component'];
      const env = containerEnv(objects, containers(d)[0]!);
      const allowed = role === 'gateway' ? gatewayNames : routerNames;
      // OTEL_* are the OpenTelemetry SDK's own standard variables (services/shared/tracing.ts).
      const unknown = Object.keys(env).filter((k) => !allowed.has(k) && !/^OTEL_[A-Z0-9_]+$/.test(k));
      assert.deepEqual(unknown, [], `${name}: ${d.metadata.name} sets variables the ${role} does not read`);
      if (Object.keys(env).some((k) => k.startsWith('OTEL_'))) assert.ok(tracingConfigured(env), `${name}: ${role} gets OTEL_* variables that do not turn tracing on`);
      // Cluster wiring the defaults would get wrong inside a pod.
      assert.ok(env.LONGLINK_NATS_URLS && !env.LONGLINK_NATS_URLS.includes('127.0.0.1'), `${name}: ${role} must get the external NATS URLs`);
      if (role === 'gateway') {
        assert.equal(env.LONGLINK_GATEWAY_HOST, '0.0.0.0', `${name}: the gateway must listen on all interfaces`);
        assert.doesNotThrow(() => loadGatewayConfig(env), `${name}: the gateway rejects the chart's configuration`);
        assert.doesNotThrow(() => loadConfig(natsSpec, env));
        const cfg = loadGatewayConfig(env);
        assert.equal(cfg.dev, false, `${name}: dev mode must never be on`);
        assert.ok(cfg.jwtSecret ?? cfg.jwtPublicKey ?? cfg.jwtJwksUrl, `${name}: no JWT key reaches the gateway`);
      } else {
        assert.equal(env.LONGLINK_API_HOST, '0.0.0.0', `${name}: the router listens on 127.0.0.1 by default; the chart must bind 0.0.0.0`);
        const settings = loadRouterSettings(env);
        assert.ok(settings.apiKeys.length > 0, `${name}: the router needs LONGLINK_API_KEYS`);
        assert.doesNotThrow(() => loadConfig(natsSpec, env));
        assert.doesNotThrow(() => loadConfig(redisSpec, env), `${name}: LONGLINK_REDIS_URL invalid`);
        assert.doesNotThrow(() => loadConfig(routerProcessSpec, env), `${name}: router process variables invalid`);
        // The operator console: on exactly when the chart hands the router its own token, which the router accepts.
        const access = loadConsoleAccess(env, { dev: false, apiKeys: settings.apiKeys });
        assert.equal(access.enabled, env.LONGLINK_CONSOLE_TOKEN !== undefined, `${name}: console enabled iff LONGLINK_CONSOLE_TOKEN is set`);
      }
    }
  }
});

// ---- metric names, from a real scrape ----

let cluster: Cluster | undefined;
after(async () => { await cluster?.stop(); });

let exported: Set<string> | undefined;
/**
 * Every series name the deployed processes export: a cluster-mode gateway and
 * router (real NATS and Redis) started from dist/, as the chart runs them,
 * both /metrics scraped. (Standalone mode lacks the NATS and Redis metrics.)
 */
async function exportedMetrics(): Promise<Set<string>> {
  if (exported) return exported;
  // Webhooks on (JetStream queue, a receiver address that refuses), so the router exports their metrics too.
  cluster = await startCluster({
    gateways: 1, routers: 1, jetstream: true,
    routerEnv: { LONGLINK_WEBHOOKS: JSON.stringify([{ name: 'contract', url: 'http://127.0.0.1:9/hooks', events: ['*'], secrets: ['whsec_' + Buffer.alloc(32, 7).toString('base64')] }]) },
  });
  const out = new Set<string>();
  for (const url of [`${cluster.gateways[0]!.httpUrl}/metrics`, `${cluster.apiUrl}/metrics`]) {
    const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
    assert.equal(res.status, 200, url);
    const text = await res.text();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      const [, name, type] = m as unknown as [string, string, string];
      out.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) out.add(name + suffix);
      if (type === 'summary') for (const suffix of ['_sum', '_count']) out.add(name + suffix);
    }
    for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)) out.add(m[1]!);
  }
  assert.ok(out.has('longlink_gateway_connections'), 'the gateway scrape lacks longlink_gateway_connections');
  assert.ok([...out].some((n) => n.startsWith('longlink_router_')), 'the router scrape lacks longlink_router_*');
  return (exported = out);
}

/** longlink_* series names in a PromQL text; recording-rule names (level:metric:operation) are not exported series. */
const metricRefs = (text: string): string[] => [...new Set(text.match(/(?<![:\w])longlink_[a-z0-9_]+(?![:\w])/g) ?? [])];

test('HPA custom metric names exist in the gateway\'s real /metrics', async () => {
  const metrics = await exportedMetrics();
  const hpaMetrics = new Set<string>();
  for (const args of [['--set', 'gateway.autoscaling.enabled=true'], ...renderCases().map((c) => c.args)]) {
    for (const hpa of byKind<K8sObject & { spec: { metrics: Array<{ pods?: { metric: { name: string } } }> } }>(template(args), 'HorizontalPodAutoscaler')) {
      for (const m of hpa.spec.metrics) if (m.pods) hpaMetrics.add(m.pods.metric.name);
    }
  }
  assert.ok(hpaMetrics.size > 0, 'no HPA with a custom metric rendered');
  for (const m of hpaMetrics) assert.ok(metrics.has(m), `HPA metric ${m} is not exported by the gateway (has: ${[...metrics].filter((n) => n.startsWith('longlink_gateway_')).join(', ')})`);
});

test('alert rules and dashboards only name metrics the services export', async () => {
  const metrics = await exportedMetrics();
  const alerts = readFileSync(join(CHART, 'files/alerts.yml'), 'utf8');
  const groups = (parseYaml(alerts) as { groups: Array<{ rules: Array<{ alert?: string; expr: string; for?: string }> }> }).groups;
  assert.ok(groups.length > 0 && groups.every((g) => g.rules.length > 0), 'alerts.yml has no rules');
  for (const r of groups.flatMap((g) => g.rules)) {
    for (const m of metricRefs(r.expr)) assert.ok(metrics.has(m), `alert ${r.alert}: ${m} is not exported`);
  }
  const dashDir = join(CHART, 'files/dashboards');
  const dashboards = readdirSync(dashDir).filter((f) => f.endsWith('.json'));
  assert.ok(dashboards.length > 0, 'no dashboards under files/dashboards');
  for (const f of dashboards) {
    const text = readFileSync(join(dashDir, f), 'utf8');
    const d = JSON.parse(text) as { uid?: string; panels?: unknown[] };
    assert.ok(d.uid && Array.isArray(d.panels) && d.panels.length > 0, `${f}: not a dashboard`);
    for (const m of metricRefs(text)) assert.ok(metrics.has(m), `dashboard ${f}: ${m} is not exported`);
  }
});

test('the chart\'s monitoring files are copies of infra/ (where infra/ has them)', () => {
  const infraAlerts = join(REPO, 'infra/prometheus/alerts.yml');
  if (existsSync(infraAlerts)) {
    assert.deepEqual(parseYaml(readFileSync(join(CHART, 'files/alerts.yml'), 'utf8')), parseYaml(readFileSync(infraAlerts, 'utf8')),
      'charts/longlink/files/alerts.yml differs from infra/prometheus/alerts.yml: copy it over');
  }
  const infraGrafana = join(REPO, 'infra/grafana');
  if (existsSync(infraGrafana)) {
    for (const f of readdirSync(infraGrafana).filter((x) => x.endsWith('.json'))) {
      const copy = join(CHART, 'files/dashboards', f);
      assert.ok(existsSync(copy), `infra/grafana/${f} has no copy in charts/longlink/files/dashboards/`);
      assert.deepEqual(JSON.parse(readFileSync(copy, 'utf8')), JSON.parse(readFileSync(join(infraGrafana, f), 'utf8')), `charts/longlink/files/dashboards/${f} differs from infra/grafana/${f}: copy it over`);
    }
  }
});

test('the alert rules\' job selectors match the job label the chart\'s monitors give, for any release name', () => {
  const alerts = readFileSync(join(CHART, 'files/alerts.yml'), 'utf8');
  const selectors = [...new Set([...alerts.matchAll(/\bjob=~"([^"]+)"/g)].map((m) => m[1]!))];
  for (const [release, extra] of [['ll', []], ['longlink', []], ['my-longlink-prod', []], ['x', ['--set', 'fullnameOverride=push']], ['y', ['--set', 'monitoring.serviceMonitor.kind=PodMonitor']]] as Array<[string, string[]]>) {
    type Monitor = K8sObject & { spec: { endpoints?: Array<{ relabelings?: Array<{ targetLabel?: string; replacement?: string }> }>; podMetricsEndpoints?: Array<{ relabelings?: Array<{ targetLabel?: string; replacement?: string }> }> } };
    const monitors = template(['--set', 'monitoring.force=true', ...extra], release).filter((o): o is Monitor => o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor');
    const jobs = monitors.flatMap((m) => [...(m.spec.endpoints ?? []), ...(m.spec.podMetricsEndpoints ?? [])]).map((e) => e.relabelings?.find((r) => r.targetLabel === 'job')?.replacement);
    assert.equal(jobs.length, 2, `release ${release}: expected a gateway and a router monitor`);
    for (const sel of selectors) {
      assert.ok(jobs.some((j) => j !== undefined && new RegExp(`^(?:${sel})$`).test(j)), `release ${release}: no monitor's job (${jobs.join(', ')}) matches job=~"${sel}" in alerts.yml`);
    }
  }
});
