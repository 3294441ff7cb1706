/** Typed views of rendered objects for the chart tests (only the fields they read). */
import type { K8sObject } from './k8s-models.js';

export interface Probe { httpGet?: { path: string; port: number | string } }
export interface SecurityContext {
  runAsNonRoot?: boolean; runAsUser?: number; allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[] }; seccompProfile?: { type: string };
}
export interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: { fieldPath: string } } }
export interface Container {
  name: string;
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  startupProbe?: Probe; readinessProbe?: Probe; livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { memory?: string } };
  securityContext?: SecurityContext;
}
export interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds: number;
  securityContext?: SecurityContext;
  automountServiceAccountToken?: boolean;
  enableServiceLinks?: boolean;
  topologySpreadConstraints?: Array<{ labelSelector?: { matchLabels?: Record<string, string> } }>;
}
export interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    strategy?: { type: string; rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string } };
    template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}

export function deployments(objects: K8sObject[]): Deployment[] {
  return objects.filter((o): o is Deployment => o.kind === 'Deployment');
}

export function podSpec(d: Deployment): PodSpec {
  return d.spec.template.spec;
}

export function containers(d: Deployment): Container[] {
  return d.spec.template.spec.containers;
}

/** A label selector (matchLabels) matches a label set: every selector pair is present. Empty selectors match nothing here. */
export function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  const pairs = Object.entries(selector ?? {});
  return pairs.length > 0 && pairs.every(([k, v]) => labels?.[k] === v);
}

/** The gateway's longest server-side heartbeat deadline (s): LONGLINK_HB_MAX_MS x 1.5 + LONGLINK_HB_GRACE_MS. */
export function gatewayDeadlineSeconds(env: Record<string, string>): number {
  return (Number(env.LONGLINK_HB_MAX_MS ?? 900_000) * 1.5 + Number(env.LONGLINK_HB_GRACE_MS ?? 5000)) / 1000;
}
