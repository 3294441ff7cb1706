/**
 * Validation of rendered Kubernetes objects for the chart tests.
 *
 * 1. Schema: each object is built as its kubernetes-models (or
 *    @kubernetes-models/prometheus-operator) class and `.validate()`d, which
 *    checks types, enums and required fields from the OpenAPI schema.
 * 2. Unknown fields: those validators accept any extra property (a typo like
 *    `readinesProbe` or a field at the wrong level passes), so `unknownFields`
 *    walks the object alongside the models' TypeScript declarations (.d.ts),
 *    which list every property of every type, and reports the ones that do
 *    not exist. Types it cannot follow (inline object types, aliases such as
 *    Quantity or IntOrString) are treated as opaque.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';

export const REPO = resolve(dirname(new URL(import.meta.url).pathname), '../../..');

interface Validatable { validate(): void }
type Ctor = new (data: never) => Validatable;

/** apiVersion/kind → model class and the module whose .d.ts describes it. */
const MODELS: Record<string, { ctor: Ctor; module: string }> = {
  'v1/ConfigMap': { ctor: ConfigMap as unknown as Ctor, module: 'kubernetes-models/v1/ConfigMap' },
  'v1/Secret': { ctor: Secret as unknown as Ctor, module: 'kubernetes-models/v1/Secret' },
  'v1/Service': { ctor: Service as unknown as Ctor, module: 'kubernetes-models/v1/Service' },
  'v1/ServiceAccount': { ctor: ServiceAccount as unknown as Ctor, module: 'kubernetes-models/v1/ServiceAccount' },
  'apps/v1/Deployment': { ctor: Deployment as unknown as Ctor, module: 'kubernetes-models/apps/v1/Deployment' },
  'autoscaling/v2/HorizontalPodAutoscaler': { ctor: HorizontalPodAutoscaler as unknown as Ctor, module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler' },
  'policy/v1/PodDisruptionBudget': { ctor: PodDisruptionBudget as unknown as Ctor, module: 'kubernetes-models/policy/v1/PodDisruptionBudget' },
  'networking.k8s.io/v1/Ingress': { ctor: Ingress as unknown as Ctor, module: 'kubernetes-models/networking.k8s.io/v1/Ingress' },
  'networking.k8s.io/v1/NetworkPolicy': { ctor: NetworkPolicy as unknown as Ctor, module: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy' },
  'monitoring.coreos.com/v1/ServiceMonitor': { ctor: ServiceMonitor as unknown as Ctor, module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor' },
  'monitoring.coreos.com/v1/PodMonitor': { ctor: PodMonitor as unknown as Ctor, module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor' },
  'monitoring.coreos.com/v1/PrometheusRule': { ctor: PrometheusRule as unknown as Ctor, module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule' },
};

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

export function modelKey(o: K8sObject): string {
  return `${o.apiVersion}/${o.kind}`;
}

export function knownKinds(): string[] {
  return Object.keys(MODELS);
}

/** Builds the model for `o` and validates it; throws with the object's kind/name and the schema errors. */
export function validateObject(o: K8sObject): void {
  const m = MODELS[modelKey(o)];
  if (!m) throw new Error(`${modelKey(o)} ${o.metadata?.name}: no model registered for this kind (add it to tests/chart/k8s-models.ts)`);
  try {
    new m.ctor(o as never).validate();
  } catch (err) {
    throw new Error(`${modelKey(o)} ${o.metadata.name} fails schema validation: ${(err as Error).message}`, { cause: err });
  }
}

// ---- unknown-field check from the .d.ts declarations ----

interface TypeInfo {
  /** property → the type to check its value against ('' = opaque) and whether it is an array/map of it. */
  props: Map<string, { ref: string; shape: 'one' | 'array' | 'map' }>;
}

const typeCache = new Map<string, TypeInfo | null>();

function packageDts(fromDir: string, spec: string): string {
  const parts = spec.split('/');
  const pkgLen = spec.startsWith('@') ? 2 : 1;
  const pkg = parts.slice(0, pkgLen).join('/');
  const rest = parts.slice(pkgLen).join('/');
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', pkg);
    if (existsSync(candidate)) return join(candidate, rest.replace(/\.js$/, '') + '.d.ts');
    if (dirname(dir) === dir) throw new Error(`cannot resolve ${spec} from ${fromDir}`);
  }
}

function resolveDts(fromFile: string, spec: string): string {
  if (spec.startsWith('.')) return resolve(dirname(fromFile), spec.replace(/\.js$/, '') + '.d.ts');
  return packageDts(dirname(fromFile), spec);
}

/** Properties of the first interface declared in a .d.ts file, or null when it declares none (a type alias). */
function typeInfo(file: string): TypeInfo | null {
  const cached = typeCache.get(file);
  if (cached !== undefined) return cached;
  // Comments go first: their text may hold braces that would upset the depth count.
  const text = existsSync(file) ? readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '') : '';
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) imports.set(m[1]!, m[2]!);
  const start = text.search(/^export interface \w+/m);
  if (start < 0) {
    typeCache.set(file, null);
    return null;
  }
  const props: TypeInfo['props'] = new Map();
  let depth = 0;
  for (const line of text.slice(start).split('\n')) {
    if (depth === 1) {
      const m = /^ {4}"([^"]+)"\??: (.*?);?$/.exec(line);
      if (m) {
        const type = m[2]!;
        const arr = /^Array<(\w+)>$/.exec(type);
        const map = /^\{ \[key: string\]: (\w+); \}$/.exec(type);
        const name = arr?.[1] ?? map?.[1] ?? (/^\w+$/.test(type) ? type : '');
        const from = imports.get(name);
        props.set(m[1]!, { ref: from ? resolveDts(file, from) : '', shape: arr ? 'array' : map ? 'map' : 'one' });
      }
    }
    depth += (line.match(/\{/g)?.length ?? 0) - (line.match(/\}/g)?.length ?? 0);
    if (depth <= 0 && line.includes('}')) break;
  }
  const info = { props };
  typeCache.set(file, info);
  return info;
}

function walk(value: unknown, file: string, path: string, out: string[]): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  const info = typeInfo(file);
  if (info === null) return;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const p = info.props.get(key);
    if (!p) {
      out.push(`${path}.${key}`);
      continue;
    }
    if (p.ref === '' || v === null || v === undefined) continue;
    if (p.shape === 'array' && Array.isArray(v)) v.forEach((item, i) => walk(item, p.ref, `${path}.${key}[${i}]`, out));
    else if (p.shape === 'map' && typeof v === 'object') for (const [k, item] of Object.entries(v as object)) walk(item, p.ref, `${path}.${key}.${k}`, out);
    else if (p.shape === 'one') walk(v, p.ref, `${path}.${key}`, out);
  }
}

/** Paths of every property of `o` that its kind's declarations do not know (empty when all are known). */
export function unknownFields(o: K8sObject): string[] {
  const m = MODELS[modelKey(o)];
  if (!m) throw new Error(`no model registered for ${modelKey(o)}`);
  const out: string[] = [];
  walk(o, packageDts(REPO, m.module), o.kind, out);
  return out;
}
