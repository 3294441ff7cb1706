/**
 * Static checks that the Grafana dashboards import as they are: a data-source
 * variable instead of hard-coded data sources, defined variables only, unique
 * panel ids, a layout inside the 24-column grid, units on every panel. Their
 * queries are evaluated on a real Prometheus in prometheus.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allPanels, dashboards, substitute } from './promql.js';

describe('Grafana dashboards', () => {
  const all = dashboards();

  it('exist', () => {
    assert.ok(all.length > 0, 'no dashboards under infra/grafana');
  });

  for (const { file, dashboard: d } of all) {
    it(`${file} is importable as is`, () => {
      assert.match(d.uid, /^[a-z0-9-]{1,40}$/, 'uid');
      assert.ok(d.title.length > 0);
      assert.ok(d.schemaVersion >= 36, 'schemaVersion');
      const vars = new Map(d.templating.list.map((v) => [v.name, v]));
      assert.equal(vars.get('datasource')?.type, 'datasource', 'a datasource variable');
      assert.equal(vars.get('datasource')?.query, 'prometheus');
      for (const name of ['namespace', 'pod']) {
        const v = vars.get(name);
        assert.ok(v && v.type === 'query' && v.includeAll && v.multi && v.allValue === '.*', `${name}: multi-select query variable with All = .*`);
      }
      const panels = allPanels(d);
      const ids = panels.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
      for (const p of panels) {
        const where = `panel "${p.title}"`;
        assert.ok(p.gridPos.x >= 0 && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24 && p.gridPos.h > 0, `${where}: gridPos`);
        if (p.type === 'row') continue;
        assert.ok(['timeseries', 'stat', 'heatmap', 'gauge', 'bargauge', 'table'].includes(p.type), `${where}: type ${p.type}`);
        assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${where}: uses the datasource variable`);
        assert.ok(p.description && p.description.length > 10, `${where}: description`);
        const unit = p.type === 'heatmap' ? p.options?.yAxis?.unit : p.fieldConfig?.defaults?.unit;
        assert.ok(unit, `${where}: unit`);
        const targets = p.targets ?? [];
        assert.ok(targets.length > 0, `${where}: targets`);
        assert.equal(new Set(targets.map((t) => t.refId)).size, targets.length, `${where}: unique refIds`);
        for (const t of targets) {
          assert.deepEqual(t.datasource, { type: 'prometheus', uid: '${datasource}' }, `${where} ${t.refId}: datasource`);
          // Throws on an undefined variable.
          substitute(t.expr, { namespace: '.*', pod: '.*' }, '1m');
          assert.match(t.expr, /namespace=~"\$namespace"/, `${where} ${t.refId}: filters on $namespace`);
          if (p.type === 'heatmap') assert.equal(t.format, 'heatmap', `${where}: heatmap format`);
        }
      }
      // No panel overlaps another.
      const cells = new Set<string>();
      for (const p of panels) {
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
          for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
            const k = `${x},${y}`;
            assert.ok(!cells.has(k), `panel "${p.title}" overlaps another at ${k}`);
            cells.add(k);
          }
        }
      }
    });
  }
});
