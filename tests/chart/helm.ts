/**
 * The real helm binary for the chart tests, and rendering helpers.
 *
 * helm comes from tests/chart/get-helm.sh (run by tests/setup.sh), cached
 * outside the repository; LONGLINK_HELM overrides the path. A missing binary
 * is an error that says how to get it: the chart tests never skip.
 */
import { accessSync, constants, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO, type K8sObject } from './k8s-models.js';

export const CHART = join(REPO, 'charts', 'longlink');

export function helmPath(): string {
  const candidates = [
    process.env.LONGLINK_HELM,
    join(process.env.LONGLINK_HELM_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'longlink', 'helm'), 'helm'),
  ].filter((c): c is string => c !== undefined && c !== '');
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error(`helm not found (looked at ${candidates.join(', ')}): run \`bash tests/chart/get-helm.sh\` (tests/setup.sh runs it), or set LONGLINK_HELM`);
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): HelmResult {
  const r = spawnSync(helmPath(), args, { encoding: 'utf8', cwd: REPO, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** The values files under charts/longlink/ci, as chart-relative paths. */
export function ciValuesFiles(): string[] {
  return readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('.yaml')).sort().map((f) => join('ci', f));
}

/** A render case: a name, extra helm args, whether the monitoring API counts as present. */
export interface RenderCase {
  name: string;
  args: string[];
}

/** Default values, then every ci/*.yaml; all with the monitoring API announced so those objects render too. */
export function renderCases(): RenderCase[] {
  const api = ['--api-versions', 'monitoring.coreos.com/v1'];
  return [
    { name: 'default values', args: [] },
    { name: 'default values + monitoring API', args: api },
    ...ciValuesFiles().map((f) => ({ name: f, args: ['-f', join(CHART, f), ...api] })),
  ];
}

/** `helm template` with a fixed release name and namespace; throws with helm's stderr on failure. */
export function template(args: string[], release = 'll'): K8sObject[] {
  const r = helm(['template', release, CHART, '--namespace', 'push', ...args]);
  if (r.status !== 0) throw new Error(`helm template ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}`);
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(r.stdout)) {
    if (doc.errors.length > 0) throw new Error(`helm template produced invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const o = doc.toJS() as K8sObject | null;
    if (o !== null) objects.push(o);
  }
  return objects;
}

export function byKind<T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as T[];
}

export function one<T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string, nameSuffix: string): T {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  if (found.length !== 1) throw new Error(`expected one ${kind} named *${nameSuffix}, found ${found.map((o) => o.metadata.name).join(', ') || 'none'}`);
  return found[0] as T;
}
