/**
 * The load generator's outputs, as pure functions: the timeline point type,
 * a readable table of the summary, and an SVG chart (no dependencies) with
 * three panels over time: open connections, heartbeat-ack round trip
 * (p50/p95/p99, and the worst event-loop delay of the generator's own
 * workers, to tell its stalls from the server's) and push latency (p50/p95/p99).
 */

export interface Point {
  /** Seconds since the run started. */
  t: number;
  open: number;
  connecting: number;
  waiting: number;
  /** Per second over the sample. */
  openedPerS: number;
  hbPerS: number;
  pushesPerS: number;
  hbP50: number; hbP95: number; hbP99: number;
  pushP50: number; pushP95: number; pushP99: number;
  unexpectedCloses: number;
  failed: number;
  /** Worst event-loop delay of any load-generator worker in the sample (ms). */
  workerLagMs: number;
  /** Worker samples merged into this point, and the oldest one's age on arrival (ms): gaps mean stalled workers. */
  samples: number;
  sampleAgeMs: number;
}

export interface Phase { name: string; from: number; to: number }

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number): string => (Math.abs(v) >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : Math.abs(v) >= 1e4 ? `${Math.round(v / 1e3)}k` : Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10));

/** A "nice" axis maximum ≥ v: 1, 2 or 5 times a power of ten. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const k of [1, 2, 5, 10]) if (k * p >= v) return k * p;
  return 10 * p;
}

export interface Series { label: string; color: string; values: Array<[number, number]> }
/** One chart panel: title, unit, lines. */
export type Panel = [string, string, Series[]];

function panel(y0: number, h: number, x: (t: number) => number, w: number, title: string, unit: string, series: Series[]): string {
  const all = series.flatMap((s) => s.values.map(([, v]) => v)).filter((v) => Number.isFinite(v) && v >= 0);
  const max = niceMax(all.length ? Math.max(...all) : 0);
  const y = (v: number): number => y0 + h - (v / max) * h;
  const out: string[] = [`<text x="60" y="${y0 - 8}" class="t">${esc(title)}</text>`];
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    out.push(`<line x1="60" x2="${60 + w}" y1="${y(v)}" y2="${y(v)}" class="g"/>`, `<text x="54" y="${y(v) + 4}" class="a" text-anchor="end">${fmt(v)}${k === 4 ? ' ' + esc(unit) : ''}</text>`);
  }
  series.forEach((s, i) => {
    // Gaps (no samples: -1) break the line.
    const runs: string[][] = [[]];
    for (const [t, v] of s.values) {
      if (Number.isFinite(v) && v >= 0) runs[runs.length - 1]!.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
      else if (runs[runs.length - 1]!.length > 0) runs.push([]);
    }
    for (const r of runs) if (r.length > 0) out.push(r.length === 1 ? `<circle cx="${r[0]!.split(',')[0]}" cy="${r[0]!.split(',')[1]}" r="1.5" fill="${s.color}"/>` : `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${r.join(' ')}"/>`);
    out.push(`<text x="${60 + w - 10 - (series.length - 1 - i) * 70}" y="${y0 - 8}" class="a" text-anchor="end" style="fill:${s.color}">■ ${esc(s.label)}</text>`);
  });
  return out.join('\n');
}

/** SVG chart of a run's timeline. */
export function renderSvg(points: Point[], o: { title: string; phases?: Phase[]; markers?: Array<{ t: number; label: string }> }): string {
  return renderPanels(timelinePanels(points), { ...o, tMax: Math.max(1, ...points.map((p) => p.t)) });
}

/** The generator's three panels: open connections, heartbeat-ack round trip, push latency. */
export function timelinePanels(points: Point[]): Panel[] {
  return [
    ['Open connections', '', [{ label: 'open', color: '#1f77b4', values: points.map((p) => [p.t, p.open]) }]],
    ['Heartbeat ack round trip', 'ms', [
      { label: 'p50', color: '#2ca02c', values: points.map((p) => [p.t, p.hbP50]) },
      { label: 'p95', color: '#ff7f0e', values: points.map((p) => [p.t, p.hbP95]) },
      { label: 'p99', color: '#d62728', values: points.map((p) => [p.t, p.hbP99]) },
      { label: 'gen. lag', color: '#7f7f7f', values: points.map((p) => [p.t, p.workerLagMs]) }]],
    ['Push latency (pusher → client)', 'ms', [
      { label: 'p50', color: '#2ca02c', values: points.map((p) => [p.t, p.pushP50]) },
      { label: 'p95', color: '#ff7f0e', values: points.map((p) => [p.t, p.pushP95]) },
      { label: 'p99', color: '#d62728', values: points.map((p) => [p.t, p.pushP99]) }]],
  ];
}

/** Panels stacked over one time axis (seconds), phases shaded, markers as dashed lines. */
export function renderPanels(panels: Panel[], o: { title: string; tMax: number; phases?: Phase[]; markers?: Array<{ t: number; label: string }> }): string {
  const W = 960, w = W - 90, H = 170, gap = 50, top = 50;
  const tMax = Math.max(1, o.tMax);
  const x = (t: number): number => 60 + (t / tMax) * w;
  const height = top + panels.length * (H + gap) + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif">`,
    '<style>.t{font-size:13px;font-weight:bold}.a{font-size:11px;fill:#444}.g{stroke:#ddd;stroke-width:1}.p{fill:#000;opacity:.04}</style>',
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    `<text x="60" y="22" class="t" font-size="15">${esc(o.title)}</text>`,
  ];
  panels.forEach(([title, unit, series], i) => {
    const y0 = top + i * (H + gap) + 14;
    for (const [k, ph] of (o.phases ?? []).entries()) {
      if (k % 2 === 0) out.push(`<rect class="p" x="${x(ph.from)}" y="${y0}" width="${Math.max(0, x(ph.to) - x(ph.from))}" height="${H}"/>`);
      if (i === 0) out.push(`<text x="${(x(ph.from) + x(ph.to)) / 2}" y="${y0 + H + 30}" class="a" text-anchor="middle">${esc(ph.name)}</text>`);
    }
    for (const mk of o.markers ?? []) out.push(`<line x1="${x(mk.t)}" x2="${x(mk.t)}" y1="${y0}" y2="${y0 + H}" stroke="#9467bd" stroke-dasharray="4 3"/>`, i === 0 ? `<text x="${x(mk.t) + 3}" y="${y0 + 12}" class="a" style="fill:#9467bd">${esc(mk.label)}</text>` : '');
    out.push(panel(y0, H, x, w, title, unit, series));
    for (let k = 0; k <= 6; k++) {
      const t = (tMax * k) / 6;
      out.push(`<text x="${x(t)}" y="${y0 + H + 14}" class="a" text-anchor="middle">${Math.round(t)} s</text>`);
    }
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Two-column table of label/value rows, grouped under headings. */
export function renderTable(sections: Array<[string, Array<[string, string | number]>]>): string {
  const lines: string[] = [];
  const wl = Math.max(...sections.flatMap(([, rows]) => rows.map(([k]) => k.length)));
  for (const [h, rows] of sections) {
    lines.push('', h, '-'.repeat(h.length));
    for (const [k, v] of rows) lines.push(`  ${k.padEnd(wl)}  ${typeof v === 'number' ? v.toLocaleString('en-US') : v}`);
  }
  return lines.join('\n');
}
