/**
 * The chart README's values table, derived from values.yaml's `# --`
 * comments (helm-docs style): one row per leaf, and one row for a documented
 * block (its children folded in). `node dist/tests/chart/values-doc.js`
 * prints the table to paste into charts/longlink/README.md; the chart-docs
 * test checks that the README lists every row's key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from './k8s-models.js';

export interface ValueRow { key: string; def: string; description: string }

export function valueRows(valuesYaml: string): ValueRow[] {
  const lines = valuesYaml.split('\n');
  const stack: string[] = [];
  const rows: ValueRow[] = [];
  let desc: string[] = [];
  let fold: number | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const doc = /^\s*# -- (.*)$/.exec(line);
    if (doc) {
      desc = [doc[1]!];
      continue;
    }
    if (/^\s*#/.test(line)) continue;
    const m = /^(\s*)([A-Za-z0-9_]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 2;
    if (fold !== null && depth > fold) {
      desc = [];
      continue;
    }
    fold = null;
    stack.length = depth;
    stack[depth] = m[2]!;
    const key = stack.join('.');
    const value = m[3]!;
    if (value === '' && desc.length > 0) {
      rows.push({ key, def: /^\s*- /.test(lines[i + 1] ?? '') ? '(list, see values.yaml)' : '(see values.yaml)', description: desc.join(' ') });
      fold = depth;
    } else if (value !== '') rows.push({ key, def: value, description: desc.join(' ') });
    desc = [];
  }
  return rows;
}

export function valuesTable(rows: ValueRow[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return ['| Key | Default | Description |', '|---|---|---|', ...rows.map((r) => `| \`${r.key}\` | \`${esc(r.def)}\` | ${esc(r.description)} |`)].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(valuesTable(valueRows(readFileSync(join(REPO, 'charts/longlink/values.yaml'), 'utf8'))));
}
