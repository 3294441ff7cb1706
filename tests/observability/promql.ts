/**
 * Helpers for the observability tests: the Prometheus HTTP API, metric names
 * from a real /metrics scrape and from PromQL text, and the repository's
 * dashboards and rule files as data.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

export const GRAFANA_DIR = 'infra/grafana';
export const RULES_FILE = 'infra/prometheus/alerts.yml';

// ---- Prometheus HTTP API -------------------------------------------------------------

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export type QueryResult = { ok: true; samples: Sample[] } | { ok: false; error: string };

/** An instant query (/api/v1/query). Errors (bad PromQL, execution errors) come back as `ok: false`, never thrown. */
export async function query(promUrl: string, expr: string): Promise<QueryResult> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  if (body.status !== 'success' || !body.data) return { ok: false, error: body.error ?? `HTTP ${res.status}` };
  const { resultType, result } = body.data;
  if (resultType === 'vector') return { ok: true, samples: result as Sample[] };
  if (resultType === 'scalar') return { ok: true, samples: [{ metric: {}, value: result as [number, string] }] };
  return { ok: false, error: `unexpected result type ${resultType}` };
}

/** The query's samples; throws with the PromQL error. */
export async function samples(promUrl: string, expr: string): Promise<Sample[]> {
  const r = await query(promUrl, expr);
  if (!r.ok) throw new Error(`${expr}: ${r.error}`);
  return r.samples;
}

/** The single value of a query that must return exactly one sample (NaN if it returned none). */
export async function scalar(promUrl: string, expr: string): Promise<number> {
  const s = await samples(promUrl, expr);
  if (s.length > 1) throw new Error(`${expr}: ${s.length} samples, expected one`);
  return s.length === 0 ? Number.NaN : Number(s[0]!.value[1]);
}

/** Polls `expr` until `pred` holds on its samples; resolves with them. */
export async function until(promUrl: string, expr: string, pred: (s: Sample[]) => boolean, what: string, timeoutMs = 20_000): Promise<Sample[]> {
  const t0 = Date.now();
  let last: QueryResult | undefined;
  for (;;) {
    last = await query(promUrl, expr);
    if (last.ok && pred(last.samples)) return last.samples;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${expr}); last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---- metric names ----------------------------------------------------------------------

/**
 * Every series name a /metrics endpoint exports, histogram and summary
 * series (_bucket, _sum, _count) included, plus the family names themselves.
 * `families` are the `# TYPE` names only.
 */
export async function scrapeNames(metricsUrl: string): Promise<{ series: Set<string>; families: Map<string, string> }> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`${metricsUrl}: HTTP ${res.status}`);
  const text = await res.text();
  const series = new Set<string>();
  const families = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const name = m[1]!;
    const type = m[2]!;
    families.set(name, type);
    series.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) series.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) series.add(name + s);
  }
  for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)) series.add(m[1]!);
  return { series, families };
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan', 'atan2']);

/**
 * Metric names a PromQL expression selects, by a small tokenizer: strings,
 * label matchers, ranges and grouping-label lists are removed; what is left
 * of the identifiers, minus function calls and keywords, are metric names.
 * Grafana variables must be substituted first.
 */
export function promqlMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out = new Set<string>();
  for (const m of stripped.matchAll(/(?<![a-zA-Z0-9_:.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = m[0];
    const rest = stripped.slice(m.index + name.length);
    if (/^\s*\(/.test(rest) || KEYWORDS.has(name.toLowerCase())) continue;
    out.add(name);
  }
  return [...out];
}

// ---- dashboards --------------------------------------------------------------------------

export interface DashboardTarget { expr: string; refId: string; legendFormat?: string; format?: string; datasource?: { type?: string; uid?: string } }
export interface DashboardPanel {
  id: number; type: string; title: string; description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: DashboardTarget[];
  fieldConfig?: { defaults?: { unit?: string } };
  options?: { yAxis?: { unit?: string } };
  panels?: DashboardPanel[];
}
export interface TemplateVar { name: string; type: string; query?: string | { query: string }; allValue?: string; includeAll?: boolean; multi?: boolean }
export interface Dashboard {
  uid: string; title: string; schemaVersion: number;
  templating: { list: TemplateVar[] };
  panels: DashboardPanel[];
}

export function dashboards(): Array<{ file: string; dashboard: Dashboard }> {
  return readdirSync(GRAFANA_DIR).filter((f) => f.endsWith('.json')).sort()
    .map((f) => ({ file: path.join(GRAFANA_DIR, f), dashboard: JSON.parse(readFileSync(path.join(GRAFANA_DIR, f), 'utf8')) as Dashboard }));
}

/** Every panel, rows' nested panels included. */
export function allPanels(d: Dashboard): DashboardPanel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/**
 * Grafana's interpolation for an instant query: `$var` / `${var}` take the
 * given values (a multi-value or All selection is a regex alternation, as
 * Grafana renders it for =~), `$__rate_interval` the given window.
 */
export function substitute(expr: string, vars: Record<string, string>, rateInterval: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, rateInterval)
    .replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a: string | undefined, b: string | undefined) => {
      const name = a ?? b ?? '';
      const v = vars[name];
      if (v === undefined) throw new Error(`undefined dashboard variable ${m} in ${expr}`);
      return v;
    });
}

// ---- rules -----------------------------------------------------------------------------------

export interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }

export function ruleGroups(file = RULES_FILE): Array<{ name: string; rules: Rule[] }> {
  return (parseYaml(readFileSync(file, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups;
}
