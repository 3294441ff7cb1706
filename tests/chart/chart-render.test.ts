/**
 * The Helm chart, without a cluster: `helm lint --strict`, `helm template`
 * with the default values and every charts/longlink/ci/*.yaml, schema
 * validation of every rendered object (kubernetes-models), no unknown
 * fields, and what a schema cannot see: wiring between objects (selectors,
 * port names, Secret and ConfigMap references), probes, drain timing,
 * security context and resources. Env vars and metric names are checked
 * against the services themselves in chart-contract.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHART, byKind, ciValuesFiles, helm, helmPath, one, renderCases, template } from './helm.js';
import { unknownFields, validateObject, type K8sObject } from './k8s-models.js';
import { containers, deployments, gatewayDeadlineSeconds, matches, podSpec, type Container, type Deployment, type Probe } from './objects.js';

test('helm is available (tests/chart/get-helm.sh)', () => {
  const r = helm(['version', '--short']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^v3\./, `${helmPath()} is not helm 3: ${r.stdout}`);
});

test('helm lint --strict passes with the default values and every ci values file', () => {
  for (const args of [[], ...ciValuesFiles().map((f) => ['-f', `${CHART}/${f}`])]) {
    const r = helm(['lint', '--strict', CHART, ...args]);
    assert.equal(r.status, 0, `helm lint --strict ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/, r.stdout);
  }
});

// Rendered once per case, on first use (so a missing helm fails each test with its message).
const cache = new Map<string, K8sObject[]>();
const render = (args: string[]): K8sObject[] => {
  const key = args.join('\0');
  let objs = cache.get(key);
  if (!objs) cache.set(key, (objs = template(args)));
  return objs;
};

for (const { name, args } of renderCases()) {
  test(`${name}: every object validates against its Kubernetes schema and has no unknown fields`, () => {
    const objects = render(args);
    assert.ok(objects.length >= 6, `only ${objects.length} objects rendered`);
    for (const o of objects) {
      validateObject(o);
      assert.deepEqual(unknownFields(o), [], `${o.kind} ${o.metadata.name} has fields its API does not know`);
      assert.ok(o.metadata.labels?.['app.kubernetes.io/instance'], `${o.kind} ${o.metadata.name} lacks the standard labels`);
    }
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    assert.equal(new Set(names).size, names.length, `duplicate objects: ${names.join(', ')}`);
  });

  test(`${name}: probes, drain timing, security context and resources`, () => {
    const objects = render(args);
    for (const d of deployments(objects)) {
      const role = d.metadata.labels?.['app.kubernetes.io/component'];
      const spec = podSpec(d);
      const [c] = containers(d);
      assert.ok(c, `${d.metadata.name} has no container`);
      assert.deepEqual(c.args, [role], `${d.metadata.name} must run the image with its role argument`);
      // Probes: /healthz and /readyz on the port the process listens on.
      const cm = configFor(objects, c);
      const listenPort = Number(cm[role === 'gateway' ? 'LONGLINK_GATEWAY_PORT' : 'LONGLINK_API_PORT']);
      const port = (name: unknown): number | undefined => (typeof name === 'number' ? name : c.ports?.find((p) => p.name === name)?.containerPort);
      for (const [probe, path] of [['startupProbe', '/healthz'], ['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']] as const) {
        const get: Probe['httpGet'] = c[probe]?.httpGet;
        assert.ok(get, `${d.metadata.name}: ${probe} missing`);
        assert.equal(get.path, path, `${d.metadata.name}: ${probe} path`);
        assert.equal(port(get.port), listenPort, `${d.metadata.name}: ${probe} port ${String(get.port)} is not the listening port ${listenPort}`);
      }
      // Drain: the kubelet must not kill a pod before preStop + the drain window (gateway) or shutdown (router).
      const preStop = c.lifecycle?.preStop?.exec?.command;
      assert.ok(preStop && preStop[0] === 'sleep', `${d.metadata.name}: preStop must sleep`);
      const sleep = Number(preStop[1]);
      const needMs = role === 'gateway' ? Number(cm.LONGLINK_DRAIN_WINDOW_MS) : Number(cm.LONGLINK_SHUTDOWN_TIMEOUT_MS);
      assert.ok(Number.isFinite(sleep) && Number.isFinite(needMs), `${d.metadata.name}: preStop sleep or drain window unreadable`);
      assert.ok(spec.terminationGracePeriodSeconds >= sleep + needMs / 1000,
        `${d.metadata.name}: terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} < preStop ${sleep} s + ${needMs} ms`);
      if (role === 'gateway') {
        assert.equal(d.spec.strategy?.type, 'RollingUpdate');
        assert.equal(d.spec.strategy?.rollingUpdate?.maxUnavailable, 0, 'gateway rolling updates must keep maxUnavailable 0');
        assert.ok(Number(cm.LONGLINK_SHUTDOWN_TIMEOUT_MS) > Number(cm.LONGLINK_DRAIN_WINDOW_MS), 'shutdown timeout must exceed the drain window');
      }
      // Non-root, read-only, no capabilities, seccomp.
      const psc = spec.securityContext ?? {};
      const csc = c.securityContext ?? {};
      assert.equal(csc.runAsNonRoot ?? psc.runAsNonRoot, true, `${d.metadata.name}: runAsNonRoot`);
      assert.notEqual(csc.runAsUser ?? psc.runAsUser, 0, `${d.metadata.name}: runs as root`);
      assert.equal(csc.allowPrivilegeEscalation, false, `${d.metadata.name}: allowPrivilegeEscalation`);
      assert.equal(csc.readOnlyRootFilesystem, true, `${d.metadata.name}: readOnlyRootFilesystem`);
      assert.ok(csc.capabilities?.drop?.includes('ALL'), `${d.metadata.name}: capabilities must drop ALL`);
      assert.equal((csc.seccompProfile ?? psc.seccompProfile)?.type, 'RuntimeDefault', `${d.metadata.name}: seccomp RuntimeDefault`);
      assert.equal(spec.automountServiceAccountToken, false, `${d.metadata.name}: the pods need no API token`);
      // Service links would inject e.g. LONGLINK_GATEWAY_PORT=tcp://… for a Service named longlink-gateway.
      assert.equal(spec.enableServiceLinks, false, `${d.metadata.name}: enableServiceLinks must be false`);
      // Resources.
      assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${d.metadata.name}: cpu and memory requests`);
      assert.ok(c.resources.limits?.memory, `${d.metadata.name}: memory limit`);
      // Config and secret changes roll the pods.
      const ann = d.spec.template.metadata?.annotations ?? {};
      assert.match(ann['checksum/config'] ?? '', /^[0-9a-f]{64}$/, `${d.metadata.name}: checksum/config annotation`);
      assert.match(ann['checksum/secret'] ?? '', /^[0-9a-f]{64}$/, `${d.metadata.name}: checksum/secret annotation`);
    }
  });

  test(`${name}: selectors, port names and references resolve`, () => {
    const objects = render(args);
    const deps = deployments(objects);
    assert.deepEqual(deps.map((d) => d.metadata.labels?.['app.kubernetes.io/component']).sort(), ['gateway', 'router']);
    const podsOf = (sel: Record<string, string> | undefined): Deployment[] => deps.filter((d) => matches(sel, d.spec.template.metadata?.labels));
    for (const d of deps) {
      assert.ok(matches(d.spec.selector.matchLabels, d.spec.template.metadata?.labels), `${d.metadata.name}: selector does not match its pod labels`);
      for (const t of podSpec(d).topologySpreadConstraints ?? []) {
        assert.ok(matches(t.labelSelector?.matchLabels, d.spec.template.metadata?.labels), `${d.metadata.name}: topology spread selects other pods`);
      }
      const c = containers(d)[0]!;
      configFor(objects, c); // throws if a configMapRef names nothing rendered
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name) as (K8sObject & { data?: Record<string, string> }) | undefined;
        if (secret) assert.ok(secret.data?.[ref.key] !== undefined, `${d.metadata.name}: ${e.name} reads key ${ref.key} that Secret ${ref.name} lacks`);
        else assert.ok(!objects.some((o) => o.kind === 'Secret'), `${d.metadata.name}: ${e.name} reads Secret ${ref.name}, which is not rendered`);
      }
    }
    for (const svc of byKind<K8sObject & { spec: { selector: Record<string, string>; ports: Array<{ name: string; targetPort: unknown }> } }>(objects, 'Service')) {
      const sel = podsOf(svc.spec.selector);
      assert.equal(sel.length, 1, `Service ${svc.metadata.name} selects ${sel.length} deployments`);
      for (const p of svc.spec.ports) {
        assert.ok(containers(sel[0]!).some((c) => c.ports?.some((cp) => cp.name === p.targetPort)), `Service ${svc.metadata.name}: targetPort ${String(p.targetPort)} is no container port name`);
      }
    }
    for (const pdb of byKind<K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(objects, 'PodDisruptionBudget')) {
      assert.equal(podsOf(pdb.spec.selector.matchLabels).length, 1, `PDB ${pdb.metadata.name} selects no single deployment`);
    }
    for (const np of byKind<K8sObject & { spec: { podSelector: { matchLabels: Record<string, string> } } }>(objects, 'NetworkPolicy')) {
      assert.equal(podsOf(np.spec.podSelector.matchLabels).length, 1, `NetworkPolicy ${np.metadata.name} selects no single deployment`);
    }
    for (const hpa of byKind<K8sObject & { spec: { scaleTargetRef: { kind: string; name: string } } }>(objects, 'HorizontalPodAutoscaler')) {
      const target = deps.find((d) => d.metadata.name === hpa.spec.scaleTargetRef.name);
      assert.ok(target && hpa.spec.scaleTargetRef.kind === 'Deployment', `HPA ${hpa.metadata.name} targets nothing rendered`);
      assert.equal(target.spec.replicas, undefined, `${target.metadata.name}: replicas must be left to the HPA`);
    }
    checkMonitors(objects, deps);
    for (const ing of byKind<K8sObject & { spec: { rules: Array<{ http: { paths: Array<{ backend: { service: { name: string; port: { name: string } } } }> } }> } }>(objects, 'Ingress')) {
      for (const p of ing.spec.rules.flatMap((r) => r.http.paths)) {
        const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === p.backend.service.name) as (K8sObject & { spec: { ports: Array<{ name: string }> } }) | undefined;
        assert.ok(svc?.spec.ports.some((sp) => sp.name === p.backend.service.port.name), `Ingress ${ing.metadata.name}: backend ${p.backend.service.name}:${p.backend.service.port.name} does not exist`);
      }
      const gw = configFor(objects, containers(one<Deployment>(objects, 'Deployment', '-gateway'))[0]!);
      for (const a of ['proxy-read-timeout', 'proxy-send-timeout']) {
        const v = Number(ing.metadata.annotations?.[`nginx.ingress.kubernetes.io/${a}`]);
        assert.ok(v > gatewayDeadlineSeconds(gw), `Ingress ${a} ${v} s must exceed the longest heartbeat deadline ${gatewayDeadlineSeconds(gw)} s`);
      }
    }
  });
}

/** ServiceMonitor endpoints name a port of the Services they select; PodMonitor endpoints name a container port. */
function checkMonitors(objects: K8sObject[], deps: Deployment[]): void {
  type Monitor = K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints?: Array<{ port: string; path: string }>; podMetricsEndpoints?: Array<{ port: string; path: string }> } };
  for (const sm of byKind<Monitor>(objects, 'ServiceMonitor')) {
    const services = byKind<K8sObject & { spec: { ports: Array<{ name: string }> } }>(objects, 'Service').filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
    assert.equal(services.length, 1, `ServiceMonitor ${sm.metadata.name} selects ${services.length} Services`);
    for (const ep of sm.spec.endpoints ?? []) {
      assert.ok(services[0]!.spec.ports.some((p) => p.name === ep.port), `ServiceMonitor ${sm.metadata.name}: port ${ep.port} is not a port name of Service ${services[0]!.metadata.name}`);
      assert.equal(ep.path, '/metrics');
    }
  }
  for (const pm of byKind<Monitor>(objects, 'PodMonitor')) {
    const selected = deps.filter((d) => matches(pm.spec.selector.matchLabels, d.spec.template.metadata?.labels));
    assert.equal(selected.length, 1, `PodMonitor ${pm.metadata.name} selects ${selected.length} deployments`);
    for (const ep of pm.spec.podMetricsEndpoints ?? []) {
      assert.ok(containers(selected[0]!).some((c) => c.ports?.some((p) => p.name === ep.port)), `PodMonitor ${pm.metadata.name}: port ${ep.port} is no container port name`);
    }
  }
}

/** The ConfigMap data a container reads through envFrom (merged). */
function configFor(objects: K8sObject[], c: Container): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ref of c.envFrom ?? []) {
    const name = ref.configMapRef?.name;
    if (!name) continue;
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name) as (K8sObject & { data?: Record<string, string> }) | undefined;
    assert.ok(cm, `container ${c.name}: envFrom ConfigMap ${name} is not rendered`);
    Object.assign(out, cm.data);
  }
  return out;
}

test('monitoring.coreos.com objects render only when the API exists, or when forced', () => {
  const kinds = (objs: K8sObject[]): string[] => objs.map((o) => o.kind).filter((k) => ['ServiceMonitor', 'PodMonitor', 'PrometheusRule'].includes(k)).sort();
  assert.deepEqual(kinds(template([])), []);
  assert.deepEqual(kinds(template(['--api-versions', 'monitoring.coreos.com/v1'])), ['PrometheusRule', 'ServiceMonitor', 'ServiceMonitor']);
  assert.deepEqual(kinds(template(['--set', 'monitoring.force=true'])), ['PrometheusRule', 'ServiceMonitor', 'ServiceMonitor']);
  const dash = one<K8sObject & { data: Record<string, string> }>(template([]), 'ConfigMap', '-dashboards');
  assert.equal(dash.metadata.labels?.grafana_dashboard, '1');
  assert.ok(Object.keys(dash.data).length >= 1, 'no dashboard in the ConfigMap');
  for (const [file, json] of Object.entries(dash.data)) assert.doesNotThrow(() => JSON.parse(json), `${file} is not valid JSON`);
});

test('gateway HPA scales on connections per pod with a CPU fallback and a slow scale-down', () => {
  const objs = template(['--set', 'gateway.autoscaling.enabled=true']);
  const hpa = one<K8sObject & { spec: { metrics: Array<{ type: string; pods?: { metric: { name: string } }; resource?: { name: string } }>; behavior: { scaleDown: { stabilizationWindowSeconds: number; policies: Array<{ type: string; value: number }> } } } }>(objs, 'HorizontalPodAutoscaler', '-gateway');
  assert.deepEqual(hpa.spec.metrics.map((m) => m.pods?.metric.name ?? m.resource?.name), ['longlink_gateway_connections', 'cpu']);
  assert.ok(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds >= 600, 'scale-down stabilization should be long: each scale-down disconnects a pod\'s clients');
  assert.deepEqual(hpa.spec.behavior.scaleDown.policies.map((p) => [p.type, p.value]), [['Pods', 1]]);
});

test('router console: off by default; when enabled, the router gets its own token from the Secret (given or generated)', () => {
  const routerEnv = (objects: K8sObject[]) => containers(deployments(objects).find((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'router')!)[0]!.env ?? [];
  const secretData = (objects: K8sObject[]) => (objects.find((o) => o.kind === 'Secret') as K8sObject & { data: Record<string, string> }).data;
  const off = template([]);
  assert.equal(routerEnv(off).find((e) => e.name === 'LONGLINK_CONSOLE_TOKEN'), undefined);
  assert.equal(secretData(off)['console-token'], undefined);
  const given = template(['--set', 'router.console.enabled=true', '--set', 'router.console.token=chart-console-token-0123456789']);
  assert.deepEqual(routerEnv(given).find((e) => e.name === 'LONGLINK_CONSOLE_TOKEN')?.valueFrom?.secretKeyRef, { name: 'll-longlink', key: 'console-token' });
  assert.equal(Buffer.from(secretData(given)['console-token']!, 'base64').toString(), 'chart-console-token-0123456789');
  const generated = Buffer.from(secretData(template(['--set', 'router.console.enabled=true']))['console-token']!, 'base64').toString();
  assert.match(generated, /^[A-Za-z0-9]{40}$/);
});

test('router webhooks: LONGLINK_WEBHOOKS from the named Secret, and (with NetworkPolicies) egress to the receivers', () => {
  const routerOf = (objects: K8sObject[]) => deployments(objects).find((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'router')!;
  type Egress = Array<{ ports?: Array<{ port: number }> }>;
  const routerEgress = (objects: K8sObject[]): Egress => byKind<K8sObject & { spec: { egress: Egress } }>(objects, 'NetworkPolicy').find((n) => n.metadata.name.endsWith('router'))!.spec.egress;
  const off = template(['--set', 'networkPolicy.enabled=true']);
  assert.equal((containers(routerOf(off))[0]!.env ?? []).find((e) => e.name === 'LONGLINK_WEBHOOKS'), undefined);
  assert.ok(!routerEgress(off).some((r) => r.ports?.some((p) => p.port === 443)), 'no receiver egress without webhooks');
  const on = template(['--set', 'networkPolicy.enabled=true', '--set', 'router.webhooks.existingSecret=hooks']);
  assert.deepEqual((containers(routerOf(on))[0]!.env ?? []).find((e) => e.name === 'LONGLINK_WEBHOOKS')?.valueFrom?.secretKeyRef, { name: 'hooks', key: 'LONGLINK_WEBHOOKS' });
  assert.ok(routerEgress(on).some((r) => r.ports?.some((p) => p.port === 443)), 'egress to the receivers');
});

test('values the services would reject fail at render time with a clear message', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--set', 'router.console.enabled=true', '--set', 'router.console.token=short'], /router\.console\.token|does not match pattern/],
    [['--set', 'router.console.enabled=true', '--set', 'router.console.token=same-key-as-the-api-0123456789', '--set', 'auth.apiKeys={same-key-as-the-api-0123456789}'], /must differ from every auth\.apiKeys key/],
    [['--set', 'gateway.drain.windowMs=50000'], /shutdownTimeoutMs must exceed gateway\.drain\.windowMs/],
    [['--set', 'gateway.terminationGracePeriodSeconds=10'], /terminationGracePeriodSeconds \(10\) must be >=/],
    [['--set', 'gateway.heartbeat.defaultMs=1000000'], /minMs <= defaultMs <= maxMs/],
    [['--set', 'auth.jwt.secret=short'], /auth\.jwt\.secret/],
    [['--set', 'auth.jwt.mode=jwks'], /jwksUrl/],
    [['--set', 'gateway.readinesProbe.periodSeconds=1'], /Additional property readinesProbe is not allowed/],
    [['--set', 'gateway.extraEnv.NODE_OPTIONS=x'], /extraEnv|NODE_OPTIONS|does not match pattern/],
    [['--set', 'gateway.ingress.enabled=true', '--set', 'gateway.ingress.timeoutSeconds=60'], /timeoutSeconds must exceed the longest heartbeat deadline/],
  ];
  for (const [args, expected] of cases) {
    const r = helm(['template', 'll', CHART, ...args]);
    assert.notEqual(r.status, 0, `helm template ${args.join(' ')} should fail`);
    assert.match(r.stderr, expected, `helm template ${args.join(' ')}: unexpected error:\n${r.stderr}`);
  }
});
